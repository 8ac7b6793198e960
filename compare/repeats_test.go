package compare

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestRepeatedKnownAnswers: a representation scored against noiseless
// repetitions of itself scores 1 under a ceiling of 1 (rsa, every
// per-repetition distance); crossnobis gives one RDM and no ceiling; pls
// against noisy repetitions of a linear map of it reports the planted
// reliability and a ceiled score near 1.
func TestRepeatedKnownAnswers(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	n, f := 60, 8
	x := randMat(r, n, f)
	same := []mat.Matrix{x, x, x}
	for _, d := range []Distance{Euclidean, Correlation, Cosine} {
		got, err := Repeated{Reps: same}.Score([]mat.Matrix{x}, Spec{Method: RSAMethod, RDM: d, Compare: Pearson})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got.Scores[0]-1) > 1e-12 || got.Ceiling == nil || math.Abs(got.Ceiling.Lower-1) > 1e-12 || math.Abs(got.Ceiling.Upper-1) > 1e-12 {
			t.Errorf("%s: score %v ceiling %+v, want 1 under 1–1", d, got.Scores, got.Ceiling)
		}
	}
	noisy := make([]mat.Matrix, 6)
	w := randMat(r, f, 5)
	clean := mulDense(x, w)
	for k := range noisy {
		m := mat.DenseCopyOf(clean)
		m.Apply(func(_, _ int, v float64) float64 { return v + 0.5*r.NormFloat64() }, m)
		noisy[k] = m
	}
	cn, err := Repeated{Reps: noisy, RDM: CrossnobisDist, Noise: NoiseShrinkDiag}.Score([]mat.Matrix{clean}, Spec{Method: RSAMethod, RDM: Euclidean, Compare: Pearson})
	if err != nil {
		t.Fatal(err)
	}
	if cn.Ceiling != nil || cn.Scores[0] < 0.9 {
		t.Errorf("crossnobis: score %v, ceiling %+v; want > 0.9 and none", cn.Scores, cn.Ceiling)
	}
	mh, err := Repeated{Reps: noisy, RDM: Mahalanobis, Noise: NoiseShrinkDiag}.Score([]mat.Matrix{clean}, Spec{Method: RSAMethod, RDM: Euclidean, Compare: Spearman})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rsa against 6 noisy repetitions: crossnobis %.4f; Mahalanobis %.4f under a ceiling of %.4f–%.4f", cn.Scores[0], mh.Scores[0], mh.Ceiling.Lower, mh.Ceiling.Upper)
	pls, err := Repeated{Reps: noisy}.Score([]mat.Matrix{x}, Spec{Method: PLSMethod})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pls against the repetitions' mean: %.4f, split-half reliability %.4f, ceiled %.4f", pls.Scores[0], *pls.Reliability, pls.Ceiled[0])
	if pls.Reliability == nil || *pls.Reliability < 0.8 || math.Abs(pls.Ceiled[0] - pls.Scores[0] / *pls.Reliability) > 1e-15 {
		t.Errorf("pls: %+v", pls)
	}
	if _, err := (Repeated{Reps: same[:1]}).Score([]mat.Matrix{x}, Spec{Method: CKALinear}); err == nil {
		t.Error("one repetition was accepted")
	}
}
