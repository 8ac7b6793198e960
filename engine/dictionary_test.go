package engine_test

import (
	"math"
	"strings"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/hook"
	. "github.com/gomlx/gomlx/core/graph"
)

// signDictionary is an exact dictionary of d_in: features ReLU([x, −x]),
// decoder [I; −I], so Decode(Encode(x)) = x bit for bit (each output is one
// product by ±1 plus zeros). Every splice identity can then be checked
// against an ordinary intervention on the hook itself.
type signDictionary struct {
	hook string
	d    int
	out  int // decoder width (d; anything else is a bad dictionary)
}

func (s signDictionary) Hook() string { return s.hook }

func (s signDictionary) Tensors() []engine.NamedArray {
	enc := make([]float32, s.d*2*s.d)
	dec := make([]float32, 2*s.d*s.out)
	for i := range s.d {
		enc[i*2*s.d+i], enc[i*2*s.d+s.d+i] = 1, -1
		if i < s.out {
			dec[i*s.out+i], dec[(s.d+i)*s.out+i] = 1, -1
		}
	}
	return []engine.NamedArray{
		{Name: "W_enc", Array: engine.Array{Shape: []int{s.d, 2 * s.d}, Data: enc}},
		{Name: "W_dec", Array: engine.Array{Shape: []int{2 * s.d, s.out}, Data: dec}},
	}
}

func (s signDictionary) Encode(w func(string) *Node, x *Node) *Node {
	pre := MatMul(x, w("W_enc"))
	return Max(pre, ZerosLike(pre))
}

func (s signDictionary) Decode(w func(string) *Node, f *Node) *Node { return MatMul(f, w("W_dec")) }

func TestAttachDictionary(t *testing.T) {
	const h = "blocks.2.hook_resid_post"
	plain, err := engine.Load("")
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.Load("")
	if err != nil {
		t.Fatal(err)
	}
	d := plain.Dims().DModel
	fp := m.Fingerprint()
	if err := m.Attach(signDictionary{hook: h, d: d, out: d}); err != nil {
		t.Fatal(err)
	}
	if m.Fingerprint() == fp {
		t.Error("the fingerprint did not change with a dictionary attached")
	}
	if m.NumParams() != plain.NumParams() || len(m.WeightNames()) != len(plain.WeightNames()) {
		t.Errorf("the dictionary's tensors count as model weights: %d params, %d names", m.NumParams(), len(m.WeightNames()))
	}
	info, err := m.HookPoint(h + hook.SAEActs)
	if err != nil || info.Shape[len(info.Shape)-1] != 2*d {
		t.Fatalf("feature hook point: %+v, %v", info, err)
	}
	ids := [][]int32{{1, 403, 407, 261, 378, 9}}
	const up = "blocks.1.hook_resid_post"
	base, err := plain.Run(engine.Request{IDs: ids, Hooks: []string{h, up}, Grad: &engine.GradTarget{Pos: 5, Token: 42}})
	if err != nil {
		t.Fatal(err)
	}
	x := base.Acts[h].Data

	t.Run("unedited changes nothing", func(t *testing.T) {
		res, err := m.Run(engine.Request{IDs: ids, Hooks: []string{h + hook.SAEActs, h + hook.SAEError}})
		if err != nil {
			t.Fatal(err)
		}
		if diff := dictDiff(res.Logits.Data, base.Logits.Data); diff != 0 {
			t.Errorf("logits differ by %g with an unedited dictionary", diff)
		}
		f := res.Acts[h+hook.SAEActs].Data
		for i, v := range x {
			row, j := i/d, i%d
			if f[row*2*d+j] != max(v, 0) || f[row*2*d+d+j] != max(-v, 0) {
				t.Fatalf("features at %d: %g, %g for hook value %g", i, f[row*2*d+j], f[row*2*d+d+j], v)
			}
		}
		if e := res.Acts[h+hook.SAEError].Data; maxAbs(e) != 0 {
			t.Errorf("error term %g for an exact dictionary", maxAbs(e))
		}
	})

	// Each edit of the features equals an edit of the hook: the decoder's
	// image of the change, added to the hook's value.
	checkFeatureEdits(t, m, plain, ids, base, h, d, true)

	t.Run("gradients reach the features", func(t *testing.T) { checkFeatureGrads(t, m, ids, base, h, up, d) })

	t.Run("bad dictionaries", func(t *testing.T) {
		for _, c := range []struct {
			d    engine.Dictionary
			want string
		}{
			{signDictionary{hook: h, d: d, out: d}, "already has a dictionary"},
			{signDictionary{hook: "blocks.2.hook_resid_psot", d: d, out: d}, `no hook point "blocks.2.hook_resid_psot"`},
			{signDictionary{hook: "blocks.1.hook_resid_post", d: d, out: d - 1}, "decoder gives"},
			{signDictionary{hook: "blocks.1.hook_resid_post", d: d + 1, out: d + 1}, "blocks.1.hook_resid_post"},
		} {
			if err := m.Attach(c.d); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Attach(%+v): %v, want an error containing %q", c.d, err, c.want)
			}
		}
	})
}

// oneHot is 1 at unit i of the last axis, broadcast over the others.
func oneHot(x *Node, i int) *Node {
	dims := x.Shape().Dimensions
	n := dims[len(dims)-1]
	v := make([]float32, n)
	v[i] = 1
	shape := make([]int, len(dims))
	for i := range shape {
		shape[i] = 1
	}
	shape[len(shape)-1] = n
	return BroadcastToDims(Reshape(Const(x.Graph(), v), shape...), dims...)
}

func maxAbs(a []float32) float64 {
	var m float64
	for _, v := range a {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

func dictDiff(a, b []float32) float64 {
	d, _ := maxDiff(a, b)
	return d
}
