package attribution

import (
	"math"
	"slices"
)

// Rule is how integrated gradients places its steps on [0, 1].
type Rule string

const (
	GaussLegendre Rule = "gausslegendre" // Captum's default
	RiemannLeft   Rule = "riemann_left"
	RiemannRight  Rule = "riemann_right"
	RiemannMiddle Rule = "riemann_middle"
	// RiemannTrapezoid is the trapezoid rule on n equally spaced points
	// including both ends (spacing 1/(n−1)). Captum places the same points
	// but weights them 1/n (halved at the ends), which sums to (n−1)/n and
	// leaves a completeness gap of about 1/n; glia's weights sum to 1.
	RiemannTrapezoid Rule = "riemann_trapezoid"
)

// Rules lists the rules, the default first.
var Rules = []Rule{GaussLegendre, RiemannLeft, RiemannRight, RiemannMiddle, RiemannTrapezoid}

// ParseRule reads a rule name; "" is GaussLegendre.
func ParseRule(s string) (Rule, error) {
	if s == "" {
		return GaussLegendre, nil
	}
	if slices.Contains(Rules, Rule(s)) {
		return Rule(s), nil
	}
	return "", errorf("ig", "unknown rule %q (gausslegendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid)", s)
}

// nodes returns the n points α in [0, 1] and their weights (summing to 1).
func (r Rule) nodes(n int) (alpha, weight []float64) {
	alpha, weight = make([]float64, n), make([]float64, n)
	switch r {
	case GaussLegendre:
		x, w := legendre(n)
		for i := range x {
			alpha[i], weight[i] = (1+x[i])/2, w[i]/2
		}
		return alpha, weight
	case RiemannTrapezoid:
		if n == 1 {
			return []float64{0.5}, []float64{1}
		}
		for i := range n {
			alpha[i], weight[i] = float64(i)/float64(n-1), 1/float64(n-1)
		}
		weight[0], weight[n-1] = weight[0]/2, weight[n-1]/2
		return alpha, weight
	}
	off := map[Rule]float64{RiemannLeft: 0, RiemannRight: 1, RiemannMiddle: 0.5}[r]
	for i := range n {
		alpha[i], weight[i] = (float64(i)+off)/float64(n), 1/float64(n)
	}
	return alpha, weight
}

// legendre returns the Gauss–Legendre nodes on [−1, 1] in ascending order
// and their weights (numpy's leggauss), by Newton's method on Pₙ.
func legendre(n int) (x, w []float64) {
	x, w = make([]float64, n), make([]float64, n)
	// pd is Pₙ(z) and its derivative, by the three-term recurrence.
	pd := func(z float64) (p, dp float64) {
		p0, p1 := 1.0, z
		for k := 2; k <= n; k++ {
			p0, p1 = p1, ((2*float64(k)-1)*z*p1-(float64(k)-1)*p0)/float64(k)
		}
		if n == 1 {
			p0 = 1
		}
		return p1, float64(n) * (z*p1 - p0) / (z*z - 1)
	}
	for i := range n {
		z := math.Cos(math.Pi * (float64(i) + 0.75) / (float64(n) + 0.5))
		for range 100 {
			p, dp := pd(z)
			dz := p / dp
			z -= dz
			if math.Abs(dz) < 1e-16 {
				break
			}
		}
		_, dp := pd(z)
		x[n-1-i], w[n-1-i] = z, 2/((1-z*z)*dp*dp)
	}
	return x, w
}
