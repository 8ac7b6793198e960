package engine_test

import (
	"path/filepath"
	"testing"

	"github.com/glia-dev/glia/engine"
)

// TestChunkedAttentionMatches: attention over query chunks (long
// sequences whose patterns are not read) gives the logits and activations
// of the one-piece computation (and their gradients), with left padding
// in the batch; reading
// the pattern still works and returns it whole.
func TestChunkedAttentionMatches(t *testing.T) {
	dirs, _ := filepath.Glob("../testdata/hf-tiny/*")
	long := []int32{5, 17, 42, 99, 3, 7, 250, 11, 64, 8, 9, 12}
	short := []int32{0, 0, 0, 0, 9, 33, 21, 4, 7, 7, 2, 1}
	mask := [][]bool{nil, make([]bool, len(short))}
	for i := range mask[1] {
		mask[1][i] = i >= 4
	}
	mask[0] = make([]bool, len(long))
	for i := range mask[0] {
		mask[0][i] = true
	}
	hooks := []string{"blocks.1.mlp.hook_post", "blocks.0.hook_resid_post"}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := engine.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			req := engine.Request{IDs: [][]int32{long, short}, Mask: mask, Hooks: hooks, Grad: &engine.GradTarget{Batch: 1, Pos: 10, Token: 3}}
			whole, err := m.Run(req)
			if err != nil {
				t.Fatal(err)
			}
			if !engine.CPUKernels().Matmul {
				t.Skipf("chunked attention needs glia's matmul: %s", engine.CPUKernels())
			}
			defer engine.SetAttnChunk(5)() // 12 queries: chunks of 5, 5, 2
			m, err = engine.Load(dir)      // a fresh model: compiled graphs are cached per model
			if err != nil {
				t.Fatal(err)
			}
			chunked, err := m.Run(req)
			if err != nil {
				t.Fatal(err)
			}
			worst, _ := maxDiff(chunked.Logits.Data, whole.Logits.Data)
			for _, h := range hooks {
				d, _ := maxDiff(chunked.Acts[h].Data, whole.Acts[h].Data)
				g, _ := maxDiff(chunked.Grads[h].Data, whole.Grads[h].Data)
				worst = max(worst, d, g)
			}
			if worst > 1e-5 {
				t.Errorf("chunked attention differs by %.3g", worst)
			}
			t.Logf("chunked vs whole: max diff %.2g", worst)
			pat := "blocks.0.attn.hook_pattern"
			r, err := m.Run(engine.Request{IDs: [][]int32{long}, Hooks: []string{pat}})
			if err != nil {
				t.Fatal(err)
			}
			if s := r.Acts[pat].Shape; s[2] != len(long) || s[3] != len(long) {
				t.Errorf("pattern shape %v with chunking on", s)
			}
		})
	}
}
