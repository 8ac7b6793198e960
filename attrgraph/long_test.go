package attrgraph

import (
	"os"
	"testing"
	"time"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/internal/testenv"
)

// TestLongGraph is issue 20's memory figure, run by hand (minutes of CPU,
// so never in CI): the attribution graph of a 1,024-token prompt on a
// GPT-2-small-shaped model with random weights, logging the time and the
// peak RSS (VmHWM). Run it alone, so that the kernels are chosen before
// any model loads:
//
//	GLIA_LONG=1 GOEXPERIMENT=simd go test ./attrgraph -run TestLongGraph -v -timeout 0
//
// $GLIA_LONG_TOKENS (1024), $GLIA_LONG_NODES (200) and
// $GLIA_LONG_PER_SITE (16) change the work.
func TestLongGraph(t *testing.T) {
	if os.Getenv("GLIA_LONG") != "1" {
		t.Skip("set GLIA_LONG=1 to run the long-prompt measurement (not in CI)")
	}
	if err := engine.UseCPUKernels(true); err != nil {
		t.Fatalf("run TestLongGraph alone: %v", err)
	}
	n, nodes, per := testenv.Int(t, "GLIA_LONG_TOKENS", 1024), testenv.Int(t, "GLIA_LONG_NODES", 200), testenv.Int(t, "GLIA_LONG_PER_SITE", 16)
	m, err := engine.RandomModel("gpt2-small-random", map[string]any{"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12,
		"n_inner": 3072, "vocab_size": 50257, "n_positions": n, "activation_function": "gelu_new"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ids := prompt(m, n)
	t.Logf("%d tokens; peak RSS after loading %.0f MiB", n, testenv.PeakRSS())
	start := time.Now()
	g, err := Build(m, ids, Options{MaxNodes: nodes, PerSite: per})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built: %d candidates, %d selected, %d rows × %d columns in %.1fs; peak RSS %.0f MiB", g.Cands, g.NFeat, len(g.Rows), g.NCols(),
		time.Since(start).Seconds(), testenv.PeakRSS())
	p := g.Prune(0.8, 0.98)
	kept, edges := 0, 0
	for _, k := range p.NodeMask {
		if k {
			kept++
		}
	}
	for _, m := range p.EdgeMask {
		for _, k := range m {
			if k {
				edges++
			}
		}
	}
	c := g.Completeness()
	t.Logf("pruned: %d of %d nodes, %d of %d edges kept; completeness error %.2g; total %.1fs; peak RSS %.0f MiB",
		kept, len(g.Nodes), edges, p.Edges, c, time.Since(start).Seconds(), testenv.PeakRSS())
	if c > 1e-2 {
		t.Errorf("completeness error %g at %d tokens", c, n)
	}
}
