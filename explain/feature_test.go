package explain

import (
	"math"
	"sort"
	"testing"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/sae"
)

// TestFeatureLens: a dictionary feature whose decoder row is ±(basis
// vector j) of the residual stream promotes exactly the tokens whose
// unembedding column j, times the final norm's gain, is largest (RMSNorm:
// nothing to centre), computed here from the weights directly.
func TestFeatureLens(t *testing.T) {
	m, err := engine.Load("")
	if err != nil {
		t.Fatal(err)
	}
	const h = "blocks.3.hook_resid_post"
	d := m.Dims().DModel
	n := 2 * d
	s := &sae.SAE{Cfg: sae.Config{DIn: d, DSAE: n, Architecture: sae.Standard, NormalizeActivations: "none", Metadata: sae.Metadata{HookName: h}},
		WEnc: make([]float32, d*n), WDec: make([]float32, n*d), BEnc: make([]float32, n), BDec: make([]float32, d)}
	for i := range n {
		s.WDec[i*d+i%d] = float32(1 - 2*(i/d)) // +e_j, then −e_j
	}
	if err := sae.Attach(m, s); err != nil {
		t.Fatal(err)
	}
	p, err := NewLensPlan(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	lens := m.Family.(arch.Lensed).Lens()
	wu, _ := m.Weight(lens.Unembedding)
	g, _ := m.Weight(lens.FinalNorm)
	for _, feature := range []int{5, d + 5} {
		l, ok, err := p.Feature(h+".hook_sae_acts_post", feature, 5)
		if err != nil || !ok {
			t.Fatalf("feature %d: ok %v, %v", feature, ok, err)
		}
		sign := float64(1 - 2*(feature/d))
		want := make([]float64, p.Vocab)
		idx := make([]int, p.Vocab)
		for tok := range want {
			want[tok] = sign * float64(wu.Data[tok*d+5]) * (float64(g.Data[5]) + lens.GainOffset)
			idx[tok] = tok
		}
		sort.Slice(idx, func(a, b int) bool { return want[idx[a]] > want[idx[b]] })
		for r, tl := range l.Promoted {
			if int(tl.Token) != idx[r] || math.Abs(float64(tl.Logit)-want[idx[r]]) > 1e-5 {
				t.Errorf("feature %d, promoted #%d: token %d logit %g, want %d logit %g", feature, r, tl.Token, tl.Logit, idx[r], want[idx[r]])
			}
		}
		if l.Hook != h+".hook_sae_acts_post" || l.Layer != 3 || len(l.Promoted) != 5 {
			t.Errorf("lens %+v", l)
		}
	}
	// Not a feature, or no dictionary there: no lens.
	for _, name := range []string{"blocks.3.mlp.hook_post", "blocks.2.hook_resid_post.hook_sae_acts_post"} {
		if _, ok, err := p.Feature(name, 0, 5); ok || err != nil {
			t.Errorf("%s: ok %v, %v; want no lens", name, ok, err)
		}
	}
}
