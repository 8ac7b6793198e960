package attribution

import (
	"testing"

	"github.com/glia-dev/glia/engine"
)

// TestDLACompleteness: on every fixture, the components plus the bias terms
// add up to the model's (pre-cap) logit and logit difference, and each
// layer's heads (neurons) plus bias add up to its hook_attn_out
// (hook_mlp_out) projection.
func TestDLACompleteness(t *testing.T) {
	const tol = 1e-4
	eachFixture(t, func(t *testing.T, m *engine.Model) {
		ids := prompt(m, 7)
		for _, tg := range []Target{
			{Kind: Logit, Pos: -1, Token: 3},
			{Kind: LogitDiff, Pos: 4, Token: 5, Other: 11},
		} {
			r, err := DLA(m, ids, tg)
			if err != nil {
				t.Fatal(err)
			}
			if r.Completeness > tol || r.Completeness != r.Completeness {
				t.Errorf("%s: Σ components %.6g, pre-cap logit %.6g: completeness %.3g > %g", tg.Kind, r.Sum, r.PreCap, r.Completeness, tol)
			}
			for l, ld := range r.Layers {
				if ld.AttnSplit > tol || ld.MLPSplit > tol {
					t.Errorf("%s: layer %d split error attn %.3g mlp %.3g > %g", tg.Kind, l, ld.AttnSplit, ld.MLPSplit, tol)
				}
			}
			d := m.Dims()
			if want := 1 + d.Layers*(d.Heads+d.DMLP); len(r.Components) < want {
				t.Errorf("%d components, want at least %d (embed, heads, neurons)", len(r.Components), want)
			}
			t.Logf("%s: completeness %.2g (Σ %.5g, logit %.5g)", tg.Kind, r.Completeness, r.Sum, r.PreCap)
		}
	})
}
