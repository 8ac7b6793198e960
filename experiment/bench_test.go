package experiment

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/glia-dev/glia/engine"
)

// TestSweepTiming times a full layer × position resid_pre sweep of a random
// GPT-2-small-shaped model at 32 tokens, batched, against one forward per
// cell. Run with GLIA_PATCH_BENCH=1 (optionally GLIA_PATCH_BATCH=N).
func TestSweepTiming(t *testing.T) {
	if os.Getenv("GLIA_PATCH_BENCH") == "" {
		t.Skip("set GLIA_PATCH_BENCH=1")
	}
	batch := 32
	if v, err := strconv.Atoi(os.Getenv("GLIA_PATCH_BATCH")); err == nil {
		batch = v
	}
	cfg := map[string]any{"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12, "n_inner": 3072,
		"vocab_size": 50257, "n_positions": 1024, "activation_function": "gelu_new"}
	m, err := engine.RandomModel("gpt2-small-shape", cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	const T = 32
	clean, corrupt := make([]int32, T), make([]int32, T)
	for i := range T {
		clean[i] = int32((i*7919 + 11) % 50257)
		corrupt[i] = clean[i]
	}
	corrupt[5], corrupt[20] = 4242, 777
	p := Pair{Clean: clean, Corrupt: corrupt, A: 100, B: 200}

	// Naive: one batch-1 forward per cell. Time a few cells before and a
	// few after the sweep (the machine is shared: load drifts): the first
	// run of each includes building and compiling its graph; a repeat does
	// not.
	var first, again time.Duration
	probes := 0
	probe := func(ks ...int) {
		for _, k := range ks {
			l, pos := k%12, (7*k+3)%T
			h := fmt.Sprintf("blocks.%d.hook_resid_pre", l)
			base, err := m.Run(engine.Request{IDs: [][]int32{clean}, Hooks: []string{h}, NoLogits: true})
			if err != nil {
				t.Fatal(err)
			}
			mask := make([]bool, T*768)
			for j := pos * 768; j < (pos+1)*768; j++ {
				mask[j] = true
			}
			iv := setRows(h, 1, 768, mask, base.Acts[h].Data, 1)
			t0 := time.Now()
			if _, err := m.Run(engine.Request{IDs: [][]int32{corrupt}, Interventions: []engine.Intervention{iv}}); err != nil {
				t.Fatal(err)
			}
			first += time.Since(t0)
			t0 = time.Now()
			if _, err := m.Run(engine.Request{IDs: [][]int32{corrupt}, Interventions: []engine.Intervention{iv}}); err != nil {
				t.Fatal(err)
			}
			again += time.Since(t0)
			probes++
		}
	}
	probe(0, 5, 10)
	cells := 12 * T

	t0 := time.Now()
	r, err := Sweep(m, []Pair{p}, PatchOptions{Kind: "resid_pre", Per: "pos", Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	batched := time.Since(t0)
	probe(2, 7, 11)
	naiveCompiled := first / time.Duration(probes) * time.Duration(cells)
	naiveForward := again / time.Duration(probes) * time.Duration(cells)
	t.Logf("GPT-2-small shape (random weights), %d tokens, resid_pre layer x position = %d cells", T, cells)
	t.Logf("batched sweep: %d rows (%d cells skipped: before the prompts differ) in %d forwards of up to %d rows, +1 clean/corrupt pass: %.1fs", r.Rows, r.Skipped, r.Forwards, batch, batched.Seconds())
	t.Logf("naive, one forward per cell: %.2fs/cell with graph build+compile, %.2fs/cell forward only (measured on %d cells, half before and half after the sweep)",
		first.Seconds()/float64(probes), again.Seconds()/float64(probes), probes)
	t.Logf("naive extrapolated to %d cells: %.0fs (with compile), %.0fs (forward only)", cells, naiveCompiled.Seconds(), naiveForward.Seconds())
	t.Logf("ratio naive/batched: %.2fx (with compile), %.2fx (forward only)", naiveCompiled.Seconds()/batched.Seconds(), naiveForward.Seconds()/batched.Seconds())
}
