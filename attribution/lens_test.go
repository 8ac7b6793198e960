package attribution

import (
	"testing"

	"github.com/glia-dev/glia/engine"
)

// TestLensLastLayerIsLogits: on every fixture the lens of the last layer's
// residual stream is the model's logits, and the target's rank and
// probability are those of that row.
func TestLensLastLayerIsLogits(t *testing.T) {
	const tol = 1e-4
	eachFixture(t, func(t *testing.T, m *engine.Model) {
		ids := prompt(m, 6)
		r, err := Lens(m, ids, -1, 5, 3)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(r.Layers), m.Dims().Layers+1; got != want {
			t.Fatalf("%d lens rows, want %d", got, want)
		}
		res, err := m.Run(engine.Request{IDs: [][]int32{ids}})
		if err != nil {
			t.Fatal(err)
		}
		last := r.Layers[len(r.Layers)-1]
		if diff, i := engine.MaxDiff(last.Logits, at(res.Logits, len(ids)-1)); diff > tol {
			t.Errorf("last layer's lens differs from the logits by %.3g at token %d", diff, i)
		} else {
			t.Logf("max |lens − logits| %.2g", diff)
		}
		probs := engine.Probs(last.Logits)
		if last.Prob != probs[5] || len(last.Top) != 3 || (last.Rank == 0) != (last.Top[0].Token == 5) {
			t.Errorf("target prob %g rank %d top %v, want prob %g", last.Prob, last.Rank, last.Top, probs[5])
		}
	})
}
