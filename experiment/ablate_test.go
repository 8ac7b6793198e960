package experiment

import (
	"math"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/intervene"
)

func TestLossOnCorpus(t *testing.T) {
	m := fixture(t, "llama")
	wins := [][]int32{{1, 5, 6, 7, 8, 9}, {1, 10, 11, 12}}
	noop, _ := intervene.Parse("blocks.0.mlp.hook_post*=1")
	iv, err := noop.Compile(m, intervene.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := LossOnCorpus(m, "x", wins, []engine.Intervention{iv}, AblateOptions{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	if e.Tokens != 8 || math.Abs(e.Delta) > 1e-6 || math.Abs(e.Before-e.After) > 1e-6 {
		t.Fatalf("no-op: %+v", e)
	}
	// The loss by hand for the first window.
	r := run(t, m, wins[:1], nil)
	var want float64
	for p := range 5 {
		want += TokenLosses(r.Logits, 0, 6, wins[0], -1)[p]
	}
	e1, _ := LossOnCorpus(m, "x", wins[:1], []engine.Intervention{iv}, AblateOptions{})
	if math.Abs(e1.Before-want/5) > 1e-5 {
		t.Fatalf("loss %g, by hand %g", e1.Before, want/5)
	}
	zero, _ := intervene.Parse("blocks.1.hook_mlp_out=0")
	iv, _ = zero.Compile(m, intervene.Options{})
	e, err = LossOnCorpus(m, "x", wins, []engine.Intervention{iv}, AblateOptions{Batch: 1, Top: 3})
	if err != nil {
		t.Fatal(err)
	}
	if e.Delta == 0 || len(e.Top) != 3 || e.StdErr <= 0 {
		t.Fatalf("zero ablation: %+v", e)
	}
}
