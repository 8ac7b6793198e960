package compare

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// TestRSASelf: every distance and comparison gives 1 for a matrix and itself.
func TestRSASelf(t *testing.T) {
	x := randMat(rand.New(rand.NewPCG(9, 10)), 30, 6)
	for _, d := range Distances {
		for _, c := range Comparisons {
			t.Run(string(d)+"/"+string(c), func(t *testing.T) {
				v, err := RSA(x, x, d, c)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(v-1) > 1e-12 {
					t.Errorf("RSA(X,X) = %.15g, want 1", v)
				}
			})
		}
	}
}

func TestRDMAt(t *testing.T) {
	x := mat.NewDense(4, 1, []float64{0, 1, 3, 6})
	r, err := NewRDM(x, Euclidean)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		for j := 0; j < 4; j++ {
			d := x.At(i, 0) - x.At(j, 0)
			if got := r.At(i, j); got != d*d {
				t.Errorf("At(%d,%d) = %g, want %g", i, j, got, d*d)
			}
		}
	}
}

func TestTauATies(t *testing.T) {
	// Pairs: (0,1) tie in a → 0; (0,2) +; (1,2) + ; τ_a = 2/3.
	a := []float64{1, 1, 2}
	b := []float64{1, 2, 3}
	if got := kendall(a, b, false); math.Abs(got-2.0/3) > 1e-15 {
		t.Errorf("tau-a = %g, want 2/3", got)
	}
	// τ_b: 2/√(2·3).
	if got := kendall(a, b, true); math.Abs(got-2/math.Sqrt(6)) > 1e-15 {
		t.Errorf("tau-b = %g, want 2/√6", got)
	}
}

func TestRSAErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	constRow := randMat(r, 5, 3)
	constRow.SetRow(2, []float64{4, 4, 4})
	tests := []struct {
		name string
		f    func() error
	}{
		{"constant pattern", func() error { _, err := NewRDM(constRow, Correlation); return err }},
		{"zero pattern", func() error { _, err := NewRDM(mat.NewDense(3, 2, nil), Cosine); return err }},
		{"unknown distance", func() error { _, err := NewRDM(randMat(r, 3, 2), "manhattan"); return err }},
		{"unknown comparison", func() error { _, err := RSA(randMat(r, 4, 2), randMat(r, 4, 2), Euclidean, "bures"); return err }},
		{"stimuli mismatch", func() error { _, err := RSA(randMat(r, 4, 2), randMat(r, 5, 2), Euclidean, Pearson); return err }},
		{"one stimulus", func() error { _, err := NewRDM(randMat(r, 1, 2), Euclidean); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.f().(*Error); !ok {
				t.Fatalf("want a *compare.Error")
			}
		})
	}
}

// TestCrossnobisKnownAnswers: with identical partitions crossnobis is the
// (rsatoolbox) Euclidean RDM; on pure noise its mean is near 0, where the
// Euclidean RDM of the averaged runs is biased upward.
func TestCrossnobisKnownAnswers(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	x := randMat(r, 12, 6)
	same, err := Crossnobis([]mat.Matrix{x, x, x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	euc, _ := NewRDM(x, Euclidean)
	for i := range euc.Dist {
		if d := math.Abs(same.Dist[i] - euc.Dist[i]); d > 1e-12 {
			t.Fatalf("identical partitions: %d = %g, Euclidean %g", i, same.Dist[i], euc.Dist[i])
		}
	}
	var parts []mat.Matrix
	mean := mat.NewDense(60, 400, nil)
	for k := 0; k < 4; k++ {
		p := randMat(r, 60, 400) // no signal: every stimulus has the same true pattern
		parts = append(parts, p)
		mean.Add(mean, p)
	}
	mean.Scale(0.25, mean)
	cn, err := Crossnobis(parts, nil)
	if err != nil {
		t.Fatal(err)
	}
	naive, _ := NewRDM(mean, Euclidean)
	mc, mn := stat.Mean(cn.Dist, nil), stat.Mean(naive.Dist, nil)
	// The mean over pairs is ≈ 2·Σᵢ ãᵢ·bᵢ/(n·f) per fold, sd ≈ 2√(⅓/(60·400))
	// ≈ 0.0075: 0.03 is four of them.
	if math.Abs(mc) > 0.03 || mn < 0.4 {
		t.Errorf("pure noise: crossnobis mean %.4f (want ≈ 0), Euclidean of the mean %.4f (want ≈ 0.5)", mc, mn)
	}
	t.Logf("pure noise, 4 runs: crossnobis mean %.4f, Euclidean RDM of the averaged runs %.4f", mc, mn)
	if _, err := Crossnobis(parts[:1], nil); err == nil {
		t.Error("one partition: no error")
	}
}

// TestWhitenedCosineIsLinearCKA: for (squared) Euclidean RDMs −½HDH is
// the centred linear Gram over the features, so the whitened cosine is
// exactly linear CKA — two independent code paths.
func TestWhitenedCosineIsLinearCKA(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	x, y := randMat(r, 25, 7), randMat(r, 25, 3)
	y.Add(y, mulDense(x, randMat(r, 7, 3)))
	got, err := RSA(x, y, Euclidean, CosineWhitened)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := LinearCKA(x, y, false)
	if d := math.Abs(got - want); d > 1e-12 {
		t.Errorf("whitened cosine %.15g, linear CKA %.15g", got, want)
	}
}

// TestGeodesicPath: points 0, 1, 3, 6 on a line; the farthest pair loses
// its edge and every distance becomes the shortest path.
func TestGeodesicPath(t *testing.T) {
	x := mat.NewDense(4, 1, []float64{0, 1, 3, 6})
	r, err := NewRDM(x, Euclidean) // squared: 01 1, 02 9, 03 36, 12 4, 13 25, 23 9
	if err != nil {
		t.Fatal(err)
	}
	g, err := r.Geodesic()
	if err != nil {
		t.Fatal(err)
	}
	// min–max (v−1)/35: 01 0, 02 8/35, 03 1 (no edge), 12 3/35, 13 24/35,
	// 23 8/35; 0 and 1 coincide, so 02 = 12 and 03 = 13 = 12 + 23.
	want := []float64{0, 3.0 / 35, 11.0 / 35, 3.0 / 35, 11.0 / 35, 8.0 / 35}
	for i, w := range want {
		if math.Abs(g.Dist[i]-w) > 1e-15 {
			t.Errorf("geodesic %d = %g, want %g (all %v)", i, g.Dist[i], w, g.Dist)
		}
	}
	if _, err := r.GeoTopological(0.5, 0.5); err == nil {
		t.Error("low = up: no error")
	}
}

// TestKendallMatchesPairCount: Knight's algorithm equals counting every
// pair, on vectors with many ties in x, in y and in both.
func TestKendallMatchesPairCount(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, m := range []int{2, 3, 17, 200} {
		x, y := make([]float64, m), make([]float64, m)
		for i := range x {
			x[i] = float64(r.IntN(5))
			y[i] = float64(r.IntN(4)) + 0.5*x[i]
		}
		var s, tx, ty float64
		for i := range x {
			for j := i + 1; j < m; j++ {
				sx, sy := sign(x[j]-x[i]), sign(y[j]-y[i])
				s += sx * sy
				if sx == 0 {
					tx++
				}
				if sy == 0 {
					ty++
				}
			}
		}
		pairs := float64(m*(m-1)) / 2
		wantA, wantB := s/pairs, s/math.Sqrt((pairs-tx)*(pairs-ty))
		if got := kendall(x, y, false); math.Abs(got-wantA) > 1e-12 {
			t.Errorf("m=%d: tau-a %g, pair count %g", m, got, wantA)
		}
		if got := kendall(x, y, true); math.Abs(got-wantB) > 1e-12 && !(math.IsNaN(got) && math.IsNaN(wantB)) {
			t.Errorf("m=%d: tau-b %g, pair count %g", m, got, wantB)
		}
	}
}

func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
