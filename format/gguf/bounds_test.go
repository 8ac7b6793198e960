package gguf

import (
	"errors"
	"math"
	"testing"
)

// A llama GGUF's sizes and constants are checked as a config.json's are:
// block_count and key_length against the tensors, the norm epsilon and the
// rotary base positive; the error names the GGUF key.
func TestLlamaViewBounds(t *testing.T) {
	ts := []testTensor{
		f32tensor("token_embd.weight", []uint64{4, 5}, seq(20, 0)...),
		f32tensor("blk.0.attn_q.weight", []uint64{4, 4}, seq(16, 100)...),
	}
	for _, tc := range []struct {
		name string
		i    int // index in llamaKV
		v    any
		key  string
	}{
		{"block_count 2^31", 3, uint32(1 << 31), "llama.block_count"},
		{"one block too many", 3, uint32(2), "llama.block_count"},
		{"key_length 2^30", 9, uint32(1 << 30), "llama.attention.key_length"},
		{"key_length 0", 9, uint32(0), "llama.attention.key_length"},
		{"eps -1", 6, float32(-1), "llama.attention.layer_norm_rms_epsilon"},
		{"eps NaN", 6, float32(math.NaN()), "llama.attention.layer_norm_rms_epsilon"},
		{"freq_base 0", 7, float32(0), "llama.rope.freq_base"},
		{"freq_base Inf", 7, math.Inf(1), "llama.rope.freq_base"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := llamaKV("llama")
			kv[tc.i].v = tc.v
			f, err := OpenBytes("b.gguf", encodeGGUF(3, kv, ts))
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = f.Llama()
			var ge *Error
			if !errors.Is(err, ErrFormat) || !errors.As(err, &ge) || ge.Key != tc.key {
				t.Fatalf("got %v, want ErrFormat naming %q", err, tc.key)
			}
		})
	}
}
