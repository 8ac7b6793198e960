package attention

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// naive is the textbook attention in float64 over the same layout: every
// score materialised, the mask applied by skipping.
func naive(q, k, v []float64, d Dims) []float64 {
	out := make([]float64, len(q))
	rep, hd := d.Heads/d.KVHeads, d.HeadDim
	qi := func(b, i, h int) int { return ((b*d.Seq+i)*d.Heads + h) * hd }
	ki := func(b, j, g int) int { return ((b*d.Seq+j)*d.KVHeads + g) * hd }
	for b := range d.Batch {
		for h := range d.Heads {
			g := h / rep
			for i := range d.Seq {
				lim := d.Seq
				if d.Causal {
					lim = i + 1
				}
				s := make([]float64, lim)
				mx := math.Inf(-1)
				for j := range lim {
					for x := range hd {
						s[j] += q[qi(b, i, h)+x] * k[ki(b, j, g)+x]
					}
					s[j] *= float64(d.Scale)
					mx = max(mx, s[j])
				}
				var sum float64
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					sum += s[j]
				}
				for j := range s {
					for x := range hd {
						out[qi(b, i, h)+x] += s[j] / sum * v[ki(b, j, g)+x]
					}
				}
			}
		}
	}
	return out
}

func randoms(r *rand.Rand, n int) ([]float32, []float64) {
	f, g := make([]float32, n), make([]float64, n)
	for i := range f {
		f[i] = float32(r.NormFloat64())
		g[i] = float64(f[i])
	}
	return f, g
}

var cases = []Dims{
	{Batch: 2, Seq: 7, Heads: 4, KVHeads: 2, HeadDim: 5, Scale: 0.45, Causal: true},
	{Batch: 1, Seq: 70, Heads: 2, KVHeads: 2, HeadDim: 16, Scale: 0.25, Causal: true}, // several query blocks
	{Batch: 2, Seq: 33, Heads: 3, KVHeads: 1, HeadDim: 8, Scale: 0.35, Causal: false},
	{Batch: 1, Seq: 1, Heads: 1, KVHeads: 1, HeadDim: 3, Scale: 1, Causal: true},
}

func maxRel(got []float32, want []float64) float64 {
	var scale, diff float64
	for i := range want {
		scale = max(scale, math.Abs(want[i]))
		diff = max(diff, math.Abs(float64(got[i])-want[i]))
	}
	return diff / max(scale, 1e-30)
}

func TestForwardMatchesNaive(t *testing.T) {
	for _, d := range cases {
		t.Run(fmt.Sprintf("%+v", d), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(d.Seq)))
			nq, nk := d.sizes()
			q, q64 := randoms(r, nq)
			k, k64 := randoms(r, nk)
			v, v64 := randoms(r, nk)
			out := make([]float32, nq)
			Forward(out, q, k, v, d)
			if e := maxRel(out, naive(q64, k64, v64, d)); e > 2e-6 {
				t.Errorf("max difference %.2g of the largest output, want ≤ 2e-6", e)
			}
		})
	}
}

// TestBackwardMatchesFiniteDifferences checks the gradients of L = Σ out∘G
// against central differences of the float64 naive forward.
func TestBackwardMatchesFiniteDifferences(t *testing.T) {
	for _, d := range cases {
		t.Run(fmt.Sprintf("%+v", d), func(t *testing.T) {
			r := rand.New(rand.NewPCG(2, uint64(d.Seq)))
			nq, nk := d.sizes()
			q, q64 := randoms(r, nq)
			k, k64 := randoms(r, nk)
			v, v64 := randoms(r, nk)
			gOut, g64 := randoms(r, nq)
			out := make([]float32, nq)
			Forward(out, q, k, v, d)
			dq, dk, dv := make([]float32, nq), make([]float32, nk), make([]float32, nk)
			Backward(dq, dk, dv, q, k, v, out, gOut, d)
			loss := func() float64 {
				var l float64
				for i, o := range naive(q64, k64, v64, d) {
					l += o * g64[i]
				}
				return l
			}
			for _, c := range []struct {
				name string
				x    []float64
				got  []float32
			}{{"dq", q64, dq}, {"dk", k64, dk}, {"dv", v64, dv}} {
				// Every coordinate of the small cases, about 300 spread
				// over each tensor of the larger ones.
				step := max(1, len(c.x)/300)
				want := make([]float64, 0, len(c.x)/step+1)
				got := make([]float32, 0, cap(want))
				const h = 1e-6
				for i := 0; i < len(c.x); i += step {
					x0 := c.x[i]
					c.x[i] = x0 + h
					lp := loss()
					c.x[i] = x0 - h
					lm := loss()
					c.x[i] = x0
					want = append(want, (lp-lm)/(2*h))
					got = append(got, c.got[i])
				}
				if e := maxRel(got, want); e > 1e-5 {
					t.Errorf("%s: max difference %.2g of the largest gradient, want ≤ 1e-5", c.name, e)
				}
			}
		})
	}
}

func TestBadSizesPanic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Forward with a short q did not panic")
		}
	}()
	d := Dims{Batch: 1, Seq: 2, Heads: 1, KVHeads: 1, HeadDim: 2, Scale: 1}
	Forward(make([]float32, 4), make([]float32, 3), make([]float32, 4), make([]float32, 4), d)
}

func BenchmarkForwardBackward(b *testing.B) {
	d := Dims{Batch: 8, Seq: 128, Heads: 4, KVHeads: 4, HeadDim: 64, Scale: 0.125, Causal: true}
	r := rand.New(rand.NewPCG(3, 3))
	n, _ := d.sizes()
	q, _ := randoms(r, n)
	k, _ := randoms(r, n)
	v, _ := randoms(r, n)
	g, _ := randoms(r, n)
	out, dq, dk, dv := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for b.Loop() {
		Forward(out, q, k, v, d)
		Backward(dq, dk, dv, q, k, v, out, g, d)
	}
}
