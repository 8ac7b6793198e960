package train

import (
	"math"

	"github.com/glia-dev/glia/engine/cpu/vecmath"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// AdamW on the host, for the pure-Go backend.
//
// In the graph, AdamW is twelve element-wise passes over every weight, each
// writing a new buffer, plus new weight and moment buffers each step. On
// the Go backend the weights and moments are host memory anyway, so the
// step graph returns the loss, the gradient norm and the gradients, and
// vecmath.AdamW updates weights and moments in place in one pass. It performs
// the graph's float32 operations in the graph's order, each rounded to
// float32 (the conversions keep Go from fusing a multiply and an add), so
// both paths give the same bits (TestHostAdamWMatchesGraph); a non-finite
// loss or norm is caught before anything is written.

// gradGraph is a step's gradients. Inputs: ids, targets, mask, then the
// weights (t.specs order). Outputs: loss, gradient norm, the gradients.
func (t *Trainer) gradGraph(in []*Node) []*Node {
	loss, norm, grads, _ := t.lossGrads(in[0], in[1], in[2], in[3:])
	return append([]*Node{loss, norm}, grads...)
}

// adamHost updates the weights and moments in place from the step's
// gradients and their global norm.
func (t *Trainer) adamHost(grads []*tensors.Tensor, norm, lr float64, bc1, bc2 float32) {
	c := adamCoefs(t.Hyper, float32(norm), float32(lr), bc1, bc2)
	for i := range t.w {
		c.Decay = 0
		if t.decay[i] {
			c.Decay = float32(1 - float32(float32(lr)*float32(t.Hyper.WeightDecay)))
		}
		var g []float32
		tensors.MustConstFlatData(grads[i], func(f []float32) { g = f })
		tensors.MustMutableFlatData(t.m[i], func(m []float32) {
			tensors.MustMutableFlatData(t.v[i], func(v []float32) {
				tensors.MustMutableFlatData(t.w[i], func(w []float32) {
					vecmath.ParallelFor(len(w), 1<<14, func(lo, hi int) { vecmath.AdamW(w[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], c) })
				})
			})
		})
	}
}

// adamCoefs are the step's scalars, each rounded to float32 where the
// graph's AdamW (step.go) rounds it; Decay is set per weight.
func adamCoefs(h Hyper, norm, lr, bc1, bc2 float32) vecmath.AdamWCoef {
	s := float32(1) // clipScale: min(clip/(norm+1e-6), 1)
	if h.Clip > 0 {
		s = min(float32(h.Clip)/float32(norm+float32(1e-6)), 1)
	}
	sb := float32(math.Sqrt(float64(bc2))) // correctly rounded, as the graph's Sqrt
	return vecmath.AdamWCoef{
		B1: float32(h.Beta1), B2: float32(h.Beta2),
		C1:        float32(s * float32(1-h.Beta1)),
		C2:        float32(float32(s*s) * float32(1-h.Beta2)),
		EpsB:      float32(sb * float32(h.Eps)),
		StepScale: float32(float32(lr*sb) / bc1),
	}
}
