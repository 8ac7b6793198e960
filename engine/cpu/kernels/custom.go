//go:build !nokernels

package kernels

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"

	"github.com/glia-dev/glia/engine/cpu/vecmath"
)

// Glia's own graph ops. A training step's backward pass spends much of
// its element-wise time in gradients that are one pass when written as a
// kernel and a dozen as graph ops (GELU's: thirteen passes over the MLP's
// hidden layer), and compute v0.1.2 has no way to add an op. The
// attention op does carry a pointer to an options struct from the graph
// to the builder glia registers for it (attention.go), so these ops ride
// on it: custom passes an options struct whose Mask (an untyped
// compute.Value) is the op, and the builder, finding it there, builds
// glia's op instead of attention, as the VJP builder does its gradient.
// Only graphs on the Go
// backend with glia's kernels installed get there; anything else gets
// compute.ErrNotImplemented from Custom before a node is built, and the
// caller builds the graph-op form.

type customKind int

const (
	// opGeluTanhGrad(x, y, v) = v·GELU'(x), tanh form, y = GELU(x).
	opGeluTanhGrad customKind = iota + 1
	// opLayerNormGrad(x, [gamma,] dy) = the input gradient over the last axis.
	opLayerNormGrad
	// opLayerNormParamGrad(x, dy) = [2, d]: the gain's gradient, then the bias's.
	opLayerNormParamGrad
	// opCrossEntropy(logits, targets) = −log softmax(logits)[target] per
	// row; differentiable (opCrossEntropyGrad).
	opCrossEntropy
	// opCrossEntropyGrad(logits, targets, dLoss) = dLoss·(softmax − onehot),
	// then zeros for the targets (a VJP node: three outputs).
	opCrossEntropyGrad
)

type customOp struct {
	kind     customKind
	eps      float64
	hasGamma bool
}

// GeluTanhGrad is v·GELU'(x) for GELU's tanh form, given y = GELU(x)
// (vecmath.GeluTanhGrad), as one op. It panics with
// compute.ErrNotImplemented where x's graph does not run glia's kernels.
func GeluTanhGrad(x, y, v *graph.Node) *graph.Node {
	return custom(customOp{kind: opGeluTanhGrad}, x, y, v)
}

// LayerNormGrad is the gradient with respect to x of a layer norm over
// x's last axis with gain gamma (nil: none) and epsilon eps, given dy, the
// gradient with respect to its output (vecmath.LayerNormGradRow).
func LayerNormGrad(x, gamma, dy *graph.Node, eps float64) *graph.Node {
	if gamma == nil {
		return custom(customOp{kind: opLayerNormGrad, eps: eps}, x, dy)
	}
	return custom(customOp{kind: opLayerNormGrad, eps: eps, hasGamma: true}, x, gamma, dy)
}

// LayerNormParamGrad is [2, d]: the gradients of that layer norm's gain
// and bias, summed over every row of x (vecmath.LayerNormParamGradRow).
func LayerNormParamGrad(x, dy *graph.Node, eps float64) *graph.Node {
	return custom(customOp{kind: opLayerNormParamGrad, eps: eps}, x, dy)
}

// CrossEntropy is −log softmax(logits)[target] over the last axis, per
// row: logits [..., V], targets [...] (float32 class indices), the result
// shaped as targets. One pass (vecmath.CrossEntropyRow), with a gradient
// for logits in one more (vecmath.CrossEntropyGradRow).
func CrossEntropy(logits, targets *graph.Node) *graph.Node {
	return custom(customOp{kind: opCrossEntropy}, logits, targets)
}

// Available reports whether g's graphs run glia's custom ops: the Go
// backend with glia's kernels, and GoMLX's fused ops not switched off
// ($GOMLX_FUSION=false, which tests use to build the graph-op forms).
func Available(g *graph.Graph) bool {
	if v, err := strconv.ParseBool(os.Getenv(graph.FusionEnv)); err == nil && !v {
		return false
	}
	return installed.Attention && IsGoBackend(g.Backend())
}

func custom(op customOp, inputs ...*graph.Node) *graph.Node {
	if !Available(inputs[0].Graph()) {
		panic(notImplemented("custom ops need the Go backend with glia's kernels"))
	}
	cfg := &compute.ScaledDotProductAttentionConfig{Mask: &op}
	for len(inputs) < 3 {
		inputs = append(inputs, inputs[len(inputs)-1])
	}
	out, _ := graph.BackendFusedScaledDotProductAttention(inputs[0], inputs[1], inputs[2], compute.AttentionAxesLayoutBSHD, cfg)
	return out
}

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
	xs := make([][]float32, len(inputs))
	for i, b := range inputs {
		var ok bool
		if xs[i], ok = float32s(b); !ok {
			return nil, fmt.Errorf("glia custom op %d: input %d is %s", op.kind, i, b.RawShape)
		}
	}
	out, err := getBuffer(backend, n.Shape)
	if err != nil {
		return nil, err
	}
	y, _ := float32s(out)
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
	n := newMultiOutputsNode(f, compute.OpTypeFusedScaledDotProductAttentionVJP,
		[]shapes.Shape{in[0].Shape.Clone(), in[1].Shape.Clone(), in[1].Shape.Clone()}, in...)
	n.Data = &customOp{kind: opCrossEntropyGrad}
	o := n.MultiOutputsNodes
	return asValue(q, (*node)(o[0])), asValue(q, (*node)(o[1])), asValue(q, (*node)(o[2])), nil
}

func execCustomVJP(backend unsafe.Pointer, n *node, op *customOp, inputs []*buffer) ([]*buffer, error) {
	if op.kind != opCrossEntropyGrad || len(inputs) != 3 {
		return nil, fmt.Errorf("glia custom gradient %d with %d inputs", op.kind, len(inputs))
	}
	xs := make([][]float32, 3)
	for i, b := range inputs {
		var ok bool
		if xs[i], ok = float32s(b); !ok {
			return nil, fmt.Errorf("glia cross-entropy gradient: input %d is %s", i, b.RawShape)
		}
	}
	outs := make([]*buffer, 3)
	flat := make([][]float32, 3)
	for i, s := range n.MultiOutputsShapes {
		var err error
		if outs[i], err = getBuffer(backend, s); err != nil {
			return nil, err
		}
		flat[i], _ = float32s(outs[i])
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
