package engine_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/engine/cpu/sgemm"
	"github.com/glia-dev/glia/internal/testenv"
	"github.com/gomlx/compute/dtypes"
)

// TestPinnedWeights: a loaded model's weight matrices are packed once and
// reused by later forwards (sgemm.Pin), with the logits and a cached hook
// of a model whose weights are packed on every product, bit for bit; after
// SetDType to bf16 and back, the new weights are pinned afresh.
//
// It runs in a child process with GLIA_KERNELS=glia, so that a CPU with
// full-width AVX-512 does not leave compute's matmul in place of glia's.
func TestPinnedWeights(t *testing.T) {
	if os.Getenv("GLIA_KERNELS") != "glia" {
		out := testenv.Child(t, "TestPinnedWeights", "GLIA_KERNELS=glia")
		if strings.Contains(out, "--- SKIP: TestPinnedWeights") {
			t.Skipf("child skipped:\n%s", out)
		}
		if !strings.Contains(out, "--- PASS: TestPinnedWeights") {
			t.Fatalf("child:\n%s", out)
		}
		return
	}
	if _, err := engine.Backend(); err != nil {
		t.Fatal(err)
	}
	if !engine.CPUKernels().Matmul { // a CPU without AVX2+FMA, or nokernels
		t.Skip("glia's matmul is not installed: " + engine.CPUKernels().Skipped)
	}
	cfg := map[string]any{"model_type": "gpt2", "n_layer": 2, "n_embd": 128, "n_head": 4, "n_inner": 512,
		"vocab_size": 300, "n_positions": 64, "activation_function": "gelu_new"}
	ids := make([][]int32, 2)
	for i := range ids {
		for j := range 24 {
			ids[i] = append(ids[i], int32((i*31+j*17)%300))
		}
	}
	req := engine.Request{IDs: ids, Hooks: []string{"blocks.1.mlp.hook_post"}}
	run := func(m *engine.Model) *engine.Result {
		t.Helper()
		r, err := m.Run(req)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	budget := sgemm.PinBudget
	sgemm.PinBudget = 0 // nothing packed for keeps: every product packs
	plain, err := engine.RandomModel("plain", cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := run(plain)
	sgemm.PinBudget = budget
	m, err := engine.RandomModel("pinned", cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	run(m) // packs
	h := sgemm.PinHits()
	got := run(m)
	// Per layer c_attn, c_proj, c_fc, mlp c_proj (≥ 16K floats each).
	if n := sgemm.PinHits() - h; n < 8 {
		t.Fatalf("%d products used packed weights, want at least 8", n)
	}
	for name, pair := range map[string][2][]float32{"logits": {want.Logits.Data, got.Logits.Data},
		"blocks.1.mlp.hook_post": {want.Acts["blocks.1.mlp.hook_post"].Data, got.Acts["blocks.1.mlp.hook_post"].Data}} {
		a, b := pair[0], pair[1]
		if len(a) == 0 || !slices.Equal(a, b) {
			t.Fatalf("%s: pinned weights give other values (%d, %d values)", name, len(a), len(b))
		}
	}
	if err := m.SetDType(dtypes.BFloat16); err != nil {
		t.Fatal(err)
	}
	if err := m.SetDType(dtypes.Float32); err != nil {
		t.Fatal(err)
	}
	run(m)
	h = sgemm.PinHits()
	run(m)
	if sgemm.PinHits() == h {
		t.Fatal("weights converted back to float32 are not pinned")
	}
}
