//go:build !nokernels

package kernels

import (
	"fmt"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapeinference"

	"github.com/glia-dev/glia/engine/cpu/sgemm"
)

// DotGeneral layouts that compute v0.1.2's builder rewrites before its
// matmul sees them. It normalises every product to [b, m, k]·[b, k, n] or
// ·[b, n, k] with graph nodes: a Reshape to merge several contracting axes
// (a copy when the operand has other readers) and Transposes when the
// contracting axes lead. A weight gradient, Xᵀ·dY over every token of a
// [batch, pos, d] activation, gets both, over activation-sized tensors.
// glia's builder takes those products as they lie: contiguous axes are one
// axis in memory, and a left operand whose contracting axes lead is A
// stored transposed, which sgemm transposes while packing it (MatMulTransA).
// Every other DotGeneral goes to compute's builder, and from there to
// glia's matmul as before.

type dotBuilder func(f unsafe.Pointer, lhs compute.Value, lhsContracting, lhsBatch []int,
	rhs compute.Value, rhsContracting, rhsBatch []int, cfg compute.DotGeneralConfig) (compute.Value, error)

//go:linkname regDot github.com/gomlx/compute/internal/gobackend.RegisterDotGeneral
var regDot registration[dotBuilder]

//go:linkname stockDotBuild github.com/gomlx/compute/internal/gobackend/dot.DotGeneral
func stockDotBuild(f unsafe.Pointer, lhs compute.Value, lhsContracting, lhsBatch []int,
	rhs compute.Value, rhsContracting, rhsBatch []int, cfg compute.DotGeneralConfig) (compute.Value, error)

//go:linkname stockExecDot github.com/gomlx/compute/internal/gobackend/dot.execDotGeneral
func stockExecDot(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

// flatDot is the node data of glia's DotGeneral nodes: batch products of
// lhs [m, k] (transA: [k, m]) and rhs [k, n] (transB: [n, k]).
type flatDot struct {
	batch, m, n, k int
	transA, transB bool
}

func installDotGeneral() {
	regDot.Fn, regDot.Priority = buildDot, priorityUser
	setNodeExecutor(compute.OpTypeDotGeneral, priorityUser, execDot)
}

func buildDot(f unsafe.Pointer, lhsV compute.Value, lc, lb []int, rhsV compute.Value, rc, rb []int, cfg compute.DotGeneralConfig) (compute.Value, error) {
	in, err := verifyAndCastValues(f, "DotGeneral", lhsV, rhsV)
	if err != nil {
		return nil, err
	}
	if d, ok := flatLayout(in[0], lc, lb, in[1], rc, rb, cfg); ok {
		out, err := shapeinference.DotGeneral(in[0].Shape, lc, lb, in[1].Shape, rc, rb, cfg)
		if err != nil {
			return nil, err
		}
		if out.Size() != d.batch*d.m*d.n {
			return nil, fmt.Errorf("glia DotGeneral: output %s for %d products of %dx%d", out, d.batch, d.m, d.n)
		}
		n := newNode(f, compute.OpTypeDotGeneral, out, in...)
		n.Data = &d
		return asValue(lhsV, n), nil
	}
	return stockDotBuild(f, lhsV, lc, lb, rhsV, rc, rb, cfg)
}

// flatLayout recognises float32 products with leading batch axes and a
// contiguous run of contracting axes, on the left at the end or right
// after the batch axes (transposed), on the right right after the batch
// axes or at the end (transposed), and takes the ones compute would
// reshape or transpose: several contracting axes, or a transposed left.
func flatLayout(lhs *node, lc, lb []int, rhs *node, rc, rb []int, cfg compute.DotGeneralConfig) (flatDot, bool) {
	var d flatDot
	ls, rs := lhs.Shape, rhs.Shape
	if cfg != (compute.DotGeneralConfig{}) || ls.DType != dtypes.Float32 || rs.DType != dtypes.Float32 || ls.IsDynamic() || rs.IsDynamic() {
		return d, false
	}
	nb, nc := len(lb), len(lc)
	if len(rb) != nb || len(rc) != nc || nc == 0 {
		return d, false
	}
	d.batch = 1
	for i := range nb {
		if lb[i] != i || rb[i] != i || ls.Dimensions[i] != rs.Dimensions[i] {
			return d, false
		}
		d.batch *= ls.Dimensions[i]
	}
	d.k = 1
	for i := range nc {
		if lc[i] != lc[0]+i || rc[i] != rc[0]+i || ls.Dimensions[lc[i]] != rs.Dimensions[rc[i]] {
			return d, false
		}
		d.k *= ls.Dimensions[lc[i]]
	}
	rl, rr := ls.Rank(), rs.Rank()
	switch {
	case lc[nc-1] == rl-1: // [b, m…, k…]
	case lc[0] == nb: // [b, k…, m…]
		d.transA = true
	default:
		return d, false
	}
	switch {
	case rc[0] == nb: // [b, k…, n…]
	case rc[nc-1] == rr-1: // [b, n…, k…]
		d.transB = true
	default:
		return d, false
	}
	if !d.transA && nc == 1 {
		return d, false // compute's builder adds nothing here
	}
	d.m = ls.Size() / max(d.batch*d.k, 1)
	d.n = rs.Size() / max(d.batch*d.k, 1)
	return d, d.batch*d.k > 0
}

func execDot(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	d, ok := n.Data.(*flatDot)
	if !ok {
		return stockExecDot(backend, n, inputs, owned)
	}
	lhs, ok1 := float32s(inputs[0])
	rhs, ok2 := float32s(inputs[1])
	if !ok1 || !ok2 || len(inputs) != 2 {
		return nil, fmt.Errorf("glia DotGeneral: inputs %s and %s", inputs[0].RawShape, inputs[1].RawShape)
	}
	out, err := getBuffer(backend, n.Shape)
	if err != nil {
		return nil, err
	}
	y, _ := float32s(out)
	if d.transA {
		sgemm.MatMulTransA(lhs, rhs, y, d.batch, d.m, d.n, d.k, d.transB)
	} else {
		sgemm.MatMul(lhs, rhs, y, d.batch, d.m, d.n, d.k, d.transB)
	}
	handled[n.OpType].Add(1)
	return out, nil
}
