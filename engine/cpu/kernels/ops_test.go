package kernels_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/glia-dev/glia/engine/cpu/kernels"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func backend(t *testing.T) compute.Backend {
	t.Helper()
	be, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	if r := kernels.Install(be); len(r.Installed) < 2 {
		t.Skipf("kernels not installed: %s", r)
	}
	return be
}

func randn(r *rand.Rand, scale float64, dims ...int) ([]float32, *tensors.Tensor) {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(scale * r.NormFloat64())
	}
	return v, tensors.FromFlatDataAndDimensions(v, dims...)
}

// TestOps runs each op glia replaces through a GoMLX graph, compares it
// with a float64 reference, and checks glia's kernel (not the stock
// fallback) ran.
func TestOps(t *testing.T) {
	be := backend(t)
	r := rand.New(rand.NewPCG(5, 6))
	x, xt := randn(r, 3, 4, 6, 40)
	bias, bt := randn(r, 1, 40)
	y, yt := randn(r, 1, 4, 6, 40)
	for _, c := range []struct {
		name string
		op   compute.OpType
		fn   func(x, y, b *Node) *Node
		want func(i int, idx []int) float64 // idx into [4,6,40] of the output, for same-shape outputs
		dims []int
	}{
		{"gelu", compute.OpTypeFusedGelu, func(x, y, b *Node) *Node { return BackendFusedGelu(x, false) },
			func(i int, _ []int) float64 {
				v := float64(x[i])
				return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
			}, []int{4, 6, 40}},
		{"add", compute.OpTypeAdd, func(x, y, b *Node) *Node { return Add(x, y) },
			func(i int, _ []int) float64 { return float64(x[i]) + float64(y[i]) }, []int{4, 6, 40}},
		{"add bias", compute.OpTypeAdd, func(x, y, b *Node) *Node { return Add(x, ExpandLeftToRank(b, 3)) },
			func(i int, idx []int) float64 { return float64(x[i]) + float64(bias[idx[2]]) }, []int{4, 6, 40}},
		{"bias add", compute.OpTypeAdd, func(x, y, b *Node) *Node { return Add(ExpandLeftToRank(b, 3), x) },
			func(i int, idx []int) float64 { return float64(x[i]) + float64(bias[idx[2]]) }, []int{4, 6, 40}},
		{"sigmoid", compute.OpTypeLogistic, func(x, y, b *Node) *Node { return Sigmoid(x) },
			func(i int, _ []int) float64 { return 1 / (1 + math.Exp(-float64(x[i]))) }, []int{4, 6, 40}},
		{"silu", compute.OpTypeLogistic, func(x, y, b *Node) *Node { return Mul(x, Logistic(x)) },
			func(i int, _ []int) float64 { v := float64(x[i]); return v / (1 + math.Exp(-v)) }, []int{4, 6, 40}},
		{"mul", compute.OpTypeMul, func(x, y, b *Node) *Node { return Mul(x, y) },
			func(i int, _ []int) float64 { return float64(x[i]) * float64(y[i]) }, []int{4, 6, 40}},
		{"mul bias", compute.OpTypeMul, func(x, y, b *Node) *Node { return Mul(x, ExpandLeftToRank(b, 3)) },
			func(i int, idx []int) float64 { return float64(x[i]) * float64(bias[idx[2]]) }, []int{4, 6, 40}},
		{"bias mul", compute.OpTypeMul, func(x, y, b *Node) *Node { return Mul(ExpandLeftToRank(b, 3), x) },
			func(i int, idx []int) float64 { return float64(x[i]) * float64(bias[idx[2]]) }, []int{4, 6, 40}},
		{"scalar mul", compute.OpTypeMul, func(x, y, b *Node) *Node { return Mul(Scalar(x.Graph(), dtypes.Float32, 0.125), x) },
			func(i int, _ []int) float64 { return float64(x[i]) * 0.125 }, []int{4, 6, 40}},
		{"softmax", compute.OpTypeFusedSoftmax, func(x, y, b *Node) *Node { return Softmax(x, -1) },
			func(i int, idx []int) float64 {
				row := x[i-idx[2] : i-idx[2]+40]
				m := math.Inf(-1)
				for _, v := range row {
					m = max(m, float64(v))
				}
				var s float64
				for _, v := range row {
					s += math.Exp(float64(v) - m)
				}
				return math.Exp(float64(x[i])-m) / s
			}, []int{4, 6, 40}},
		{"layer norm", compute.OpTypeFusedLayerNorm, func(x, y, b *Node) *Node {
			return BackendFusedLayerNorm(x, []int{2}, 1e-5, OnePlus(b), b)
		}, func(i int, idx []int) float64 {
			row := x[i-idx[2] : i-idx[2]+40]
			var mean, v float64
			for _, e := range row {
				mean += float64(e) / 40
			}
			for _, e := range row {
				v += (float64(e) - mean) * (float64(e) - mean) / 40
			}
			return (float64(x[i])-mean)/math.Sqrt(v+1e-5)*(1+float64(bias[idx[2]])) + float64(bias[idx[2]])
		}, []int{4, 6, 40}},
		{"transpose", compute.OpTypeTranspose, func(x, y, b *Node) *Node { return TransposeAllAxes(x, 1, 0, 2) },
			func(_ int, idx []int) float64 { return float64(x[idx[1]*6*40+idx[0]*40+idx[2]]) }, []int{6, 4, 40}},
		{"slice", compute.OpTypeSlice, func(x, y, b *Node) *Node { return Slice(x, AxisRange(1, 3), AxisRange(2, 5), AxisRange(7, 30)) },
			func(_ int, idx []int) float64 { return float64(x[(1+idx[0])*6*40+(2+idx[1])*40+7+idx[2]]) }, []int{2, 3, 23}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := kernels.Handled(c.op)
			e := MustNewExec(be, c.fn)
			out := e.MustExec(xt, yt, bt)[0]
			if got := out.Shape().Dimensions; len(got) != len(c.dims) {
				t.Fatalf("shape %v, want %v", got, c.dims)
			}
			got := tensors.MustCopyFlatData[float32](out)
			var maxDiff float64
			idx := make([]int, len(c.dims))
			for i, g := range got {
				rem := i
				for ax := len(c.dims) - 1; ax >= 0; ax-- {
					idx[ax] = rem % c.dims[ax]
					rem /= c.dims[ax]
				}
				w := c.want(i, idx)
				maxDiff = max(maxDiff, math.Abs(float64(g)-w)/max(1, math.Abs(w)))
			}
			t.Logf("max diff vs float64: %.3g", maxDiff)
			if maxDiff > 2e-6 {
				t.Errorf("max diff %.3g", maxDiff)
			}
			if kernels.Handled(c.op) == before {
				t.Errorf("glia's %s kernel did not run (stock fallback taken)", c.name)
			}
		})
	}
	_ = dtypes.Float32
}

// TestTranspose compares every kind of transpose with a direct reference:
// the last axis staying (row copies) or moving (blocked 2-D transposes),
// odd sizes, and shapes glia's kernel leaves to the stock one.
func TestTranspose(t *testing.T) {
	be := backend(t)
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct {
		dims, perm []int
		ours       bool // glia's kernel, not the stock fallback, should run
	}{
		{[]int{5, 7}, []int{1, 0}, true},
		{[]int{16, 24}, []int{1, 0}, true},
		{[]int{67, 130}, []int{1, 0}, true},
		{[]int{5, 7, 3}, []int{0, 2, 1}, true},
		{[]int{5, 7, 3}, []int{1, 0, 2}, true},
		{[]int{5, 7, 3}, []int{1, 2, 0}, true},
		{[]int{5, 7, 3}, []int{2, 0, 1}, true},
		{[]int{5, 7, 3}, []int{2, 1, 0}, true},
		{[]int{9, 17, 11}, []int{2, 1, 0}, true},
		{[]int{2, 9, 3, 17}, []int{0, 2, 3, 1}, true},
		{[]int{8, 128, 12, 64}, []int{0, 2, 3, 1}, true},
		{[]int{8, 128, 12, 64}, []int{0, 2, 1, 3}, true},
		{[]int{3, 10, 4, 9}, []int{3, 1, 0, 2}, true},
		{[]int{3, 10, 4, 9}, []int{1, 3, 2, 0}, true},
		{[]int{1, 1, 8, 1}, []int{3, 2, 1, 0}, true},
		{[]int{2, 3, 2, 3, 5}, []int{4, 0, 3, 1, 2}, true},
		{[]int{0, 5}, []int{1, 0}, false},
		{[]int{6}, []int{0}, false},
	} {
		t.Run(fmt.Sprint(c.dims, c.perm), func(t *testing.T) {
			x, xt := randn(r, 1, c.dims...)
			before := kernels.Handled(compute.OpTypeTranspose)
			e := MustNewExec(be, func(x *Node) *Node { return TransposeAllAxes(x, c.perm...) })
			out := e.MustExec(xt)[0]
			outDims := out.Shape().Dimensions
			rank := len(c.dims)
			inStride := make([]int, rank)
			s := 1
			for ax := rank - 1; ax >= 0; ax-- {
				inStride[ax] = s
				s *= c.dims[ax]
			}
			got := tensors.MustCopyFlatData[float32](out)
			if len(got) != len(x) {
				t.Fatalf("%d elements, want %d", len(got), len(x))
			}
			idx := make([]int, rank)
			for i, g := range got {
				rem, src := i, 0
				for ax := rank - 1; ax >= 0; ax-- {
					idx[ax] = rem % outDims[ax]
					rem /= outDims[ax]
					src += idx[ax] * inStride[c.perm[ax]]
				}
				if g != x[src] {
					t.Fatalf("out%v = %v, want %v", idx, g, x[src])
				}
			}
			if ran := kernels.Handled(compute.OpTypeTranspose) > before; ran != c.ours {
				t.Errorf("glia's transpose ran: %v, want %v", ran, c.ours)
			}
		})
	}
}

// TestWhere checks Where(condition, onTrue, onFalse) on float32 against a
// direct reference, with full and scalar values, and that a scalar
// condition is left to the stock executor.
func TestWhere(t *testing.T) {
	be := backend(t)
	r := rand.New(rand.NewPCG(9, 10))
	for _, c := range []struct {
		name                   string
		dims                   []int
		scalarT, scalarF, cond bool // scalar onTrue / onFalse / condition
		ours                   bool
	}{
		{"mask", []int{2, 3, 17, 17}, false, true, false, true},
		{"both full", []int{5, 7, 3}, false, false, false, true},
		{"scalar onTrue", []int{5, 7, 3}, true, false, false, true},
		{"both scalar", []int{4, 33}, true, true, false, true},
		{"rank 1", []int{9}, false, true, false, true},
		{"big", []int{8, 12, 64, 128}, false, true, false, true},
		{"scalar condition (stock)", []int{5, 7}, false, false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := 1
			for _, d := range c.dims {
				n *= d
			}
			a, at := randn(r, 1, c.dims...)
			b, bt := randn(r, 1, c.dims...)
			cond := make([]bool, n)
			for i := range cond {
				cond[i] = r.IntN(2) == 0
			}
			ct := tensors.FromFlatDataAndDimensions(cond, c.dims...)
			if c.cond {
				ct = tensors.FromScalar(true)
			}
			before := kernels.Handled(compute.OpTypeWhere)
			e := MustNewExec(be, func(cn, x, y *Node) *Node {
				if c.scalarT {
					x = Scalar(x.Graph(), dtypes.Float32, 2.5)
				}
				if c.scalarF {
					y = Scalar(y.Graph(), dtypes.Float32, -3.4e38)
				}
				return Where(cn, x, y)
			})
			got := tensors.MustCopyFlatData[float32](e.MustExec(ct, at, bt)[0])
			if len(got) != n {
				t.Fatalf("%d elements, want %d", len(got), n)
			}
			for i, g := range got {
				want := b[i]
				if c.scalarF {
					want = -3.4e38
				}
				if c.cond || cond[i] {
					want = a[i]
					if c.scalarT {
						want = 2.5
					}
				}
				if g != want {
					t.Fatalf("out[%d] = %v, want %v", i, g, want)
				}
			}
			if ran := kernels.Handled(compute.OpTypeWhere) > before; ran != c.ours {
				t.Errorf("glia's where ran: %v, want %v", ran, c.ours)
			}
		})
	}
}
