package engine_test

import (
	"testing"

	"github.com/glia-dev/glia/engine"
	. "github.com/gomlx/gomlx/core/graph"
)

// TestInterventionInputs: an intervention whose values are graph inputs
// gives what the same values built in as constants give, and one compiled
// graph serves every value of the same shape.
func TestInterventionInputs(t *testing.T) {
	m, err := engine.Load("../testdata/hf-tiny/gpt2")
	if err != nil {
		t.Fatal(err)
	}
	ids := [][]int32{{1, 2, 3, 4, 5}, {5, 4, 3, 2, 1}}
	const hook = "blocks.0.hook_mlp_out"
	scale := func(x *Node, s *Node) *Node { // row r of x times s[r]
		return Mul(x, BroadcastToDims(Reshape(s, 2, 1, 1), x.Shape().Dimensions...))
	}
	m.ForgetGraphs()
	for i, s := range [][]float32{{0.5, 2}, {-1, 0}, {3, 0.25}} {
		in, err := m.Run(engine.Request{IDs: ids, Interventions: []engine.Intervention{{Hook: hook, Key: "scale",
			Inputs: []engine.Array{{Shape: []int{2}, Data: s}}, FnIn: func(x *Node, in []*Node) *Node { return scale(x, in[0]) }}}})
		if err != nil {
			t.Fatal(err)
		}
		if n := m.Graphs(); n != 1 {
			t.Fatalf("values %d: %d compiled graphs, want 1", i, n)
		}
		c, err := m.Run(engine.Request{IDs: ids, Interventions: []engine.Intervention{{Hook: hook, Key: "const" + string(rune('a'+i)),
			Fn: func(x *Node) *Node { return scale(x, Const(x.Graph(), s)) }}}})
		if err != nil {
			t.Fatal(err)
		}
		if d, at := maxDiff(in.Logits.Data, c.Logits.Data); d != 0 {
			t.Fatalf("values %v: logits differ by %g at %d between inputs and constants", s, d, at)
		}
		m.ForgetGraphs()
		if _, err := m.Run(engine.Request{IDs: ids, Interventions: []engine.Intervention{{Hook: hook, Key: "scale",
			Inputs: []engine.Array{{Shape: []int{2}, Data: s}}, FnIn: func(x *Node, in []*Node) *Node { return scale(x, in[0]) }}}}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = m.Run(engine.Request{IDs: ids, Interventions: []engine.Intervention{{Hook: hook, Key: "bad",
		Inputs: []engine.Array{{Shape: []int{3}, Data: []float32{1}}}, FnIn: func(x *Node, in []*Node) *Node { return x }}}})
	if err == nil {
		t.Error("an input with 1 value for shape [3]: no error")
	}
}
