package snmf

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestPlanted factorises A = F₀·G₀ᵀ (F₀ signed, G₀ ≥ 0 and sparse) from
// each initialisation. Without sparsifying F every start reconstructs A,
// but a semi-NMF is unique only up to G₀·M for non-negative M, so the
// features are not identified; keeping a quarter of each F column (F₀'s
// own sparsity) makes them so: every planted feature has a learned column
// at cosine ≥ 0.85 (0.90 measured), at a looser fit.
func TestPlanted(t *testing.T) {
	const d, n, r = 40, 300, 6
	rng := rand.New(rand.NewPCG(3, 4))
	// F₀'s columns are signed, 10 of 40 neurons each.
	f0 := mat.NewDense(d, r, nil)
	for j := range r {
		for _, i := range rng.Perm(d)[:10] {
			f0.Set(i, j, rng.NormFloat64())
		}
	}
	// Each token holds one feature, a third of them a second one: sparse
	// enough for the factors to be identifiable up to scale.
	g0 := mat.NewDense(n, r, nil)
	for i := range n {
		g0.Set(i, rng.IntN(r), 0.5+rng.Float64())
		if i%3 == 0 {
			g0.Set(i, rng.IntN(r), 0.5+rng.Float64())
		}
	}
	var a mat.Dense
	a.Mul(f0, g0.T())
	for _, tc := range []struct {
		init     string
		keep     float64
		maxErr   float64
		features bool
	}{{"random", 0, 0.1, false}, {"svd", 0, 1e-2, false}, {"kmeans", 0, 1e-2, false}, {"kmeans", 0.25, 0.1, true}} {
		res, err := Factorize(&a, Options{Rank: r, Keep: tc.keep, Init: tc.init, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		worst := 1.0
		for j := range r {
			best := -1.0
			for k := range r {
				c := mat.Dot(f0.ColView(j), res.F.ColView(k)) / (mat.Norm(f0.ColView(j), 2) * mat.Norm(res.F.ColView(k), 2))
				best = max(best, c)
			}
			worst = min(worst, best)
		}
		for i := range n {
			for j := range r {
				if res.G.At(i, j) < 0 || math.IsNaN(res.G.At(i, j)) {
					t.Fatalf("%s: G[%d,%d] = %g", tc.init, i, j, res.G.At(i, j))
				}
			}
		}
		if tc.keep > 0 {
			for j := range r {
				nz := 0
				for i := range d {
					if res.F.At(i, j) != 0 {
						nz++
					}
				}
				if nz > 10 {
					t.Errorf("keep %g: F column %d has %d non-zero entries, want ≤ 10", tc.keep, j, nz)
				}
			}
		}
		t.Logf("%s keep %g: %d iterations, relative error %.2e, worst feature cosine %.4f", tc.init, tc.keep, res.Iters, res.RelErr, worst)
		if res.RelErr > tc.maxErr || (tc.features && worst < 0.85) {
			t.Errorf("%s keep %g: relative error %.3g, worst feature cosine %.3f", tc.init, tc.keep, res.RelErr, worst)
		}
	}
}

// TestSparsify keeps the top entries of each column by magnitude.
func TestSparsify(t *testing.T) {
	f := mat.NewDense(4, 2, []float64{1, -5, -3, 2, 2, 0.5, 0.1, -1})
	sparsify(f, 2)
	want := mat.NewDense(4, 2, []float64{0, -5, -3, 2, 2, 0, 0, 0})
	if !mat.Equal(f, want) {
		t.Errorf("got %v, want %v", mat.Formatted(f), mat.Formatted(want))
	}
}
