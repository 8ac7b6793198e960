package engine_test

import (
	"math"
	"strings"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/hook"
	. "github.com/gomlx/gomlx/core/graph"
)

// signTranscoder reads hook in and writes the dictionary's hook: features
// ReLU([x, −x]) of in's value, decoder [I; −I], plus skip·I·x when skip is
// not 0. Its reconstruction of the output hook is (1 + skip)·x exactly, so
// the error term and every edit are known in closed form.
type signTranscoder struct {
	signDictionary
	in   string
	skip float32
}

func (s signTranscoder) InHook() string { return s.in }

func (s signTranscoder) Tensors() []engine.NamedArray {
	ts := s.signDictionary.Tensors()
	if s.skip != 0 {
		w := make([]float32, s.d*s.out)
		for i := range min(s.d, s.out) {
			w[i*s.out+i] = s.skip
		}
		ts = append(ts, engine.NamedArray{Name: "W_skip", Array: engine.Array{Shape: []int{s.d, s.out}, Data: w}})
	}
	return ts
}

func (s signTranscoder) Skip(w func(string) *Node, x *Node) *Node {
	if s.skip == 0 {
		return nil
	}
	return MatMul(x, w("W_skip"))
}

func TestAttachTranscoder(t *testing.T) {
	const in, out, up = "blocks.1.ln2.hook_normalized", "blocks.1.hook_mlp_out", "blocks.1.hook_resid_mid"
	plain, err := engine.Load("")
	if err != nil {
		t.Fatal(err)
	}
	d := plain.Dims().DModel
	ids := [][]int32{{1, 403, 407, 261, 378, 9}}
	base, err := plain.Run(engine.Request{IDs: ids, Hooks: []string{in, out, up}, Grad: &engine.GradTarget{Pos: 5, Token: 42}})
	if err != nil {
		t.Fatal(err)
	}
	xin, xout := base.Acts[in].Data, base.Acts[out].Data
	for _, skip := range []float32{0, 2} {
		m, err := engine.Load("")
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Attach(signTranscoder{signDictionary{hook: out, d: d, out: d}, in, skip}); err != nil {
			t.Fatal(err)
		}
		t.Run("unedited changes nothing", func(t *testing.T) {
			res, err := m.Run(engine.Request{IDs: ids, Hooks: []string{out + hook.SAEActs, out + hook.SAEError, out + hook.SAERecons}})
			if err != nil {
				t.Fatal(err)
			}
			if diff := dictDiff(res.Logits.Data, base.Logits.Data); diff != 0 {
				t.Errorf("skip %g: logits differ by %g with an unedited transcoder", skip, diff)
			}
			f, e, r := res.Acts[out+hook.SAEActs].Data, res.Acts[out+hook.SAEError].Data, res.Acts[out+hook.SAERecons].Data
			for i, v := range xin {
				row, j := i/d, i%d
				if f[row*2*d+j] != max(v, 0) || f[row*2*d+d+j] != max(-v, 0) {
					t.Fatalf("features at %d: %g, %g for input value %g", i, f[row*2*d+j], f[row*2*d+d+j], v)
				}
				want := (1 + skip) * v
				if math.Abs(float64(r[i]-want)) > 1e-6 || math.Abs(float64(e[i]-(xout[i]-want))) > 1e-5 {
					t.Fatalf("skip %g at %d: reconstruction %g, error %g; want %g and %g", skip, i, r[i], e[i], want, xout[i]-want)
				}
			}
		})
		// A feature edit equals the decoder's image of it added to the
		// output hook (the skip term cancels with the error's). Zeroing
		// every feature is not zeroing the hook here: the error remains.
		checkFeatureEdits(t, m, plain, ids, base, out, d, false)
		t.Run("gradients", func(t *testing.T) { checkFeatureGrads(t, m, ids, base, out, up, d) })
	}

	t.Run("bad transcoders", func(t *testing.T) {
		m, err := engine.Load("")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			d    engine.Dictionary
			want string
		}{
			{signTranscoder{signDictionary{hook: "blocks.0.hook_mlp_out", d: d, out: d}, "blocks.1.ln2.hook_normalized", 0}, "does not come before"},
			{signTranscoder{signDictionary{hook: out, d: d, out: d}, "blocks.1.ln2.hook_normalised", 0}, `no hook point "blocks.1.ln2.hook_normalised"`},
			{signTranscoder{signDictionary{hook: out, d: d, out: d - 1}, in, 0}, "decoder gives"},
			{signTranscoder{signDictionary{hook: out, d: d, out: d}, "blocks.1.mlp.hook_post", 0}, out},
		} {
			if err := m.Attach(c.d); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Attach(%+v): %v, want an error containing %q", c.d, err, c.want)
			}
		}
	})
}

// checkFeatureGrads checks, for a sign dictionary or transcoder writing
// hook h of width d, that differentiating its features changes no logit,
// that d logit/d features is ±d logit/d h (base's, from the plain model),
// and that the gradient at up, upstream of the dictionary, is the plain
// model's own (the encoder's paths through the features and through the
// error term cancel).
func checkFeatureGrads(t *testing.T, m *engine.Model, ids [][]int32, base *engine.Result, h, up string, d int) {
	t.Helper()
	res, err := m.Run(engine.Request{IDs: ids, Hooks: []string{h + hook.SAEActs, up}, Grad: &engine.GradTarget{Pos: 5, Token: 42}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := dictDiff(res.Logits.Data, base.Logits.Data); diff > 1e-5 {
		t.Errorf("differentiating the features changed the logits by %g", diff)
	}
	g, gx := res.Grads[h+hook.SAEActs].Data, base.Grads[h].Data
	var worst float64
	for i := range gx {
		row, j := i/d, i%d
		worst = max(worst, math.Abs(float64(g[row*2*d+j]-gx[i])), math.Abs(float64(g[row*2*d+d+j]+gx[i])))
	}
	if worst > 1e-5 || maxAbs(gx) == 0 {
		t.Errorf("d logit/d features differs from ±d logit/d %s by %g", h, worst)
	}
	if diff := dictDiff(res.Grads[up].Data, base.Grads[up].Data); diff > 1e-5 {
		t.Errorf("d logit/d %s differs from the plain model's by %g", up, diff)
	}
}

// checkFeatureEdits checks that each edit of a sign dictionary's (or
// transcoder's) features on hook h of width d equals, on the plain model,
// the decoder's image of the edit added to h; withZero adds "zero every
// feature = zero the hook", which holds for an exact dictionary only.
func checkFeatureEdits(t *testing.T, m, plain *engine.Model, ids [][]int32, base *engine.Result, h string, d int, withZero bool) {
	t.Helper()
	type edit struct {
		name     string
		features func(x *Node) *Node
		hook     func(x *Node) *Node
	}
	cases := []edit{
		{"feature 3 + 1 = unit 3 + 1", func(f *Node) *Node { return Add(f, oneHot(f, 3)) }, func(x *Node) *Node { return Add(x, oneHot(x, 3)) }},
		{"feature d+5 + 2 = unit 5 − 2", func(f *Node) *Node { return Add(f, MulScalar(oneHot(f, d+5), 2)) }, func(x *Node) *Node { return Sub(x, MulScalar(oneHot(x, 5), 2)) }},
	}
	if withZero {
		cases = append(cases, edit{"zero every feature = zero the hook", func(f *Node) *Node { return ZerosLike(f) }, func(x *Node) *Node { return ZerosLike(x) }})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Run(engine.Request{IDs: ids, Interventions: []engine.Intervention{{Hook: h + hook.SAEActs, Key: tc.name, Fn: tc.features}}})
			if err != nil {
				t.Fatal(err)
			}
			want, err := plain.Run(engine.Request{IDs: ids, Interventions: []engine.Intervention{{Hook: h, Key: tc.name, Fn: tc.hook}}})
			if err != nil {
				t.Fatal(err)
			}
			if diff := dictDiff(got.Logits.Data, want.Logits.Data); diff > 1e-5 || dictDiff(got.Logits.Data, base.Logits.Data) < 1e-3 {
				t.Errorf("%s: logits differ from the hook edit by %g (from the unedited run by %g)", h, diff, dictDiff(got.Logits.Data, base.Logits.Data))
			}
		})
	}
}
