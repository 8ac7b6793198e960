package attribution

import (
	"fmt"
	"math"
	"testing"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/engine"
	. "github.com/gomlx/gomlx/core/graph"
)

// TestIGCompleteness: at 50 Gauss–Legendre steps the attributions add up to
// F(x) − F(baseline) within 1% on every fixture, for each target kind, at
// the input embedding, an MLP's neurons and a residual stream, from another
// prompt and from zero. A zero baseline is used only where F is smooth
// along the path: an RMSNorm that reads nothing but the scaled value
// (Llama-style hook_embed, a post-norm's MLP output) is scale-invariant for
// α > 0 and 0 at α = 0, a jump no quadrature integrates
// (TestIGZeroBaselineJump).
func TestIGCompleteness(t *testing.T) {
	eachFixture(t, func(t *testing.T, m *engine.Model) {
		lens := m.Family.(arch.Lensed).Lens()
		ids := prompt(m, 6)
		v := m.Dims().Vocab
		other := corrupt(ids, len(ids)-1, v)
		zeroEmbed, zeroMLP := other, other
		if _, err := m.HookShape("hook_pos_embed"); err == nil { // the first norm also reads the position embedding
			zeroEmbed = nil
		}
		if lens.MLPPostNorm == "" {
			zeroMLP = nil
		}
		worst := 0.0
		for _, tc := range []struct {
			hook string
			tg   Target
			base []int32
		}{
			{"hook_embed", Target{Kind: Logit, Pos: -1, Token: 3}, other},
			{"hook_embed", Target{Kind: Logit, Pos: -1, Token: 5}, zeroEmbed},
			{"hook_embed", Target{Kind: LogitDiff, Pos: -1, Token: int32(v / 3), Other: int32(2 * v / 3)}, other},
			{"blocks.0.mlp.hook_post", Target{Kind: LogProb, Pos: -1, Token: 2}, zeroMLP},
			{"blocks.0.hook_resid_post", Target{Kind: Loss}, corrupt(ids, 2, m.Dims().Vocab)}, // the last token is no input to the loss
		} {
			r, err := IG(m, ids, tc.hook, tc.tg, IGOptions{Baseline: tc.base, Chunk: 25})
			if err != nil {
				t.Fatal(err)
			}
			if !(r.Relative <= 0.01) {
				t.Errorf("%s %s (baseline %v): Σ attr %.6g, F−F′ %.6g: relative delta %.3g > 1%%", tc.hook, tc.tg.Kind, tc.base, r.Sum, r.F-r.FBaseline, r.Relative)
			}
			worst = max(worst, r.Relative)
		}
		t.Logf("worst relative delta %.2g", worst)
	})
}

// corrupt is ids with the token at pos changed, a corrupted prompt.
func corrupt(ids []int32, pos, vocab int) []int32 {
	c := append([]int32(nil), ids...)
	c[pos] = (c[pos] + int32(vocab)/2) % int32(vocab)
	return c
}

// TestIGStepsConverge: where the path between two whole prompts bends
// sharply (stories260K, a prompt against the same tokens shifted by one),
// 50 Gauss–Legendre steps leave a few percent, and more steps close it.
func TestIGStepsConverge(t *testing.T) {
	m := fixture(t, "stories260K")
	ids := prompt(m, 6)
	base := prompt(m, 7)[1:]
	tg := Target{Kind: Logit, Pos: -1, Token: 3}
	var rel []float64
	for _, n := range []int{50, 200} {
		r, err := IG(m, ids, "hook_embed", tg, IGOptions{Baseline: base, Steps: n, Chunk: 50})
		if err != nil {
			t.Fatal(err)
		}
		rel = append(rel, r.Relative)
	}
	if !(rel[1] < 1e-3 && rel[1] < rel[0]/10) {
		t.Errorf("relative delta %.3g at 50 steps, %.3g at 200: want < 1e-3 and 10× smaller", rel[0], rel[1])
	}
	t.Logf("relative delta %.3g at 50 steps, %.3g at 200", rel[0], rel[1])
}

// TestIGZeroBaselineJump: for a Llama-style model, F along the path from a
// zero embedding jumps between α = 0 and any α > 0 well above √eps (the
// first RMSNorm sees a direction, then nothing), which is why
// IG from zero there is far from complete and a prompt baseline is used.
func TestIGZeroBaselineJump(t *testing.T) {
	m := fixture(t, "../testdata/hf-tiny/llama")
	ids := prompt(m, 6)
	tg := Target{Kind: Logit, Pos: 5, Token: 3}
	res, err := m.Run(engine.Request{IDs: [][]int32{ids}, Hooks: []string{"hook_embed"}})
	if err != nil {
		t.Fatal(err)
	}
	x := res.Acts["hook_embed"]
	f := func(a float64) float64 {
		r, err := m.Run(engine.Request{IDs: [][]int32{ids}, Interventions: []engine.Intervention{interpolate("hook_embed", x.Shape, make([]float32, len(x.Data)), []float64{a})}})
		if err != nil {
			t.Fatal(err)
		}
		return tg.value(r.Logits.Data, ids, m.Dims().Vocab)
	}
	f0, fSmall, fHalf := f(0), f(0.05), f(0.5)
	// Near 0 the path is already most of the way from F(0) to F(0.5).
	if math.Abs(fSmall-f0) < 0.5*math.Abs(fHalf-f0) {
		t.Errorf("F(0)=%.5g F(0.05)=%.5g F(0.5)=%.5g: no jump near 0", f0, fSmall, fHalf)
	}
	ig, err := IG(m, ids, "hook_embed", tg, IGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("F(0)=%.5g F(0.05)=%.5g F(0.5)=%.5g; IG from zero: relative delta %.3g", f0, fSmall, fHalf, ig.Relative)
}

// TestIGRules: every rule converges on one fixture; Gauss–Legendre, middle
// and trapezoid within 1% at 50 steps, left and right (first order) with a
// delta 4× smaller at 200 steps than at 50 (within 10%).
func TestIGRules(t *testing.T) {
	m := fixture(t, "../testdata/hf-tiny/gpt2")
	ids := prompt(m, 5)
	tg := Target{Kind: LogProb, Pos: -1, Token: 7}
	for _, rule := range Rules {
		r50, err := IG(m, ids, "hook_embed", tg, IGOptions{Rule: rule, Steps: 50, Chunk: 50})
		if err != nil {
			t.Fatal(err)
		}
		switch rule {
		case RiemannLeft, RiemannRight:
			r200, err := IG(m, ids, "hook_embed", tg, IGOptions{Rule: rule, Steps: 200, Chunk: 50})
			if err != nil {
				t.Fatal(err)
			}
			if ratio := r50.Delta / r200.Delta; math.Abs(ratio-4) > 0.4 {
				t.Errorf("%s: delta %.3g at 50 steps, %.3g at 200: ratio %.3g, want 4", rule, r50.Delta, r200.Delta, ratio)
			}
		default:
			if r50.Relative > 0.01 {
				t.Errorf("%s: relative delta %.3g > 1%%", rule, r50.Relative)
			}
		}
		t.Logf("%s: relative delta %.2g at 50 steps", rule, r50.Relative)
	}
	// Chunking changes nothing but the number of passes.
	a, err := IG(m, ids, "hook_embed", tg, IGOptions{Chunk: 7})
	if err != nil {
		t.Fatal(err)
	}
	b, err := IG(m, ids, "hook_embed", tg, IGOptions{Chunk: 50})
	if err != nil {
		t.Fatal(err)
	}
	if d, i := engine.MaxDiff(a.Attr, b.Attr); d > 1e-5 || a.Forwards != 2+8 || b.Forwards != 2+1 {
		t.Errorf("chunks of 7 vs 50: max diff %.3g at %d, passes %d and %d", d, i, a.Forwards, b.Forwards)
	}
}

// TestGradXActFiniteDifference: gradient × activation equals
// xᵢ·(F(x+εeᵢ) − F(x−εeᵢ))/2ε for the largest attributions, where the
// nudge is an intervention on the hook.
func TestGradXActFiniteDifference(t *testing.T) {
	m := fixture(t, "../testdata/hf-tiny/gpt2")
	ids := prompt(m, 5)
	for _, tc := range []struct {
		hook string
		tg   Target
	}{
		{"hook_embed", Target{Kind: Logit, Pos: -1, Token: 3}},
		{"blocks.1.mlp.hook_post", Target{Kind: LogProb, Pos: 2, Token: 9}},
		{"blocks.0.attn.hook_z", Target{Kind: Loss}},
		{"blocks.0.hook_resid_mid", Target{Kind: LogitDiff, Pos: -1, Token: 1, Other: 2}},
	} {
		r, err := GradXAct(m, ids, tc.hook, tc.tg)
		if err != nil {
			t.Fatal(err)
		}
		x, err := m.Run(engine.Request{IDs: [][]int32{ids}, Hooks: []string{tc.hook}, NoLogits: true})
		if err != nil {
			t.Fatal(err)
		}
		act := x.Acts[tc.hook].Data
		tg, err := tc.tg.resolve("test", len(ids), m.Dims().Vocab)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range topAbs(r.Attr, 3) {
			const eps = 1e-2
			f := func(d float64) float64 {
				res, err := m.Run(engine.Request{IDs: [][]int32{ids}, Interventions: []engine.Intervention{nudge(tc.hook, i, d)}})
				if err != nil {
					t.Fatal(err)
				}
				return tg.value(res.Logits.Data, ids, m.Dims().Vocab)
			}
			fd := float64(act[i]) * (f(eps) - f(-eps)) / (2 * eps)
			if got := float64(r.Attr[i]); math.Abs(got-fd) > 1e-3+1e-2*math.Abs(fd) {
				t.Errorf("%s %s element %d: grad×act %.6g, finite difference %.6g", tc.hook, tc.tg.Kind, i, got, fd)
			}
		}
	}
}

// nudge adds d to element i of a hook (batch 1, flat index).
func nudge(hook string, i int, d float64) engine.Intervention {
	return engine.Intervention{Hook: hook, Key: fmt.Sprintf("nudge:%d:%g", i, d), Fn: func(x *Node) *Node {
		n := x.Shape().Size()
		e := make([]float32, n)
		e[i] = float32(d)
		return Add(x, Reshape(Const(x.Graph(), e), x.Shape().Dimensions...))
	}}
}

func topAbs(v []float32, k int) []int {
	var idx []int
	for range k {
		best := -1
		for i, x := range v {
			taken := false
			for _, j := range idx {
				taken = taken || j == i
			}
			if !taken && (best < 0 || math.Abs(float64(x)) > math.Abs(float64(v[best]))) {
				best = i
			}
		}
		idx = append(idx, best)
	}
	return idx
}

// TestIGCheckpoint: IG with the backward pass checkpointed by layer gives
// the attributions of the ordinary pass.
func TestIGCheckpoint(t *testing.T) {
	m := fixture(t, "../testdata/hf-tiny/gpt2")
	ids := prompt(m, 8)
	tg := Target{Kind: LogProb, Pos: -1, Token: 3}
	for _, hook := range []string{"hook_embed", "blocks.1.mlp.hook_post"} {
		o := IGOptions{Steps: 8, Chunk: 3, Baseline: corrupt(ids, 4, m.Dims().Vocab)}
		want, err := IG(m, ids, hook, tg, o)
		if err != nil {
			t.Fatal(err)
		}
		o.Checkpoint = true
		got, err := IG(m, ids, hook, tg, o)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want.Attr {
			if d := math.Abs(float64(got.Attr[i] - want.Attr[i])); d > 1e-6+1e-5*math.Abs(float64(want.Attr[i])) {
				t.Fatalf("%s[%d]: checkpointed %.7g, ordinary %.7g", hook, i, got.Attr[i], want.Attr[i])
			}
		}
	}
}
