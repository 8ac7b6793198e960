package attribution

import (
	"math"
	"testing"
)

// TestRulesIntegrate: every rule's weights sum to 1, and each integrates
// polynomials it should exactly (Gauss–Legendre with n nodes: degree 2n−1)
// and a smooth function to its order.
func TestRulesIntegrate(t *testing.T) {
	integral := func(r Rule, n int, f func(float64) float64) float64 {
		a, w := r.nodes(n)
		var s float64
		for i := range a {
			s += w[i] * f(a[i])
		}
		return s
	}
	for _, tc := range []struct {
		r         Rule
		n         int
		f         func(float64) float64
		want, tol float64
	}{
		{GaussLegendre, 5, func(x float64) float64 { return math.Pow(x, 9) }, 0.1, 1e-14},
		{GaussLegendre, 50, math.Exp, math.E - 1, 1e-13},
		{GaussLegendre, 1, func(x float64) float64 { return 3 * x }, 1.5, 1e-15},
		{RiemannMiddle, 50, func(x float64) float64 { return x }, 0.5, 1e-14},
		{RiemannTrapezoid, 50, func(x float64) float64 { return x }, 0.5, 1e-14},
		{RiemannTrapezoid, 50, math.Exp, math.E - 1, 1e-4},
		{RiemannLeft, 50, func(x float64) float64 { return x }, 0.5 - 0.5/50, 1e-14},
		{RiemannRight, 50, func(x float64) float64 { return x }, 0.5 + 0.5/50, 1e-14},
	} {
		if _, w := tc.r.nodes(tc.n); math.Abs(sum(w)-1) > 1e-14 {
			t.Errorf("%s n=%d: weights sum to %.17g", tc.r, tc.n, sum(w))
		}
		if got := integral(tc.r, tc.n, tc.f); math.Abs(got-tc.want) > tc.tol {
			t.Errorf("%s n=%d: ∫ = %.17g, want %.17g", tc.r, tc.n, got, tc.want)
		}
	}
	// numpy.polynomial.legendre.leggauss(3): ±√(3/5) weight 5/9, 0 weight 8/9.
	x, w := legendre(3)
	if math.Abs(x[0]+math.Sqrt(0.6)) > 1e-15 || math.Abs(x[1]) > 1e-15 || math.Abs(w[1]-8.0/9) > 1e-15 || math.Abs(w[2]-5.0/9) > 1e-15 {
		t.Errorf("leggauss(3) = %v %v", x, w)
	}
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}
