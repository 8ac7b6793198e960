package train

import (
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
	ids := make([][]int32, b.B)
	for i := range ids {
		ids[i] = b.IDs[i*b.T : (i+1)*b.T]
	}
	res, err := m.Run(engine.Request{IDs: ids})
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
