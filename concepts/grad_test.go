package concepts

import (
	"math"
	"testing"

	"github.com/glia-dev/glia/engine"
	. "github.com/gomlx/gomlx/core/graph"
)

// TestNextTokenProbGradient: the target that reads the token ids and mask
// inside the graph gives the same value's gradients as the same target
// built with the labels and weights as constants (one graph per batch),
// on a batch with a padded row.
func TestNextTokenProbGradient(t *testing.T) {
	m, err := engine.Load(udhrModel)
	if err != nil {
		t.Fatal(err)
	}
	rows := [][]int32{{5, 17, 300, 42, 9, 77}, {8, 1000, 3, 2}}
	ids := [][]int32{rows[0], {8, 1000, 3, 2, 0, 0}}
	mask := [][]bool{{true, true, true, true, true, true}, {true, true, true, true, false, false}}
	hook := "blocks.0.mlp.hook_post"
	got, err := m.Run(engine.Request{IDs: ids, Mask: mask, Hooks: []string{hook}, Grad: nextTokenProb(m.BOS())})
	if err != nil {
		t.Fatal(err)
	}
	vocab := m.Dims().Vocab
	onehot := make([]float32, 2*5*vocab)
	weight := make([]float32, 2*5)
	for b, r := range rows {
		for p := 0; p+1 < len(r); p++ {
			onehot[(b*5+p)*vocab+int(r[p+1])] = 1
			weight[b*5+p] = 1 / float32(len(r)-1)
		}
	}
	want, err := m.Run(engine.Request{IDs: ids, Mask: mask, Hooks: []string{hook}, Grad: &engine.GradTarget{Key: "test:const", Fn: func(logits *Node) *Node {
		g := logits.Graph()
		probs := Softmax(SliceAxis(logits, 1, AxisRange(0, 5)), -1)
		p := ReduceSum(Mul(probs, Reshape(Const(g, onehot), 2, 5, vocab)), -1)
		return ReduceAllSum(Mul(p, Reshape(Const(g, weight), 2, 5)))
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var worst, scale float64
	for i, v := range want.Grads[hook].Data {
		worst = math.Max(worst, math.Abs(float64(got.Grads[hook].Data[i]-v)))
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	if scale == 0 || worst > 1e-6*math.Max(scale, 1) {
		t.Errorf("gradients differ by %g (largest %g)", worst, scale)
	}
}
