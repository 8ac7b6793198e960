package arch

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestDotGeneralGradient checks the DotGeneral gradients glia writes
// (linearVJP) and those it leaves to GoMLX against the closed form of
// L = Σ R⊙(A·B) — dA = R·Bᵀ, dB = Aᵀ·R per batch — in float64 loops, for
// the shapes the families use: nn.Linear and Conv1D weights under 2-D and
// 3-D activations, attention's batched scores and values, and a
// contraction over two axes (GoMLX's VJP).
func TestDotGeneralGradient(t *testing.T) {
	be, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	const B, M1, M2, K, N = 3, 4, 5, 7, 6
	type dims struct{ b, m, k, n int }
	for _, c := range []struct {
		name       string
		a, b       []int // operand shapes
		dot        func(a, b *Node) *Node
		d          dims
		aIdx, bIdx func(b, m, k, n int) int // flat positions of A[b,m,k], B[b,k,n]
		ours       bool
	}{
		{"conv1d 3-D", []int{M1, M2, K}, []int{K, N}, func(a, b *Node) *Node { return DotGeneral(a, []int{2}, nil, b, []int{0}, nil) },
			dims{1, M1 * M2, K, N}, func(_, m, k, _ int) int { return m*K + k }, func(_, _, k, n int) int { return k*N + n }, true},
		{"linear 3-D", []int{M1, M2, K}, []int{N, K}, func(a, b *Node) *Node { return DotGeneral(a, []int{2}, nil, b, []int{1}, nil) },
			dims{1, M1 * M2, K, N}, func(_, m, k, _ int) int { return m*K + k }, func(_, _, k, n int) int { return n*K + k }, true},
		{"linear 2-D", []int{M1, K}, []int{N, K}, func(a, b *Node) *Node { return DotGeneral(a, []int{1}, nil, b, []int{1}, nil) },
			dims{1, M1, K, N}, func(_, m, k, _ int) int { return m*K + k }, func(_, _, k, n int) int { return n*K + k }, true},
		{"scores", []int{B, M1, K}, []int{B, K, N}, func(a, b *Node) *Node { return DotGeneral(a, []int{2}, []int{0}, b, []int{1}, []int{0}) },
			dims{B, M1, K, N}, func(b, m, k, _ int) int { return (b*M1+m)*K + k }, func(b, _, k, n int) int { return (b*K+k)*N + n }, true},
		{"batched transposed", []int{B, M1, K}, []int{B, N, K}, func(a, b *Node) *Node { return DotGeneral(a, []int{2}, []int{0}, b, []int{2}, []int{0}) },
			dims{B, M1, K, N}, func(b, m, k, _ int) int { return (b*M1+m)*K + k }, func(b, _, k, n int) int { return (b*N+n)*K + k }, true},
		{"contracting first (GoMLX's)", []int{K, M1}, []int{K, N}, func(a, b *Node) *Node { return DotGeneral(a, []int{0}, nil, b, []int{0}, nil) },
			dims{1, M1, K, N}, func(_, m, k, _ int) int { return k*M1 + m }, func(_, _, k, n int) int { return k*N + n }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, uint64(len(c.name))))
			fill := func(n int) []float32 {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				return x
			}
			size := func(s []int) int {
				n := 1
				for _, d := range s {
					n *= d
				}
				return n
			}
			d := c.d
			a, b, rr := fill(size(c.a)), fill(size(c.b)), fill(d.b*d.m*d.n)
			var matched bool
			outs := MustExecOnceN(be, func(x, y, w *Node) []*Node {
				z := c.dot(x, y)
				matched = linearVJP(z, z) != nil
				return Gradient(ReduceAllSum(Mul(z, Reshape(w, z.Shape().Dimensions...))), x, y)
			}, tensors.FromFlatDataAndDimensions(a, c.a...), tensors.FromFlatDataAndDimensions(b, c.b...), tensors.FromFlatDataAndDimensions(rr, len(rr)))
			if matched != c.ours {
				t.Fatalf("glia's gradient used: %v, want %v", matched, c.ours)
			}
			da, db := tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])
			wantA, wantB := make([]float64, len(a)), make([]float64, len(b))
			for bi := range d.b {
				for m := range d.m {
					for n := range d.n {
						g := float64(rr[(bi*d.m+m)*d.n+n])
						for k := range d.k {
							wantA[c.aIdx(bi, m, k, n)] += g * float64(b[c.bIdx(bi, m, k, n)])
							wantB[c.bIdx(bi, m, k, n)] += g * float64(a[c.aIdx(bi, m, k, n)])
						}
					}
				}
			}
			for _, p := range []struct {
				name string
				got  []float32
				want []float64
			}{{"dA", da, wantA}, {"dB", db, wantB}} {
				worst := 0.0
				for i, w := range p.want {
					worst = max(worst, math.Abs(float64(p.got[i])-w)/(1+math.Abs(w)))
				}
				if worst > 1e-5 {
					t.Errorf("%s: max relative difference from float64 %.2g", p.name, worst)
				}
			}
		})
	}
	// Axes other than the patterns above are GoMLX's: the description
	// parse must not match them.
	g := NewGraph(be, "desc")
	x := Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 3, 4))
	if z := DotGeneral(x, []int{1, 2}, nil, Parameter(g, "y", shapes.Make(dtypes.Float32, 3, 4, 5)), []int{0, 1}, nil); linearVJP(z, z) != nil {
		t.Error(fmt.Sprintf("two contracting axes matched: %s", z))
	}
}
