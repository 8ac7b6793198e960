package vecmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

func refSigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func TestSigmoidAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	inputs := []struct {
		name string
		xs   []float32
	}{
		{"sweep[-120,40]", sweep(-120, 40, 2_000_001)},
		{"sweep[-2,2]", sweep(-2, 2, 1_000_001)},
		{"random bits", randomMagnitudes(rng, 1_000_000)},
		{"random N(0,4)", func() []float32 {
			xs := make([]float32, 1_000_000)
			for i := range xs {
				xs[i] = float32(rng.NormFloat64() * 4)
			}
			return xs
		}()},
	}
	forEachPath(t, func(t *testing.T) {
		for _, in := range inputs {
			got := make([]float32, len(in.xs))
			Sigmoid(got, in.xs)
			var s errStats
			for i, x := range in.xs {
				s.add(x, got[i], refSigmoid(float64(x)))
			}
			// Below 2^-126 allow one subnormal ulp.
			s.check(t, "Sigmoid "+in.name, 3e-7, 0x1p-149)
		}
	})
}

func TestSigmoidSpecial(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	cases := []struct{ x, want float32 }{
		{0, 0.5}, {inf, 1}, {-inf, 0}, {200, 1}, {-200, 0}, {3.4e38, 1}, {-3.4e38, 0},
		{float32(math.Copysign(0, -1)), 0.5},
	}
	forEachPath(t, func(t *testing.T) {
		for _, n := range []int{1, 9, 40} { // tail, vector, unrolled
			for _, c := range cases {
				xs := make([]float32, n)
				for i := range xs {
					xs[i] = c.x
				}
				Sigmoid(xs, xs) // in place
				for i, g := range xs {
					if g != c.want {
						t.Fatalf("n=%d: Sigmoid(%g)[%d] = %g, want %g", n, c.x, i, g, c.want)
					}
				}
			}
			xs := make([]float32, n)
			for i := range xs {
				xs[i] = float32(i) - 4
			}
			xs[n/2] = nan
			got := make([]float32, n)
			Sigmoid(got, xs)
			for i, g := range got {
				if (i == n/2) != (g != g) {
					t.Fatalf("n=%d: Sigmoid(%g) = %g", n, xs[i], g)
				}
			}
		}
	})
}

func TestMul(t *testing.T) {
	checkBinary(t, Mul, func(a, b float32) float32 { return a * b }, 15)
	// b a single value: a scale.
	forEachPath(t, func(t *testing.T) {
		a := []float32{1, -2, 3.5, 4, 5, 6, 7, 8, 9, -10}
		dst := make([]float32, len(a))
		Mul(dst, a, []float32{-1.5})
		for i := range a {
			if dst[i] != a[i]*-1.5 {
				t.Fatalf("scalar: dst[%d] = %v, want %v", i, dst[i], a[i]*-1.5)
			}
		}
	})
}

func TestSoftmaxGrad(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		for _, n := range []int{0, 1, 7, 8, 9, 33} {
			g, p := make([]float32, n), make([]float32, n)
			for i := range g {
				g[i], p[i] = float32(i)*0.37-2, 1/float32(i+2)
			}
			want := make([]float32, n)
			d, s := float32(0.3), float32(1.25)
			for i := range want {
				want[i] = float32(float32(float32(g[i]-d)*p[i]) * s) // each step rounded to float32
			}
			SoftmaxGrad(g, p, d, s)
			for i := range g {
				if g[i] != want[i] {
					t.Fatalf("n=%d: g[%d] = %v, want %v", n, i, g[i], want[i])
				}
			}
		}
	})
}

func TestMulPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on mismatched lengths")
		}
	}()
	Mul(make([]float32, 3), make([]float32, 3), make([]float32, 2))
}

func BenchmarkSigmoid(b *testing.B) {
	src := benchInput(geluBenchN)
	dst := make([]float32, len(src))
	benchPaths(b, len(src), func() { Sigmoid(dst, src) })
}

func BenchmarkMul(b *testing.B) {
	a := benchInput(addBenchN)
	c := benchInput(addBenchN)
	dst := make([]float32, len(a))
	benchPaths(b, len(a), func() { Mul(dst, a, c) })
}

// TestGeluTanhGrad checks v·GELU'(x), given GeluTanh's own output,
// against central differences of the float64 tanh form, ½x(1+tanh(√(2/π)(x+0.044715x³))).
func TestGeluTanhGrad(t *testing.T) {
	gelu := func(x float64) float64 { return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x))) }
	var x, v []float32
	for i := -3000; i <= 3000; i += 7 {
		x = append(x, float32(i)/200) // -15 … 15
		v = append(v, 1+float32(i%5)/4)
	}
	x = append(x, 0, 1e-30, -1e-30, 40, -40)
	v = append(v, 1, 1, 1, 2, 2)
	forEachPath(t, func(t *testing.T) {
		got, y := make([]float32, len(x)), make([]float32, len(x))
		GeluTanh(y, x)
		GeluTanhGrad(got, x, y, v)
		for i, xi := range x {
			h := 1e-4 * max(1, math.Abs(float64(xi)))
			want := float64(v[i]) * (gelu(float64(xi)+h) - gelu(float64(xi)-h)) / (2 * h)
			if d := math.Abs(float64(got[i]) - want); d > 5e-6*math.Abs(float64(v[i]))*max(1, math.Abs(want)) {
				t.Errorf("x=%g v=%g: got %g, want %g (diff %.2g)", xi, v[i], got[i], want, d)
			}
		}
	})
}

// TestCrossEntropyRow checks the cross-entropy of a row and its gradient
// against float64, for rows far from zero and of lengths around the
// vector width.
func TestCrossEntropyRow(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	forEachPath(t, func(t *testing.T) {
		for _, n := range []int{1, 7, 8, 9, 33, 2048} {
			for _, offset := range []float64{0, -80, 50} {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(offset + 4*r.NormFloat64())
				}
				m := math.Inf(-1)
				for _, v := range x {
					m = max(m, float64(v))
				}
				var sum float64
				for _, v := range x {
					sum += math.Exp(float64(v) - m)
				}
				lse := m + math.Log(sum)
				target, s := n/2, float32(0.75)
				want := lse - float64(x[target])
				got := CrossEntropyRow(x, make([]float32, n), target)
				if d := math.Abs(float64(got) - want); d > 1e-6*max(1, math.Abs(want)) {
					t.Errorf("n=%d offset=%g: loss %g, want %g", n, offset, got, want)
				}
				dx := make([]float32, n)
				CrossEntropyGradRow(dx, x, s, target)
				for i, v := range x {
					want := math.Exp(float64(v)-lse) * float64(s)
					if i == target {
						want -= float64(s)
					}
					if d := math.Abs(float64(dx[i]) - want); d > 1e-6 {
						t.Errorf("n=%d offset=%g: dx[%d] = %g, want %g", n, offset, i, dx[i], want)
						break
					}
				}
			}
		}
	})
}
