package sae

import (
	"fmt"
	"math"

	"github.com/glia-dev/glia/hook"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// SpliceMode says what replaces a hook's value when an SAE is spliced into
// the forward pass.
type SpliceMode int

const (
	// KeepError replaces x by x̂ + (x − x̂): the model computes exactly what
	// it computed unedited, while the features exist in the graph (the
	// property interventions on features rely on).
	KeepError SpliceMode = iota
	// Reconstruct replaces x by x̂: what the CE-loss score measures.
	Reconstruct
	// Zero replaces x by zeros: the ablation the CE-loss score is scaled by.
	Zero
)

// Splice returns a hook function that runs x through the SAE inside the
// graph. The hook's value is [batch, pos, ...] with the trailing axes
// flattened to d_in (hook_z's heads are concatenated, as SAELens's
// reshape_activations "hook_z" does). Only normalize_activations none and
// expected_average_only_in (already folded into the weights when SAELens
// saves) are spliced; others are refused before any graph is built.
func (s *SAE) Splice(mode SpliceMode) (hook.Fn, error) {
	switch s.Cfg.NormalizeActivations {
	case "none", "expected_average_only_in":
	default:
		return nil, fmt.Errorf("sae: splicing an SAE with normalize_activations %q is not supported", s.Cfg.NormalizeActivations)
	}
	if err := s.checkShapes(); err != nil {
		return nil, err
	}
	d, n := s.Cfg.DIn, s.Cfg.DSAE
	var invNorm []float32
	if s.Cfg.Architecture == TopK && s.Cfg.RescaleActsByDecNorm {
		invNorm = rowNorms(s.WDec, n, d)
	}
	return func(x *graph.Node) *graph.Node {
		g := x.Graph()
		dims := x.Shape().Dimensions
		if mode == Zero {
			return graph.ZerosLike(x)
		}
		rows := 1
		for _, v := range dims[:2] {
			rows *= v
		}
		if rows*d != x.Shape().Size() {
			panic(fmt.Sprintf("sae: hook value %v does not flatten to rows of d_in %d", dims, d))
		}
		c := func(data []float32, shape ...int) *graph.Node {
			return graph.ConstTensor(g, tensors.FromFlatDataAndDimensions(data, shape...))
		}
		in := graph.Reshape(graph.ConvertDType(x, dtypes.Float32), rows, d)
		sIn := in
		if s.Cfg.ApplyBDecToInput {
			sIn = graph.Sub(in, c(s.BDec, 1, d))
		}
		pre := graph.Add(graph.MatMul(sIn, c(s.WEnc, d, n)), c(s.BEnc, 1, n))
		var acts *graph.Node
		zero := graph.ZerosLike(pre)
		switch s.Cfg.Architecture {
		case Standard:
			acts = graph.Max(pre, zero)
		case JumpReLU:
			acts = graph.Where(graph.GreaterThan(pre, c(s.Threshold, 1, n)), graph.Max(pre, zero), zero)
		case TopK:
			if invNorm != nil {
				pre = graph.Mul(pre, c(invNorm, 1, n))
			}
			acts = graph.Where(graph.GreaterOrEqual(pre, kthLargest(pre, s.Cfg.K)), graph.Max(pre, zero), zero)
			if invNorm != nil {
				inv := make([]float32, n)
				for i, v := range invNorm {
					inv[i] = 1 / v
				}
				acts = graph.Mul(acts, c(inv, 1, n))
			}
		}
		recon := graph.Add(graph.MatMul(acts, c(s.WDec, n, d)), c(s.BDec, 1, d))
		if mode == KeepError {
			recon = graph.Add(recon, graph.Sub(in, recon))
		}
		return graph.ConvertDType(graph.Reshape(recon, dims...), x.DType())
	}, nil
}

// kthLargest is each row's k-th largest value [rows, 1], found by taking
// and suppressing the row maximum k times: on the CPU backend this is far
// faster than TopK's sort. Exact ties select together (the host Encode
// breaks them by index).
func kthLargest(x *graph.Node, k int) *graph.Node {
	ninf := graph.Scalar(x.Graph(), x.DType(), math.Inf(-1))
	var m *graph.Node
	for i := range k {
		m = graph.ReduceAndKeep(x, graph.ReduceMax, -1)
		if i < k-1 {
			x = graph.Where(graph.Equal(x, m), graph.BroadcastToShape(ninf, x.Shape()), x)
		}
	}
	return m
}
