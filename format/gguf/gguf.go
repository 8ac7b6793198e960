// Package gguf reads GGUF (v2, v3; little-endian) model files: metadata of
// every value type, tensor infos, and tensor data dequantised to float32 on
// demand through an io.ReaderAt.
package gguf

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"sort"

	"github.com/glia-dev/glia/format"
)

// Magic is "GGUF" read as a little-endian uint32.
const Magic = 0x46554747

// DefaultAlignment applies when general.alignment is absent.
const DefaultAlignment = 32

const (
	maxDims       = 4 // GGML_MAX_DIMS
	maxArrayDepth = 8 // nesting limit for arrays of arrays
)

// MaxMetadata bounds the memory the parsed header (metadata and tensor
// infos) may take. Counts are first bounded by the bytes left in the file,
// at each entry's smallest encoding, but that is not enough: a sparse file
// of zeros holds 2^30 empty strings in 8 GB, which take 16 GB as Go strings.
// The largest real vocabularies take a few tens of MiB.
const MaxMetadata = 256 << 20

// What header entries cost in memory beyond their bytes, for the budget.
const (
	stringCost = 16  // a string header
	anyCost    = 48  // an []any element holding a slice
	kvCost     = 64  // a metadata key's map entries and key header
	tensorCost = 256 // a TensorInfo, its slices, map entry and name header
)

// TensorInfo describes one tensor.
type TensorInfo struct {
	Name string
	Type GGMLType
	// Dims is ne as stored: innermost (fastest-varying) first.
	Dims []uint64
	// Shape is the row-major shape (Dims reversed).
	Shape []int
	// Offset is the absolute byte offset of the data; Size its byte length.
	Offset, Size int64
}

// File is an open GGUF file. It is safe for concurrent reads.
type File struct {
	path      string
	r         io.ReaderAt
	closer    io.Closer
	size      int64
	Version   uint32
	Alignment int64
	// DataOffset is where the tensor data section starts.
	DataOffset int64
	kv         map[string]any
	kvTypes    map[string]ValueType
	keys       []string
	tensors    map[string]*TensorInfo
	names      []string
}

// Open opens and parses a GGUF file; tensor data is read on demand.
func Open(path string) (*File, error) {
	f, fh, err := format.OpenFile("gguf", path, ErrFormat, OpenReaderAt)
	if err != nil {
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// OpenBytes parses a GGUF file held in memory.
func OpenBytes(name string, data []byte) (*File, error) {
	return OpenReaderAt(name, bytes.NewReader(data), int64(len(data)))
}

// cursor reads sequentially with bounds checks against the file size.
type cursor struct {
	path   string
	br     *bufio.Reader
	off    int64
	size   int64
	budget int64 // bytes of memory the header may still take (MaxMetadata at first)
	tmp    [8]byte
}

// charge takes count entries of each bytes from the memory budget, at offset
// at; key names the metadata key (empty for keys and tensor infos).
func (c *cursor) charge(count, each uint64, key string, at int64, what string) error {
	if each != 0 && count > uint64(c.budget)/each {
		return keyErr(c.path, key, at, ErrTooLarge, nil, "%s would take %d MiB in memory, more than the %d MiB left of the %d MiB metadata limit",
			what, min(count, math.MaxUint64/each)*each>>20, c.budget>>20, MaxMetadata>>20)
	}
	c.budget -= int64(count * each)
	return nil
}

func (c *cursor) remaining() int64 { return c.size - c.off }

func (c *cursor) need(n int64, what string) error {
	if n < 0 || n > c.remaining() {
		return newErr(c.path, "", c.off, ErrTruncated, nil, "%s needs %d bytes, %d left (file size %d)", what, n, c.remaining(), c.size)
	}
	return nil
}

func (c *cursor) bytes(n int, what string) ([]byte, error) {
	if err := c.need(int64(n), what); err != nil {
		return nil, err
	}
	var b []byte
	if n <= len(c.tmp) {
		b = c.tmp[:n]
	} else {
		b = make([]byte, n)
	}
	if _, err := io.ReadFull(c.br, b); err != nil {
		return nil, newErr(c.path, "", c.off, ErrTruncated, err, "cannot read %s", what)
	}
	c.off += int64(n)
	return b, nil
}

func (c *cursor) u32(what string) (uint32, error) {
	b, err := c.bytes(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (c *cursor) u64(what string) (uint64, error) {
	b, err := c.bytes(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// str reads a string, charging its bytes to the budget on behalf of key.
func (c *cursor) str(key, what string) (string, error) {
	start := c.off
	n, err := c.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(c.remaining()) {
		return "", newErr(c.path, "", start, ErrTruncated, nil, "%s length %d past end of file (%d bytes left)", what, n, c.remaining())
	}
	if err := c.charge(n, 1, key, start, fmt.Sprintf("%s of %d bytes", what, n)); err != nil {
		return "", err
	}
	if n == 0 {
		return "", nil
	}
	b, err := c.bytes(int(n), what)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// OpenReaderAt parses a GGUF file of the given size read through r; name is
// used in errors. Close does not close r.
func OpenReaderAt(name string, r io.ReaderAt, size int64) (*File, error) {
	f := &File{path: name, r: r, size: size, kv: map[string]any{}, kvTypes: map[string]ValueType{}, tensors: map[string]*TensorInfo{}}
	c := &cursor{path: name, br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), size: size, budget: MaxMetadata}
	magic, err := c.u32("magic")
	if err != nil {
		return nil, err
	}
	if magic != Magic {
		return nil, newErr(name, "", 0, ErrFormat, nil, "bad magic %#08x, not a GGUF file", magic)
	}
	ver, err := c.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case ver == 2 || ver == 3:
	case ver&0xffff == 0 && bits.ReverseBytes32(ver) <= 3 && ver != 0:
		return nil, newErr(name, "", 4, ErrUnsupported, nil, "big-endian GGUF (version %d) is not supported", bits.ReverseBytes32(ver))
	default:
		return nil, newErr(name, "", 4, ErrUnsupported, nil, "unsupported GGUF version %d (want 2 or 3)", ver)
	}
	f.Version = ver
	nTensors, err := c.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := c.u64("metadata count")
	if err != nil {
		return nil, err
	}
	// Each KV needs at least 8 (key length) + 4 (type) + 1 bytes; each
	// tensor info at least 8 + 4 + 4 + 8.
	if nKV > uint64(c.remaining())/13 {
		return nil, newErr(name, "", 16, ErrTruncated, nil, "metadata count %d cannot fit in %d bytes", nKV, c.remaining())
	}
	if nTensors > uint64(c.remaining())/24 {
		return nil, newErr(name, "", 8, ErrTruncated, nil, "tensor count %d cannot fit in %d bytes", nTensors, c.remaining())
	}
	if err := c.charge(nTensors, tensorCost, "", 8, fmt.Sprintf("tensor count %d", nTensors)); err != nil {
		return nil, err
	}
	for range nKV {
		at := c.off
		if err := c.charge(1, kvCost, "", at, "metadata key"); err != nil {
			return nil, err
		}
		key, err := c.str("", "metadata key")
		if err != nil {
			return nil, err
		}
		if _, dup := f.kv[key]; dup {
			return nil, keyErr(name, key, at, ErrFormat, nil, "duplicate metadata key")
		}
		vt, err := c.u32("value type")
		if err != nil {
			return nil, err
		}
		v, err := f.readValue(c, key, ValueType(vt), 0)
		if err != nil {
			return nil, err
		}
		f.kv[key] = v
		f.kvTypes[key] = ValueType(vt)
		f.keys = append(f.keys, key)
	}
	sort.Strings(f.keys)
	f.Alignment = DefaultAlignment
	if v, ok := f.kv["general.alignment"]; ok {
		a, isU32 := v.(uint32)
		if !isU32 || a == 0 || a&(a-1) != 0 {
			return nil, keyErr(name, "general.alignment", -1, ErrFormat, nil, "alignment must be a power-of-two uint32, got %v (%s)", v, f.kvTypes["general.alignment"])
		}
		f.Alignment = int64(a)
	}
	infos := make([]*TensorInfo, 0, nTensors)
	for range nTensors {
		at := c.off
		tn, err := c.str("", "tensor name")
		if err != nil {
			return nil, err
		}
		if _, dup := f.tensors[tn]; dup {
			return nil, newErr(name, tn, at, ErrFormat, nil, "duplicate tensor name")
		}
		nd, err := c.u32("n_dims")
		if err != nil {
			return nil, err
		}
		if nd > maxDims {
			return nil, newErr(name, tn, at, ErrFormat, nil, "n_dims %d exceeds %d", nd, maxDims)
		}
		ti := &TensorInfo{Name: tn, Dims: make([]uint64, nd), Shape: make([]int, nd)}
		for j := range nd {
			d, err := c.u64("dimension")
			if err != nil {
				return nil, err
			}
			if d > math.MaxInt64 {
				return nil, newErr(name, tn, at, ErrFormat, nil, "dimension %d is negative as int64", d)
			}
			ti.Dims[j] = d
			ti.Shape[int(nd)-1-int(j)] = int(d)
		}
		typ, err := c.u32("tensor type")
		if err != nil {
			return nil, err
		}
		ti.Type = GGMLType(typ)
		rel, err := c.u64("tensor offset")
		if err != nil {
			return nil, err
		}
		if !ti.Type.Known() {
			return nil, newErr(name, tn, at, ErrUnsupported, nil, "unknown tensor type %d", typ)
		}
		// Byte size with overflow checks.
		bs := uint64(ti.Type.BlockSize())
		numel := uint64(1)
		for _, d := range ti.Dims {
			if d != 0 && numel > math.MaxInt64/8/d {
				return nil, newErr(name, tn, at, ErrFormat, nil, "shape %v overflows", ti.Shape)
			}
			numel *= d
		}
		if nd > 0 && ti.Dims[0]%bs != 0 {
			return nil, newErr(name, tn, at, ErrFormat, nil, "row length %d is not a multiple of the %s block size %d", ti.Dims[0], ti.Type, bs)
		}
		if numel%bs != 0 {
			return nil, newErr(name, tn, at, ErrFormat, nil, "element count %d is not a multiple of the %s block size %d", numel, ti.Type, bs)
		}
		sz := numel / bs * uint64(ti.Type.TypeSize()) // TypeSize/BlockSize ≤ 8, so no overflow
		if rel%uint64(f.Alignment) != 0 {
			return nil, newErr(name, tn, at, ErrFormat, nil, "data offset %d is not a multiple of alignment %d", rel, f.Alignment)
		}
		if rel > math.MaxInt64/2 {
			return nil, newErr(name, tn, at, ErrTruncated, nil, "data offset %d past end of file (size %d)", rel, size)
		}
		ti.Offset = int64(rel)
		ti.Size = int64(sz)
		f.tensors[tn] = ti
		infos = append(infos, ti)
	}
	f.DataOffset = (c.off + f.Alignment - 1) / f.Alignment * f.Alignment
	for _, ti := range infos {
		ti.Offset += f.DataOffset
		if ti.Offset > size || ti.Size > size-ti.Offset {
			return nil, newErr(name, ti.Name, ti.Offset, ErrTruncated, nil,
				"data range [%d,%d) past end of file (size %d)", ti.Offset, ti.Offset+ti.Size, size)
		}
	}
	byStart := slices.Clone(infos)
	slices.SortFunc(byStart, func(a, b *TensorInfo) int {
		if a.Offset != b.Offset {
			if a.Offset < b.Offset {
				return -1
			}
			return 1
		}
		return int(a.Size - b.Size)
	})
	var prev *TensorInfo
	for _, ti := range byStart {
		if ti.Size == 0 {
			continue
		}
		if prev != nil && ti.Offset < prev.Offset+prev.Size {
			return nil, newErr(name, ti.Name, ti.Offset, ErrFormat, nil, "data overlaps tensor %q", prev.Name)
		}
		prev = ti
	}
	for n := range f.tensors {
		f.names = append(f.names, n)
	}
	sort.Strings(f.names)
	return f, nil
}

func (f *File) readValue(c *cursor, key string, vt ValueType, depth int) (any, error) {
	at := c.off
	if sz := vt.size(); sz > 0 {
		b, err := c.bytes(sz, "value of "+key)
		if err != nil {
			return nil, err
		}
		return decodeScalar(vt, b), nil
	}
	switch vt {
	case TypeString:
		if err := c.charge(1, stringCost, key, at, "string"); err != nil {
			return nil, err
		}
		return c.str(key, "string value")
	case TypeArray:
		if depth >= maxArrayDepth {
			return nil, keyErr(f.path, key, at, ErrFormat, nil, "arrays nested deeper than %d", maxArrayDepth)
		}
		et, err := c.u32("array element type")
		if err != nil {
			return nil, err
		}
		n, err := c.u64("array length")
		if err != nil {
			return nil, err
		}
		elem := ValueType(et)
		minSize := uint64(elem.size())
		switch elem {
		case TypeString:
			minSize = 8
		case TypeArray:
			minSize = 12
		}
		if minSize == 0 {
			return nil, keyErr(f.path, key, at, ErrFormat, nil, "unknown array element type %d", et)
		}
		if n > uint64(c.remaining())/minSize {
			return nil, keyErr(f.path, key, at, ErrTruncated, nil, "array of %d %s past end of file (%d bytes left)", n, elem, c.remaining())
		}
		cost := minSize // scalars: their bytes
		switch elem {
		case TypeString:
			cost = stringCost // headers; the bytes are charged as read
		case TypeArray:
			cost = anyCost
		}
		if err := c.charge(n, cost, key, at, fmt.Sprintf("array of %d %s", n, elem)); err != nil {
			return nil, err
		}
		return f.readArray(c, key, elem, int(n), depth)
	}
	return nil, keyErr(f.path, key, at, ErrFormat, nil, "unknown value type %d", uint32(vt))
}

func decodeScalar(vt ValueType, b []byte) any {
	le := binary.LittleEndian
	switch vt {
	case TypeUint8:
		return b[0]
	case TypeInt8:
		return int8(b[0])
	case TypeBool:
		return b[0] != 0
	case TypeUint16:
		return le.Uint16(b)
	case TypeInt16:
		return int16(le.Uint16(b))
	case TypeUint32:
		return le.Uint32(b)
	case TypeInt32:
		return int32(le.Uint32(b))
	case TypeFloat32:
		return math.Float32frombits(le.Uint32(b))
	case TypeUint64:
		return le.Uint64(b)
	case TypeInt64:
		return int64(le.Uint64(b))
	case TypeFloat64:
		return math.Float64frombits(le.Uint64(b))
	}
	return nil
}

// readArray returns a typed slice ([]uint8 ... []string) or, for arrays of
// arrays, []any of such slices.
func (f *File) readArray(c *cursor, key string, elem ValueType, n, depth int) (any, error) {
	if sz := elem.size(); sz > 0 {
		raw, err := c.bytes(n*sz, "array "+key)
		if err != nil {
			return nil, err
		}
		le := binary.LittleEndian
		switch elem {
		case TypeUint8:
			return slices.Clone(raw), nil
		case TypeInt8:
			out := make([]int8, n)
			for i := range out {
				out[i] = int8(raw[i])
			}
			return out, nil
		case TypeBool:
			out := make([]bool, n)
			for i := range out {
				out[i] = raw[i] != 0
			}
			return out, nil
		case TypeUint16:
			out := make([]uint16, n)
			for i := range out {
				out[i] = le.Uint16(raw[2*i:])
			}
			return out, nil
		case TypeInt16:
			out := make([]int16, n)
			for i := range out {
				out[i] = int16(le.Uint16(raw[2*i:]))
			}
			return out, nil
		case TypeUint32:
			out := make([]uint32, n)
			for i := range out {
				out[i] = le.Uint32(raw[4*i:])
			}
			return out, nil
		case TypeInt32:
			out := make([]int32, n)
			for i := range out {
				out[i] = int32(le.Uint32(raw[4*i:]))
			}
			return out, nil
		case TypeFloat32:
			out := make([]float32, n)
			for i := range out {
				out[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
			}
			return out, nil
		case TypeUint64:
			out := make([]uint64, n)
			for i := range out {
				out[i] = le.Uint64(raw[8*i:])
			}
			return out, nil
		case TypeInt64:
			out := make([]int64, n)
			for i := range out {
				out[i] = int64(le.Uint64(raw[8*i:]))
			}
			return out, nil
		case TypeFloat64:
			out := make([]float64, n)
			for i := range out {
				out[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
			}
			return out, nil
		}
	}
	switch elem {
	case TypeString:
		out := make([]string, n)
		for i := range out {
			s, err := c.str(key, "string in array "+key)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case TypeArray:
		out := make([]any, n)
		for i := range out {
			v, err := f.readValue(c, key, TypeArray, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return nil, keyErr(f.path, key, c.off, ErrFormat, nil, "unknown array element type %d", uint32(elem))
}

// Path is the name the file was opened with.
func (f *File) Path() string { return f.path }

// Close releases the file opened by Open.
func (f *File) Close() error {
	if f.closer != nil {
		cl := f.closer
		f.closer = nil
		return cl.Close()
	}
	return nil
}

// Names lists the tensors (GGUF names), sorted.
func (f *File) Names() []string { return slices.Clone(f.names) }

// Shape returns a tensor's row-major shape (ne reversed).
func (f *File) Shape(name string) ([]int, bool) {
	t, ok := f.tensors[name]
	if !ok {
		return nil, false
	}
	return slices.Clone(t.Shape), true
}

// Tensor returns a copy of a tensor's info.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	t, ok := f.tensors[name]
	if !ok {
		return TensorInfo{}, false
	}
	c := *t
	c.Dims = slices.Clone(t.Dims)
	c.Shape = slices.Clone(t.Shape)
	return c, true
}
