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
	"github.com/gomlx/gomlx/core/graph"

	"github.com/glia-dev/glia/engine/cpu/vecmath"
)

// Glia's own graph ops. A training step's backward pass spends much of
// its element-wise time in gradients that are one pass when written as a
// kernel and a dozen as graph ops (GELU's: thirteen passes over the MLP's
// hidden layer), and compute v0.1.2 has no way to add an op. The
// attention op does carry a pointer to an options struct from the graph
// to the builder glia registers for it (attention.go), so these ops ride
// on it: Custom passes a fresh options struct that the builder finds in
// pending and builds glia's op instead of attention. Only graphs on the Go
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
)

type customOp struct {
	kind     customKind
	eps      float64
	hasGamma bool
}

// pending maps the options struct of a Custom call in progress to its op.
var pending sync.Map

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

func custom(op customOp, inputs ...*graph.Node) *graph.Node {
	g := inputs[0].Graph()
	if !installed.Attention || !IsGoBackend(g.Backend()) {
		panic(notImplemented("custom ops need the Go backend with glia's kernels"))
	}
	cfg := &compute.ScaledDotProductAttentionConfig{}
	pending.Store(cfg, op)
	defer pending.Delete(cfg)
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
