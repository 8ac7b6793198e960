package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// Tensor is one float32 tensor to write.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// header builds the JSON header, padded with spaces to a multiple of 8 bytes.
func header(name string, tensors []Tensor, metadata map[string]string) ([]byte, error) {
	var b bytes.Buffer
	enc := func(v any) error {
		var tmp bytes.Buffer
		e := json.NewEncoder(&tmp)
		e.SetEscapeHTML(false)
		if err := e.Encode(v); err != nil {
			return err
		}
		b.Write(bytes.TrimRight(tmp.Bytes(), "\n"))
		return nil
	}
	b.WriteByte('{')
	first := true
	if len(metadata) > 0 {
		b.WriteString(`"__metadata__":`)
		if err := enc(metadata); err != nil {
			return nil, newErr(name, "", -1, ErrWrite, err, "cannot encode metadata")
		}
		first = false
	}
	seen := map[string]bool{}
	var off int64
	for _, t := range tensors {
		if t.Name == "__metadata__" {
			return nil, newErr(name, t.Name, -1, ErrWrite, nil, "invalid tensor name")
		}
		if seen[t.Name] {
			return nil, newErr(name, t.Name, -1, ErrWrite, nil, "duplicate tensor name")
		}
		seen[t.Name] = true
		numel := int64(1)
		for _, d := range t.Shape {
			if d < 0 {
				return nil, newErr(name, t.Name, -1, ErrWrite, nil, "negative dimension in shape %v", t.Shape)
			}
			if d != 0 && numel > math.MaxInt64/4/int64(d) {
				return nil, newErr(name, t.Name, -1, ErrWrite, nil, "shape %v overflows", t.Shape)
			}
			numel *= int64(d)
		}
		if numel != int64(len(t.Data)) {
			return nil, newErr(name, t.Name, -1, ErrShape, nil, "shape %v has %d elements, data has %d", t.Shape, numel, len(t.Data))
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		if err := enc(t.Name); err != nil {
			return nil, newErr(name, t.Name, -1, ErrWrite, err, "cannot encode name")
		}
		b.WriteString(`:{"dtype":"F32","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		end := off + 4*numel
		b.WriteString(`],"data_offsets":[`)
		b.WriteString(strconv.FormatInt(off, 10))
		b.WriteByte(',')
		b.WriteString(strconv.FormatInt(end, 10))
		b.WriteString(`]}`)
		off = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes(), nil
}

// WriteTo streams an F32 safetensors file to w, tensors in the given order,
// and returns the number of bytes written.
func WriteTo(w io.Writer, tensors []Tensor, metadata map[string]string) (int64, error) {
	return writeTo("<writer>", w, tensors, metadata)
}

func writeTo(name string, w io.Writer, tensors []Tensor, metadata map[string]string) (int64, error) {
	hdr, err := header(name, tensors, metadata)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var n int64
	var lb [8]byte
	binary.LittleEndian.PutUint64(lb[:], uint64(len(hdr)))
	bw.Write(lb[:])
	bw.Write(hdr)
	n += 8 + int64(len(hdr))
	var chunk [4096]byte
	for _, t := range tensors {
		for i := 0; i < len(t.Data); i += len(chunk) / 4 {
			k := min(len(chunk)/4, len(t.Data)-i)
			for j := range k {
				binary.LittleEndian.PutUint32(chunk[4*j:], math.Float32bits(t.Data[i+j]))
			}
			if _, err := bw.Write(chunk[:4*k]); err != nil {
				return n, newErr(name, t.Name, n, ErrWrite, err, "write failed")
			}
			n += int64(4 * k)
		}
	}
	if err := bw.Flush(); err != nil {
		return n, newErr(name, "", n, ErrWrite, err, "write failed")
	}
	return n, nil
}

// Write writes an F32 safetensors file atomically: it streams to a temporary
// file in the same directory, syncs it, and renames it over path.
func Write(path string, tensors []Tensor, metadata map[string]string) (err error) {
	// Validate before touching the disk.
	if _, err := header(path, tensors, metadata); err != nil {
		return err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return newErr(path, "", -1, ErrWrite, err, "cannot create temporary file")
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = writeTo(path, tmp, tensors, metadata); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return newErr(path, "", -1, ErrWrite, err, "sync failed")
	}
	if err = tmp.Chmod(0o644); err != nil {
		return newErr(path, "", -1, ErrWrite, err, "chmod failed")
	}
	if err = tmp.Close(); err != nil {
		return newErr(path, "", -1, ErrWrite, err, "close failed")
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return newErr(path, "", -1, ErrWrite, err, "rename failed")
	}
	return nil
}
