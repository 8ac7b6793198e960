package llama2c

import (
	"encoding/binary"
	"errors"
	"testing"
)

// A header that the file's size does not back is refused before a tensor
// table is built for its layers: 4096 layers in a 64-byte file allocate no
// more than a short file does.
func TestHeaderRefusedBeforeLayout(t *testing.T) {
	file := func(layers int32) []byte {
		b := make([]byte, 64)
		for i, v := range []int32{2, 2, layers, 1, 1, 1, 1} { // dim hidden_dim n_layers n_heads n_kv_heads vocab seq_len
			binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
		}
		return b
	}
	allocs := func(layers int32) float64 {
		return testing.AllocsPerRun(3, func() {
			if _, err := OpenBytes("h.bin", file(layers)); !errors.Is(err, ErrTruncated) {
				t.Fatalf("%d layers: got %v, want ErrTruncated", layers, err)
			}
		})
	}
	if one, many := allocs(1), allocs(maxLayers); many > one+2 {
		t.Fatalf("%v allocations for %d layers, %v for one", many, maxLayers, one)
	}
}
