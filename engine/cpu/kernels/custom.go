//go:build !nokernels

package kernels

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"

	"github.com/glia-dev/glia/engine/cpu/vecmath"
)

// buildCustom checks the inputs of a custom op and adds its node.
func buildCustom(f unsafe.Pointer, op customOp, like compute.Value, values ...compute.Value) (compute.Value, error) {
	in, err := verifyAndCastValues(f, "glia custom op", values...)
	if err != nil {
		return nil, err
	}
	for _, x := range in {
		if x.Shape.DType != dtypes.Float32 {
			return nil, notImplemented(fmt.Sprintf("custom op %d: input %s is not float32", op.kind, x.Shape))
		}
	}
	var shape shapes.Shape
	switch op.kind {
	case opGeluTanhGrad:
		if !in[0].Shape.Equal(in[1].Shape) || !in[0].Shape.Equal(in[2].Shape) {
			return nil, fmt.Errorf("glia GELU gradient: x %s, y %s and v %s differ", in[0].Shape, in[1].Shape, in[2].Shape)
		}
		shape = in[0].Shape.Clone()
	case opLayerNormGrad, opLayerNormParamGrad:
		x, dy := in[0], in[1]
		if op.hasGamma {
			dy = in[2]
		}
		d := x.Shape.Dim(-1)
		if x.Shape.Rank() < 1 || !dy.Shape.Equal(x.Shape) || (op.hasGamma && (in[1].Shape.Rank() != 1 || in[1].Shape.Dim(0) != d)) {
			return nil, fmt.Errorf("glia layer norm gradient: x %s, gradient %s, gain %v", x.Shape, dy.Shape, op.hasGamma)
		}
		shape = x.Shape.Clone()
		if op.kind == opLayerNormParamGrad {
			shape = shapes.Make(dtypes.Float32, 2, d)
		}
	case opCrossEntropy:
		logits, targets := in[0], in[1]
		if r := logits.Shape.Rank(); r < 1 || targets.Shape.Rank() != r-1 || !slices.Equal(logits.Shape.Dimensions[:r-1], targets.Shape.Dimensions) || logits.Shape.Dim(-1) == 0 {
			return nil, fmt.Errorf("glia cross-entropy: logits %s and targets %s", logits.Shape, targets.Shape)
		}
		shape = targets.Shape.Clone()
	default:
		return nil, fmt.Errorf("glia custom op %d: unknown", op.kind)
	}
	n := newNode(f, compute.OpTypeFusedScaledDotProductAttention, shape, in...)
	n.Data = &op
	return asValue(like, n), nil
}

func execCustom(backend unsafe.Pointer, n *node, op *customOp, inputs []*buffer) (*buffer, error) {
	xs, err := flatInputs(fmt.Sprintf("glia custom op %d", op.kind), inputs)
	if err != nil {
		return nil, err
	}
	outs, ys, err := newOutputs(backend, n.Shape)
	if err != nil {
		return nil, err
	}
	out, y := outs[0], ys[0]
	switch op.kind {
	case opGeluTanhGrad:
		x, g, v := xs[0], xs[1], xs[2]
		vecmath.ParallelFor(len(y), elementsPerTask, func(lo, hi int) { vecmath.GeluTanhGrad(y[lo:hi], x[lo:hi], g[lo:hi], v[lo:hi]) })
	case opLayerNormGrad:
		x, dy := xs[0], xs[1]
		var gamma []float32
		if op.hasGamma {
			gamma, dy = xs[1], xs[2]
		}
		d := n.Shape.Dim(-1)
		vecmath.ParallelFor(len(x)/d, max(1, elementsPerTask/d), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				vecmath.LayerNormGradRow(y[r*d:(r+1)*d], x[r*d:(r+1)*d], gamma, dy[r*d:(r+1)*d], op.eps)
			}
		})
	case opLayerNormParamGrad:
		layerNormParamGrad(y, xs[0], xs[1], op.eps)
	case opCrossEntropy:
		logits, targets := xs[0], xs[1]
		v := len(logits) / max(len(targets), 1)
		return out, eachTarget(targets, v, func(lo, hi int, t func(int) int) {
			tmp := make([]float32, v)
			for r := lo; r < hi; r++ {
				y[r] = vecmath.CrossEntropyRow(logits[r*v:(r+1)*v], tmp, t(r))
			}
		})
	}
	return out, nil
}

// layerNormParamGrad sums the rows' shares into out [2, d]: each chunk of
// rows into its own partial sums, then the partials in row order, so the
// result does not depend on which goroutine finished first.
func layerNormParamGrad(out, x, dy []float32, eps float64) {
	d := len(out) / 2
	rows := len(x) / max(d, 1)
	var mu sync.Mutex
	partial := map[int][]float32{}
	vecmath.ParallelFor(rows, max(1, elementsPerTask/max(d, 1)), func(lo, hi int) {
		p := make([]float32, 2*d)
		for r := lo; r < hi; r++ {
			vecmath.LayerNormParamGradRow(p[:d], p[d:], x[r*d:(r+1)*d], dy[r*d:(r+1)*d], eps)
		}
		mu.Lock()
		partial[lo] = p
		mu.Unlock()
	})
	clear(out)
	for _, lo := range slices.Sorted(maps.Keys(partial)) {
		vecmath.Add(out, out, partial[lo])
	}
}

// eachTarget runs fn over chunks of rows in parallel, after checking that
// every target is a class index below v.
func eachTarget(targets []float32, v int, fn func(lo, hi int, t func(int) int)) error {
	for r, t := range targets {
		if t < 0 || int(t) >= v || float32(int(t)) != t {
			return fmt.Errorf("glia cross-entropy: target %g of row %d is not a class of %d", t, r, v)
		}
	}
	vecmath.ParallelFor(len(targets), max(1, elementsPerTask/max(v, 1)), func(lo, hi int) {
		fn(lo, hi, func(r int) int { return int(targets[r]) })
	})
	return nil
}

// buildCustomVJP adds the gradient node of a differentiable custom op.
func buildCustomVJP(f unsafe.Pointer, op customOp, q, k, v, out, dOut compute.Value) (compute.Value, compute.Value, compute.Value, error) {
	if op.kind != opCrossEntropy {
		return nil, nil, nil, fmt.Errorf("glia custom op %d has no gradient", op.kind)
	}
	in, err := verifyAndCastValues(f, "glia cross-entropy gradient", q, k, dOut)
	if err != nil {
		return nil, nil, nil, err
	}
	if !in[2].Shape.Equal(in[1].Shape) {
		return nil, nil, nil, fmt.Errorf("glia cross-entropy gradient: %s for a loss of %s", in[2].Shape, in[1].Shape)
	}
	a, b, c := vjpNode(f, q, &customOp{kind: opCrossEntropyGrad}, in, in[0].Shape, in[1].Shape, in[1].Shape)
	return a, b, c, nil
}

func execCustomVJP(backend unsafe.Pointer, n *node, op *customOp, inputs []*buffer) ([]*buffer, error) {
	if op.kind != opCrossEntropyGrad || len(inputs) != 3 {
		return nil, fmt.Errorf("glia custom gradient %d with %d inputs", op.kind, len(inputs))
	}
	xs, err := flatInputs("glia cross-entropy gradient", inputs)
	if err != nil {
		return nil, err
	}
	outs, flat, err := newOutputs(backend, n.MultiOutputsShapes...)
	if err != nil {
		return nil, err
	}
	clear(flat[1])
	clear(flat[2])
	logits, targets, dl, dx := xs[0], xs[1], xs[2], flat[0]
	v := len(logits) / max(len(targets), 1)
	return outs, eachTarget(targets, v, func(lo, hi int, t func(int) int) {
		for r := lo; r < hi; r++ {
			vecmath.CrossEntropyGradRow(dx[r*v:(r+1)*v], logits[r*v:(r+1)*v], dl[r], t(r))
		}
	})
}

// customOf is the custom op an attention options struct carries, or nil.
func customOf(o *compute.ScaledDotProductAttentionConfig) *customOp {
	if o == nil {
		return nil
	}
	op, _ := o.Mask.(*customOp)
	return op
}
