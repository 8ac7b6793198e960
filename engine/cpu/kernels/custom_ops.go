package kernels

import (
	"os"
	"strconv"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
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
// Only float32 graphs on the Go backend with glia's kernels installed get
// there: elsewhere (other backends, other dtypes, -tags nokernels) each of
// these functions returns nil before building anything, and the caller
// builds the graph-op form.

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
// (vecmath.GeluTanhGrad), as one op; nil where custom ops are unavailable.
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
// row: logits [..., V], targets [...] (integer class indices), the result
// shaped as targets. One pass (vecmath.CrossEntropyRow), with a gradient
// for logits in one more (vecmath.CrossEntropyGradRow).
func CrossEntropy(logits, targets *graph.Node) *graph.Node {
	if !usable(logits) {
		return nil
	}
	return custom(customOp{kind: opCrossEntropy}, logits, graph.ConvertDType(targets, dtypes.Float32))
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

// usable reports whether custom ops can take these inputs: available in
// their graph, all float32.
func usable(inputs ...*graph.Node) bool {
	if !Available(inputs[0].Graph()) {
		return false
	}
	for _, x := range inputs {
		if x.DType() != dtypes.Float32 {
			return false
		}
	}
	return true
}

// custom builds op over inputs (the attention op's three operands, the
// last repeated when fewer), or returns nil where it is not usable.
func custom(op customOp, inputs ...*graph.Node) *graph.Node {
	if !usable(inputs...) {
		return nil
	}
	cfg := &compute.ScaledDotProductAttentionConfig{Mask: &op}
	for len(inputs) < 3 {
		inputs = append(inputs, inputs[len(inputs)-1])
	}
	out, _ := graph.BackendFusedScaledDotProductAttention(inputs[0], inputs[1], inputs[2], compute.AttentionAxesLayoutBSHD, cfg)
	return out
}
