package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// sparseHeader writes a GGUF header (after magic and version: tensor count,
// then one metadata key and what follows it) to a file that a sparse
// truncation extends to 8 GiB of zeros, which costs nothing on disk.
func sparseHeader(t *testing.T, nTensors uint64, key string, rest ...any) string {
	t.Helper()
	var b bytes.Buffer
	for _, v := range append([]any{uint32(Magic), uint32(3), nTensors, uint64(1), uint64(len(key)), []byte(key)}, rest...) {
		if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "sparse.gguf")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 8<<30+int64(b.Len())); err != nil {
		t.Fatal(err)
	}
	return p
}

// A header whose counts fit the file's bytes but not memory is refused
// before anything is allocated for it, with an error naming the key.
func TestMetadataMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		nTensors uint64
		rest     []any // after the key: its value type and value
		key      string
	}{
		{"2^30 strings", 0, []any{uint32(TypeArray), uint32(TypeString), uint64(1 << 30)}, "big"},
		{"one 4 GiB string", 0, []any{uint32(TypeString), uint64(4 << 30)}, "big"},
		{"2^31 bytes", 0, []any{uint32(TypeArray), uint32(TypeUint8), uint64(1 << 31)}, "big"},
		{"2^29 arrays of arrays", 0, []any{uint32(TypeArray), uint32(TypeArray), uint64(1 << 29)}, "big"},
		{"2^28 tensor infos", 1 << 28, []any{uint32(TypeUint8), uint8(0)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := sparseHeader(t, tc.nTensors, "big", tc.rest...)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := Open(p)
			runtime.ReadMemStats(&after)
			if err == nil {
				f.Close()
			}
			var ge *Error
			if !errors.Is(err, ErrTooLarge) || !errors.As(err, &ge) || ge.Key != tc.key {
				t.Fatalf("got %v, want ErrTooLarge naming key %q", err, tc.key)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
				t.Errorf("allocated %d MiB before refusing", n>>20)
			}
		})
	}
}
