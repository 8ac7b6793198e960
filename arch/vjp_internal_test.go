package arch

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/glia-dev/glia/hook"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	_ "github.com/gomlx/gomlx/backends/default"
)

// TestFusedGeluGradient checks the hand-written FusedGelu gradient against
// autodiff of the primitive form it replaces (same graph, same backend) and
// against the float64 derivative, for both GELU forms.
func TestFusedGeluGradient(t *testing.T) {
	be, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(16, 5))
	const n = 4096
	x := make([]float32, n)
	v := make([]float32, n)
	for i := range x {
		x[i] = float32(3 * r.NormFloat64())
		v[i] = float32(r.NormFloat64())
	}
	x[0], x[1], x[2] = 0, 12, -12 // saturated tails
	tanhGrad := func(x float64) float64 {
		c := math.Sqrt(2 / math.Pi)
		t := math.Tanh(c * (x + 0.044715*x*x*x))
		return 0.5*(1+t) + 0.5*x*(1-t*t)*c*(1+3*0.044715*x*x)
	}
	erfGrad := func(x float64) float64 {
		return 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
	}
	for _, c := range []struct {
		name      string
		fused     func(*Node) *Node
		primitive func(*Node) *Node
		grad      func(float64) float64
	}{
		{"tanh", GeluTanh, geluTanhPrimitive, tanhGrad},
		{"erf", func(x *Node) *Node { return BackendFusedGelu(x, true) }, Gelu, erfGrad},
	} {
		t.Run(c.name, func(t *testing.T) {
			grads := func(f func(*Node) *Node) []float32 {
				out := MustExecOnce(be, func(x, v *Node) *Node {
					return Gradient(ReduceAllSum(Mul(f(x), v)), x)[0]
				}, tensors.FromFlatDataAndDimensions(x, 8, 512), tensors.FromFlatDataAndDimensions(v, 8, 512))
				return tensors.MustCopyFlatData[float32](out)
			}
			got, stock := grads(c.fused), grads(c.primitive)
			for i := range x {
				want := float64(v[i]) * c.grad(float64(x[i]))
				tol := 2e-6 * (1 + math.Abs(want))
				if d := math.Abs(float64(got[i]) - want); d > tol {
					t.Fatalf("x=%g: gradient %g, float64 %g (off by %g)", x[i], got[i], want, d)
				}
				if d := math.Abs(float64(got[i] - stock[i])); d > tol {
					t.Fatalf("x=%g: gradient %g, autodiff of the primitive form %g", x[i], got[i], stock[i])
				}
			}
		})
	}
}

// TestFusedSoftmaxGradient checks the hand-written FusedSoftmax gradient
// against autodiff of graph.Softmax's primitive form, with masked
// (-1e30) scores as attention has them, over the last and a middle axis,
// and that the forward values are graph.Softmax's own.
func TestFusedSoftmaxGradient(t *testing.T) {
	be, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(17, 6))
	const n = 3 * 5 * 24
	x := make([]float32, n)
	v := make([]float32, n)
	for i := range x {
		x[i] = float32(4 * r.NormFloat64())
		if i%7 == 3 {
			x[i] = -1e30
		}
		v[i] = float32(r.NormFloat64())
	}
	primitive := func(x *Node, axis int) *Node { // graph.Softmax's decomposed form
		e := Exp(Sub(x, StopGradient(ReduceAndKeep(x, ReduceMax, axis))))
		return Div(e, ReduceAndKeep(e, ReduceSum, axis))
	}
	for _, axis := range []int{2, 1} {
		run := func(f func(*Node) *Node) (y, g []float32) {
			outs := MustExecOnceN(be, func(x, v *Node) []*Node {
				y := f(x)
				return []*Node{y, Gradient(ReduceAllSum(Mul(y, v)), x)[0]}
			}, tensors.FromFlatDataAndDimensions(x, 3, 5, 24), tensors.FromFlatDataAndDimensions(v, 3, 5, 24))
			return tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])
		}
		fused := func(x *Node) *Node {
			if axis == x.Rank()-1 {
				return softmaxLast(x)
			}
			y, _ := InternalFusedOpCaller(func() *Node { return BackendFusedSoftmax(x, axis) }, func() *Node { return primitive(x, axis) }, false)
			return y
		}
		y, got := run(fused)
		stockY, _ := run(func(x *Node) *Node { return Softmax(x, axis) })
		_, want := run(func(x *Node) *Node { return primitive(x, axis) })
		for i := range x {
			if y[i] != stockY[i] {
				t.Fatalf("axis %d: softmax %g, graph.Softmax %g", axis, y[i], stockY[i])
			}
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-6*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("axis %d, x=%g: gradient %g, autodiff of the primitive form %g", axis, x[i], got[i], want[i])
			}
		}
	}
}

// TestFusedLayerNormGradient checks the hand-written layer-norm gradient
// (x, gain and bias; with and without a bias) against autodiff of the
// primitive form on the same inputs.
func TestFusedLayerNormGradient(t *testing.T) {
	be, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(18, 7))
	const rows, d = 15, 24
	fill := func(n int, scale, offset float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(offset + scale*r.NormFloat64())
		}
		return x
	}
	x, v, w, b := fill(rows*d, 3, 1.5), fill(rows*d, 1, 0), fill(d, 0.5, 1), fill(d, 0.2, 0)
	for _, bias := range []bool{true, false} {
		run := func(norm func(x, w, b *Node) *Node) [][]float32 {
			outs := MustExecOnceN(be, func(x, v, w, b *Node) []*Node {
				if !bias {
					b = nil
				}
				y := norm(x, w, b)
				wrt := []*Node{x, w}
				if bias {
					wrt = append(wrt, b)
				}
				return Gradient(ReduceAllSum(Mul(y, v)), wrt...)
			}, tensors.FromFlatDataAndDimensions(x, 3, 5, d), tensors.FromFlatDataAndDimensions(v, 3, 5, d),
				tensors.FromFlatDataAndDimensions(w, d), tensors.FromFlatDataAndDimensions(b, d))
			var res [][]float32
			for _, o := range outs {
				res = append(res, tensors.MustCopyFlatData[float32](o))
			}
			return res
		}
		got := run(func(x, w, b *Node) *Node { return LayerNorm(hook.NewPoints(), "ln", x, w, b, 1e-5) })
		want := run(func(x, w, b *Node) *Node { return layerNormPrimitive(x, w, b, 1e-5) })
		for i, name := range []string{"x", "gain", "bias"}[:len(want)] {
			worst := 0.0
			for j := range want[i] {
				worst = max(worst, math.Abs(float64(got[i][j]-want[i][j]))/(1+math.Abs(float64(want[i][j]))))
			}
			if worst > 2e-6 {
				t.Errorf("bias %v: d%s differs from autodiff of the primitive form by %.2g", bias, name, worst)
			}
		}
	}
}
