package train

import (
	"slices"
	"testing"

	"github.com/glia-dev/glia/engine"
)

// TestModAddKnownAnswer: the committed modular-addition model
// (scripts/train-known-answers.sh) answers every held-out pair.
func TestModAddKnownAnswer(t *testing.T) {
	m, err := engine.Load("../testdata/trained/modadd53")
	if err != nil {
		t.Fatal(err)
	}
	task, err := NewModAdd(53, 1, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	b := task.Eval()[0]
	res, err := m.Run(engine.Request{IDs: b.Rows()})
	if err != nil {
		t.Fatal(err)
	}
	v := res.Logits.Shape[2]
	wrong := 0
	for i := range b.B {
		row := res.Logits.Data[(i*b.T+2)*v : (i*b.T+3)*v]
		best := 0
		for j, x := range row {
			if x > row[best] {
				best = j
			}
		}
		if int32(best) != b.Targets[i*b.T+2] {
			wrong++
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d held-out pairs answered wrongly", wrong, b.B)
	}
	f, err := EmbeddingFourier(m, 53)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out accuracy 100%% over %d pairs; embedding power in the top 5 frequencies %v: %.3f", b.B, f.Top[:5], f.Top5)
}

// TestInductionKnownAnswer: the committed two-layer attention-only model
// (scripts/train-known-answers.sh) has the textbook induction circuit: an
// induction head in layer 1, none in layer 0, and a previous-token head in
// layer 0.
func TestInductionKnownAnswer(t *testing.T) {
	m, err := engine.Load("../testdata/trained/induction")
	if err != nil {
		t.Fatal(err)
	}
	s, err := InductionScores(m, &Induction{Seed: 1, Batch: 64, Seq: 32, VocabSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("induction %v\nprevious-token %v", s.Induction, s.PrevToken)
	if len(s.Induction) != 2 {
		t.Fatalf("%d layers, want 2", len(s.Induction))
	}
	if got := slices.Max(s.Induction[1]); got <= 0.8 {
		t.Errorf("best layer-1 induction score %.3f, want > 0.8", got)
	}
	if got := slices.Max(s.Induction[0]); got >= 0.2 {
		t.Errorf("a layer-0 head has induction score %.3f, want every one < 0.2", got)
	}
	if got := slices.Max(s.PrevToken[0]); got <= 0.8 {
		t.Errorf("best layer-0 previous-token score %.3f, want > 0.8", got)
	}
}
