package llama2c

import (
	"testing"

	"github.com/glia-dev/glia/format/internal/formattest"
)

func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, v := range []int{0, 1} {
		for _, shared := range []bool{true, false} {
			p := Params{Dim: 4, HiddenDim: 3, NLayers: 1, NHeads: 2, NKVHeads: 1, VocabSize: 3, SeqLen: 2, Version: v, SharedClassifier: shared}
			file, _ := synth(p)
			seeds = append(seeds, file, file[:len(file)-5], file[:20])
		}
	}
	return seeds
}

func FuzzLlama2C(f *testing.F) {
	open := func(data []byte) (*Checkpoint, error) { return OpenBytes("fuzz.bin", data) }
	formattest.Fuzz(f, fuzzSeeds(), open, func(t *testing.T, data []byte, c *Checkpoint) {
		// A valid checkpoint's tensors exactly fill the file, so every read
		// allocates at most the file size; read them all.
		total := 0
		for _, n := range c.Names() {
			shape, ok := c.Shape(n)
			if !ok {
				t.Fatalf("%q listed without shape", n)
			}
			d, err := c.Float32(n)
			if err != nil {
				t.Fatalf("%q: %v", n, err)
			}
			numel := 1
			for _, x := range shape {
				numel *= x
			}
			if numel != len(d) {
				t.Fatalf("%q: %d values for shape %v", n, len(d), shape)
			}
			total += 4 * len(d)
		}
		if total > len(data) {
			t.Fatalf("read %d bytes of weights from a %d-byte file", total, len(data))
		}
		cfg := c.Config()
		if cfg["hidden_size"].(int)%cfg["num_attention_heads"].(int) != 0 {
			t.Fatal("inconsistent config")
		}
	})
}

// TestWriteFuzzSeeds regenerates the committed seed corpus when
// GLIA_WRITE_FUZZ_SEEDS=1 is set; otherwise it is skipped.
func TestWriteFuzzSeeds(t *testing.T) { formattest.WriteFuzzSeeds(t, "FuzzLlama2C", fuzzSeeds()) }
