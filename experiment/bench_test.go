package experiment

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"syscall"
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

// TestPathSweepTiming times the whole head-to-head sweep of stories260K
// (32 senders × 64 receiver inputs, 4 pairs) against one PathPatch call per
// receiver (the sweep's cells one receiver at a time, every sender as its
// own set), and checks they agree. Run with GLIA_LONG=1 (and
// GLIA_SWEEP_REPEAT=4 for 16 pairs).
func TestPathSweepTiming(t *testing.T) {
	if os.Getenv("GLIA_LONG") == "" {
		t.Skip("set GLIA_LONG=1")
	}
	m, err := engine.Load("")
	if err != nil {
		t.Fatal(err)
	}
	she, ok1 := m.TokenID(" she")
	he, ok2 := m.TokenID(" he")
	if !ok1 || !ok2 {
		t.Fatal("stories260K's vocabulary lacks \" she\" or \" he\"")
	}
	var pairs []Pair
	for _, s := range []string{"went to the park.", "was happy.", "saw a big dog.", "had a red ball."} {
		c, _ := m.Encode("The girl "+s+" Then", true)
		k, _ := m.Encode("The boy "+s+" Then", true)
		pairs = append(pairs, Pair{Clean: c, Corrupt: k, A: she, B: he})
	}
	// GLIA_SWEEP_REPEAT=N repeats the 4 pairs N times: the sweep compiles
	// the same graphs for any number of pairs, PathPatch more with more.
	if n, err := strconv.Atoi(os.Getenv("GLIA_SWEEP_REPEAT")); err == nil && n > 1 {
		four := pairs
		for range n - 1 {
			pairs = append(pairs, four...)
		}
	}
	// The machine is shared: CPU seconds of this process say more than
	// wall time under load.
	cpu := func() time.Duration {
		var u syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &u)
		return time.Duration(u.Utime.Nano() + u.Stime.Nano())
	}
	t0, c0 := time.Now(), cpu()
	r, err := PathSweep(m, pairs, SweepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sweep, sweepCPU := time.Since(t0), cpu()-c0
	var sets [][]Head
	for _, h := range r.Senders {
		sets = append(sets, []Head{h})
	}
	t0, c0 = time.Now(), cpu()
	forwards, worst := 0, 0.0
	for j, rc := range r.Receivers {
		p, err := PathPatch(m, pairs, sets, []Receiver{rc}, 64)
		if err != nil {
			t.Fatal(err)
		}
		forwards += p.Forwards
		for i, s := range r.Senders {
			if s.Layer < rc.Layer {
				worst = max(worst, math.Abs(p.Mean[i]-r.Mean[i][j]))
			}
		}
	}
	loop, loopCPU := time.Since(t0), cpu()-c0
	t.Logf("stories260K, %d senders × %d receivers, %d pairs: sweep %.2fs wall, %.2fs CPU (%d forwards, %d graphs); PathPatch per receiver %.2fs wall, %.2fs CPU (%d forwards); largest difference %.2g",
		len(r.Senders), len(r.Receivers), len(pairs), sweep.Seconds(), sweepCPU.Seconds(), r.Forwards, r.Graphs, loop.Seconds(), loopCPU.Seconds(), forwards, worst)
	if worst > 1e-4 {
		t.Errorf("sweep and PathPatch differ by %g", worst)
	}
}
