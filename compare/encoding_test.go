package compare

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestEncodingRecoversPlantedMap: targets made as X·W plus noise are
// predicted on held-out folds with r near 1, W is recovered, a pure-noise
// target scores near 0, and the noisier target gets the larger alpha.
func TestEncodingRecoversPlantedMap(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	n, d := 300, 10
	x := randMat(r, n, d)
	w := randMat(r, d, 2)
	y := mat.NewDense(n, 4, nil)
	clean := mulDense(x, w)
	for i := 0; i < n; i++ {
		y.Set(i, 0, clean.At(i, 0)+0.05*r.NormFloat64()+3) // clean, with an intercept
		y.Set(i, 1, clean.At(i, 1)+0.05*r.NormFloat64())
		y.Set(i, 2, 0.3*clean.At(i, 0)+3*r.NormFloat64()) // mostly noise
		y.Set(i, 3, r.NormFloat64())                      // pure noise
	}
	enc, err := Ridge{}.Score(x, y)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out r per target: %.4f", enc.R)
	t.Logf("alpha per target: %g", enc.Alpha)
	for j := 0; j < 2; j++ {
		if enc.R[j] < 0.99 {
			t.Errorf("target %d: r = %.4f, want > 0.99", j, enc.R[j])
		}
	}
	if math.Abs(enc.R[3]) > 0.2 {
		t.Errorf("pure-noise target: r = %.4f, want |r| < 0.2", enc.R[3])
	}
	if enc.Alpha[2] <= enc.Alpha[0] {
		t.Errorf("alpha of the noisy target %g is not above the clean one's %g", enc.Alpha[2], enc.Alpha[0])
	}
	wf, b, _, err := Ridge{}.Fit(x, y.Slice(0, n, 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	var maxd float64
	for i := 0; i < d; i++ {
		for j := 0; j < 2; j++ {
			maxd = math.Max(maxd, math.Abs(wf.At(i, j)-w.At(i, j)))
		}
	}
	if maxd > 0.02 || math.Abs(b[0]-3) > 0.02 {
		t.Errorf("recovered W max diff %.4f, intercept %.4f (want 3)", maxd, b[0])
	}
	t.Logf("planted W recovered: max diff %.2g, intercept %.4f", maxd, b[0])
}

func TestEncodingErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	if _, err := (Ridge{}).Score(randMat(r, 20, 2), randMat(r, 19, 1)); err == nil {
		t.Error("stimuli mismatch: no error")
	}
	if _, err := (Ridge{}).Score(randMat(r, 8, 2), randMat(r, 8, 1)); err == nil {
		t.Error("too few stimuli for the folds: no error")
	}
}
