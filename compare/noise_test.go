package compare

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestMahalanobisKnownAnswers: the identity precision gives the Euclidean
// RDM; a diagonal precision 1/σ² gives the Euclidean RDM of x/σ.
func TestMahalanobisKnownAnswers(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n, f := 12, 6
	x := randMat(r, n, f)
	eye := mat.NewSymDense(f, nil)
	diag := mat.NewSymDense(f, nil)
	scaled := mat.DenseCopyOf(x)
	for j := 0; j < f; j++ {
		eye.SetSym(j, j, 1)
		sigma := 0.5 + float64(j)
		diag.SetSym(j, j, 1/(sigma*sigma))
		for i := 0; i < n; i++ {
			scaled.Set(i, j, x.At(i, j)/sigma)
		}
	}
	for _, tc := range []struct {
		name string
		prec mat.Symmetric
		of   mat.Matrix
	}{{"identity", eye, x}, {"nil", nil, x}, {"diagonal", diag, scaled}} {
		got, err := MahalanobisRDM(x, tc.prec)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := NewRDM(tc.of, Euclidean)
		if d := maxAbsDiff(got.Dist, want.Dist); d > 1e-12 {
			t.Errorf("%s: max diff %g from the Euclidean RDM", tc.name, d)
		}
	}
	if _, err := MahalanobisRDM(x, mat.NewSymDense(f+1, nil)); err == nil {
		t.Error("a precision of the wrong size was accepted")
	}
}

// TestNoiseCovarianceKnownAnswers: every estimator recovers a known
// diagonal covariance from many residuals; shrinkage leaves a
// well-sampled covariance nearly alone and makes a rank-deficient one
// invertible.
func TestNoiseCovarianceKnownAnswers(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	f := 4
	sd := []float64{1, 2, 0.5, 3}
	many := mat.NewDense(20000, f, nil)
	for i := 0; i < 20000; i++ {
		for j := 0; j < f; j++ {
			many.Set(i, j, sd[j]*r.NormFloat64())
		}
	}
	for _, m := range NoiseMethods {
		cov, err := NoiseCovariance(many, 0, m)
		if err != nil {
			t.Fatal(err)
		}
		for a := 0; a < f; a++ {
			for b := 0; b < f; b++ {
				want := 0.0
				if a == b {
					want = sd[a] * sd[a]
				}
				if d := math.Abs(cov.At(a, b) - want); d > 0.05*sd[a]*sd[b] {
					t.Errorf("%s: cov[%d,%d] = %.4f, want %.4f", m, a, b, cov.At(a, b), want)
				}
			}
		}
	}
	few := randMat(r, 5, 10) // 5 observations, 10 features: the sample covariance is singular
	if _, err := NoisePrecision(few, 0, NoiseFull); err == nil {
		t.Error("a singular full covariance was inverted")
	}
	for _, m := range []NoiseMethod{NoiseShrinkDiag, NoiseShrinkEye, NoiseDiag} {
		if _, err := NoisePrecision(few, 0, m); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
}

// TestNoiseCeilingKnownAnswers: noiseless repetitions give a ceiling of
// exactly 1 for every comparison; noisy ones give lower < upper < 1, with
// the true RDM's mean score between them. The true RDM is what the data
// RDMs estimate: Euclidean distances of noisy patterns are biased up by
// twice the noise variance, which cosine comparisons see.
func TestNoiseCeilingKnownAnswers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	n, f, reps := 20, 30, 6
	truth := randMat(r, n, f)
	same := make([]*RDM, reps)
	for k := range same {
		same[k], _ = NewRDM(truth, Euclidean)
	}
	for _, c := range Comparisons {
		ce, err := NoiseCeiling(same, c)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if math.Abs(ce.Lower-1) > 1e-12 || math.Abs(ce.Upper-1) > 1e-12 {
			t.Errorf("%s: noiseless ceiling %+v, want 1 and 1", c, ce)
		}
	}
	noisy := make([]*RDM, reps)
	for k := range noisy {
		x := mat.DenseCopyOf(truth)
		for i := 0; i < n; i++ {
			for j := 0; j < f; j++ {
				x.Set(i, j, x.At(i, j)+1.5*r.NormFloat64())
			}
		}
		noisy[k], _ = NewRDM(x, Euclidean)
	}
	trueRDM, _ := NewRDM(truth, Euclidean)
	for i := range trueRDM.Dist {
		trueRDM.Dist[i] += 2 * 1.5 * 1.5
	}
	for _, c := range []Comparison{Spearman, Pearson, CosineSim, CosineWhitened} {
		ce, err := NoiseCeiling(noisy, c)
		if err != nil {
			t.Fatal(err)
		}
		var score float64
		for _, rd := range noisy {
			s, _ := CompareRDMs(trueRDM, rd, c)
			score += s / float64(reps)
		}
		t.Logf("%s: ceiling %.4f–%.4f, the true RDM scores %.4f", c, ce.Lower, ce.Upper, score)
		if !(ce.Lower < ce.Upper && ce.Upper < 1) || score < ce.Lower || score > ce.Upper {
			t.Errorf("%s: ceiling %.4f–%.4f, true RDM %.4f: want lower < true < upper < 1", c, ce.Lower, ce.Upper, score)
		}
	}
	if _, err := NoiseCeiling(noisy[:1], Spearman); err == nil {
		t.Error("a ceiling from one repetition was accepted")
	}
}

func maxAbsDiff(a, b []float64) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}
