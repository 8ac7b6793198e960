// Package safetensors reads and writes Hugging Face safetensors files: an
// 8-byte little-endian header length, a JSON header, then raw tensor bytes.
// Tensors are read on demand through an io.ReaderAt.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"slices"
	"sort"
	"unsafe"

	"github.com/glia-dev/glia/format"
)

// MaxHeaderSize bounds the JSON header (the reference implementation uses
// the same 100 MB limit).
const MaxHeaderSize = 100 << 20

// Info describes one tensor of a file.
type Info struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are the absolute byte range in the file.
	Begin, End int64
}

// File is an open safetensors file. It is safe for concurrent reads.
type File struct {
	path     string
	r        io.ReaderAt
	closer   io.Closer
	size     int64
	metadata map[string]string
	infos    map[string]*Info
	names    []string
}

var _ format.TensorSource = (*File)(nil)

// Open opens and validates a safetensors file. Tensor data is not read.
// Validation: header length within the file (and at most MaxHeaderSize),
// a JSON object header with unique names, known dtypes, non-negative shapes
// whose byte size equals the data_offsets range, ranges inside the data
// section and not overlapping (gaps between ranges are tolerated).
func Open(path string) (*File, error) {
	f, fh, err := format.OpenFile("safetensors", path, ErrFormat, OpenReaderAt)
	if err != nil {
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// OpenBytes parses a safetensors file held in memory; name is used in errors.
func OpenBytes(name string, data []byte) (*File, error) {
	return OpenReaderAt(name, bytes.NewReader(data), int64(len(data)))
}

// OpenReaderAt parses a safetensors file of the given size read through r.
// name is used in error messages. Close does not close r.
func OpenReaderAt(name string, r io.ReaderAt, size int64) (*File, error) {
	f := &File{path: name, r: r, size: size, metadata: map[string]string{}, infos: map[string]*Info{}}
	if size < 8 {
		return nil, newErr(name, "", 0, ErrTruncated, nil, "file is %d bytes, shorter than the 8-byte header length", size)
	}
	var lb [8]byte
	if _, err := r.ReadAt(lb[:], 0); err != nil {
		return nil, newErr(name, "", 0, ErrTruncated, err, "cannot read header length")
	}
	hl := binary.LittleEndian.Uint64(lb[:])
	if hl > uint64(size-8) {
		return nil, newErr(name, "", 8, ErrTruncated, nil, "header length %d past end of file (size %d)", hl, size)
	}
	if hl > MaxHeaderSize {
		return nil, newErr(name, "", 8, ErrFormat, nil, "header length %d exceeds limit %d", hl, MaxHeaderSize)
	}
	hdr := make([]byte, hl)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, newErr(name, "", 8, ErrTruncated, err, "cannot read %d-byte header", hl)
	}
	dataStart := 8 + int64(hl)
	if err := f.parseHeader(hdr, dataStart); err != nil {
		return nil, err
	}
	return f, nil
}

type rawInfo struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

func (f *File) parseHeader(hdr []byte, dataStart int64) error {
	name := f.path
	bad := func(tensor string, cause error, format string, args ...any) error {
		return newErr(name, tensor, 8, ErrFormat, cause, format, args...)
	}
	trimmed := bytes.TrimLeft(hdr, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return bad("", nil, "header is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return bad("", err, "invalid JSON header")
	}
	dataSize := f.size - dataStart
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad("", err, "invalid JSON header")
		}
		key, ok := tok.(string)
		if !ok {
			return bad("", nil, "invalid JSON header key")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return bad(key, err, "invalid JSON header")
		}
		if key == "__metadata__" {
			if seenMeta {
				return bad("", nil, "duplicate __metadata__")
			}
			seenMeta = true
			if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
				continue
			}
			var m map[string]string
			if err := json.Unmarshal(raw, &m); err != nil {
				return bad("", err, "__metadata__ must map strings to strings")
			}
			f.metadata = m
			continue
		}
		if _, dup := f.infos[key]; dup {
			return bad(key, nil, "duplicate tensor name")
		}
		var ri rawInfo
		if err := json.Unmarshal(raw, &ri); err != nil {
			return bad(key, err, "invalid tensor entry")
		}
		if ri.DType == nil || ri.Shape == nil || ri.DataOffsets == nil {
			return bad(key, nil, "tensor entry needs dtype, shape and data_offsets")
		}
		dt := DType(*ri.DType)
		if !dt.Known() {
			return newErr(name, key, 8, ErrDType, nil, "unknown dtype %q", *ri.DType)
		}
		offs := *ri.DataOffsets
		if len(offs) != 2 {
			return bad(key, nil, "data_offsets has %d entries, want 2", len(offs))
		}
		begin, end := offs[0], offs[1]
		if begin < 0 || end < begin {
			return bad(key, nil, "invalid data_offsets [%d,%d)", begin, end)
		}
		if end > dataSize {
			return newErr(name, key, dataStart+begin, ErrTruncated, nil,
				"data range [%d,%d) past end of file (data section is %d bytes, file size %d)", begin, end, dataSize, f.size)
		}
		shape := make([]int, len(*ri.Shape))
		for i, d := range *ri.Shape {
			if d < 0 {
				return newErr(name, key, 8, ErrShape, nil, "negative dimension %d in shape %v", d, *ri.Shape)
			}
			shape[i] = int(d)
		}
		numel := int64(1)
		if slices.Contains(*ri.Shape, 0) {
			numel = 0
		} else {
			for _, d := range *ri.Shape {
				if numel > math.MaxInt64/64/d {
					return newErr(name, key, 8, ErrShape, nil, "shape %v overflows", *ri.Shape)
				}
				numel *= d
			}
		}
		bits := int64(dt.Bits())
		if numel*bits%8 != 0 {
			return newErr(name, key, 8, ErrShape, nil, "shape %v of %s does not fill whole bytes", shape, dt)
		}
		if want := numel * bits / 8; want != end-begin {
			return newErr(name, key, dataStart+begin, ErrShape, nil,
				"shape %v of %s needs %d bytes, data range [%d,%d) holds %d", shape, dt, want, begin, end, end-begin)
		}
		f.infos[key] = &Info{Name: key, DType: dt, Shape: shape, Begin: dataStart + begin, End: dataStart + end}
	}
	if _, err := dec.Token(); err != nil {
		return bad("", err, "invalid JSON header")
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("", nil, "trailing data after JSON header")
	}
	// Ranges must not overlap.
	byStart := make([]*Info, 0, len(f.infos))
	for _, in := range f.infos {
		if in.End > in.Begin {
			byStart = append(byStart, in)
		}
	}
	sort.Slice(byStart, func(i, j int) bool {
		if byStart[i].Begin != byStart[j].Begin {
			return byStart[i].Begin < byStart[j].Begin
		}
		return byStart[i].Name < byStart[j].Name
	})
	for i := 1; i < len(byStart); i++ {
		if byStart[i].Begin < byStart[i-1].End {
			return newErr(name, byStart[i].Name, byStart[i].Begin, ErrFormat, nil,
				"data range [%d,%d) overlaps tensor %q", byStart[i].Begin-dataStart, byStart[i].End-dataStart, byStart[i-1].Name)
		}
	}
	f.names = make([]string, 0, len(f.infos))
	for n := range f.infos {
		f.names = append(f.names, n)
	}
	sort.Strings(f.names)
	return nil
}

// Path is the name the file was opened with.
func (f *File) Path() string { return f.path }

// Names lists the tensors, sorted.
func (f *File) Names() []string { return slices.Clone(f.names) }

// Shape returns a tensor's dimensions.
func (f *File) Shape(name string) ([]int, bool) {
	in, ok := f.infos[name]
	if !ok {
		return nil, false
	}
	return slices.Clone(in.Shape), true
}

// DType returns a tensor's element type.
func (f *File) DType(name string) (DType, bool) {
	in, ok := f.infos[name]
	if !ok {
		return "", false
	}
	return in.DType, true
}

// Info returns a copy of a tensor's description.
func (f *File) Info(name string) (Info, bool) {
	in, ok := f.infos[name]
	if !ok {
		return Info{}, false
	}
	c := *in
	c.Shape = slices.Clone(in.Shape)
	return c, true
}

// Metadata returns a copy of the __metadata__ map (empty when absent).
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.metadata))
	for k, v := range f.metadata {
		m[k] = v
	}
	return m
}

// Close releases the file opened by Open. It is a no-op for OpenReaderAt.
func (f *File) Close() error {
	if f.closer != nil {
		c := f.closer
		f.closer = nil
		return c.Close()
	}
	return nil
}

func (f *File) lookup(name string) (*Info, error) {
	in, ok := f.infos[name]
	if !ok {
		return nil, newErr(f.path, name, -1, ErrNotFound, nil, "no such tensor")
	}
	return in, nil
}

const chunkBytes = 1 << 20

// Float32 reads one tensor and converts F32, F16, BF16, F64, F8_E4M3 and
// F8_E5M2 to float32. Other dtypes are an ErrDType error.
func (f *File) Float32(name string) ([]float32, error) {
	in, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	if !in.DType.IsFloat() {
		return nil, newErr(f.path, name, in.Begin, ErrDType, nil, "dtype %s is not a floating-point type", in.DType)
	}
	n := int((in.End - in.Begin) * 8 / int64(in.DType.Bits()))
	out := make([]float32, n)
	if n == 0 {
		return out, nil
	}
	if in.DType == F32 && format.NativeLittle {
		buf := unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 4*n)
		if err := f.readAt(name, buf, in.Begin); err != nil {
			return nil, err
		}
		return out, nil
	}
	es := in.DType.Bits() / 8
	per := chunkBytes / es
	buf := make([]byte, min(n, per)*es)
	for i := 0; i < n; i += per {
		k := min(per, n-i)
		b := buf[:k*es]
		off := in.Begin + int64(i*es)
		if err := f.readAt(name, b, off); err != nil {
			return nil, err
		}
		convert(in.DType, out[i:i+k], b)
	}
	return out, nil
}

// Int64s reads an integer or BOOL tensor widened to int64. U64 values above
// MaxInt64 are an error.
func (f *File) Int64s(name string) ([]int64, error) {
	in, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	if !in.DType.IsInt() {
		return nil, newErr(f.path, name, in.Begin, ErrDType, nil, "dtype %s is not an integer type", in.DType)
	}
	es := in.DType.Bits() / 8
	n := int((in.End - in.Begin) / int64(es))
	out := make([]int64, n)
	per := chunkBytes / es
	buf := make([]byte, min(n, per)*es)
	le := binary.LittleEndian
	for i := 0; i < n; i += per {
		k := min(per, n-i)
		b := buf[:k*es]
		off := in.Begin + int64(i*es)
		if err := f.readAt(name, b, off); err != nil {
			return nil, err
		}
		for j := range k {
			var v int64
			switch in.DType {
			case BOOL, U8:
				v = int64(b[j])
			case I8:
				v = int64(int8(b[j]))
			case I16:
				v = int64(int16(le.Uint16(b[2*j:])))
			case U16:
				v = int64(le.Uint16(b[2*j:]))
			case I32:
				v = int64(int32(le.Uint32(b[4*j:])))
			case U32:
				v = int64(le.Uint32(b[4*j:]))
			case I64:
				v = int64(le.Uint64(b[8*j:]))
			case U64:
				u := le.Uint64(b[8*j:])
				if u > math.MaxInt64 {
					return nil, newErr(f.path, name, off+int64(8*j), ErrDType, nil, "U64 value %d overflows int64", u)
				}
				v = int64(u)
			}
			out[i+j] = v
		}
	}
	return out, nil
}

// ReadRaw reads a tensor's bytes as stored (little-endian).
func (f *File) ReadRaw(name string) ([]byte, error) {
	in, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	b := make([]byte, in.End-in.Begin)
	if err := f.readAt(name, b, in.Begin); err != nil {
		return nil, err
	}
	return b, nil
}

func (f *File) readAt(name string, b []byte, off int64) error {
	if err := format.ReadFullAt(f.r, b, off); err != nil {
		return newErr(f.path, name, off, ErrTruncated, err, "short read of %d bytes", len(b))
	}
	return nil
}
