package compare

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestPLSRecoversPlantedMap: targets made by a rank-5 map from 50
// features are predicted on held-out splits with r near 1 by 25
// components; with as many components as features and no noise, PLS is
// least squares and gives back the map itself; pure noise scores near 0.
func TestPLSRecoversPlantedMap(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	n, f, t0 := 400, 50, 8
	x := randMat(r, n, f)
	w := mulDense(randMat(r, f, 5), randMat(r, 5, t0)) // rank 5
	clean := mulDense(x, w)
	y := mat.NewDense(n, t0+1, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < t0; j++ {
			y.Set(i, j, clean.At(i, j)+0.05*r.NormFloat64()+2)
		}
		y.Set(i, t0, r.NormFloat64()) // pure noise
	}
	p, err := BrainScore{}.Score(x, y)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out r per target (10 splits of 90/10, 25 components): %.4f; median %.4f", p.R, p.Median)
	for j := 0; j < t0; j++ {
		if p.R[j] < 0.99 {
			t.Errorf("target %d: r = %.4f, want > 0.99", j, p.R[j])
		}
	}
	if math.Abs(p.R[t0]) > 0.2 {
		t.Errorf("pure noise: r = %.4f, want |r| < 0.2", p.R[t0])
	}

	m, err := PLS{Components: f}.Fit(x, clean)
	if err != nil {
		t.Fatal(err)
	}
	var d float64
	for i := 0; i < f; i++ {
		for j := 0; j < t0; j++ {
			d = math.Max(d, math.Abs(m.Coef.At(i, j)-w.At(i, j)))
		}
	}
	t.Logf("full-rank PLS on noiseless targets: coefficients within %.2g of the planted map", d)
	if d > 1e-8 {
		t.Errorf("full-rank PLS coefficients differ from the planted map by %g", d)
	}
	for _, bad := range []PLS{{Components: -1}, {Components: f + 1}} {
		if _, err := bad.Fit(x, y); err == nil {
			t.Errorf("%+v was accepted", bad)
		}
	}
}

// TestSplitHalfKnownAnswers: identical repetitions have a ceiling of 1;
// repetitions of signal (variance 1) plus noise of variance R, whose mean
// over R repetitions is half signal, have a Spearman–Brown ceiling of 0.5.
func TestSplitHalfKnownAnswers(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	n, targets, reps := 4000, 10, 8
	signal := randMat(r, n, targets)
	same := make([]mat.Matrix, reps)
	noisy := make([]mat.Matrix, reps)
	for k := range same {
		same[k] = signal
		x := mat.DenseCopyOf(signal)
		for i := 0; i < n; i++ {
			for j := 0; j < targets; j++ {
				x.Set(i, j, x.At(i, j)+math.Sqrt(float64(reps))*r.NormFloat64())
			}
		}
		noisy[k] = x
	}
	c, err := SplitHalf(same, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	for j, v := range c.R {
		if math.Abs(v-1) > 1e-12 {
			t.Errorf("identical halves: target %d ceiling %g, want 1", j, v)
		}
	}
	c, err = SplitHalf(noisy, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("split-half Spearman–Brown ceiling, reliability 0.5 planted: median %.4f, per target %.3f", c.Median, c.R)
	if math.Abs(c.Median-0.5) > 0.03 {
		t.Errorf("ceiling %.4f, want 0.5 ± 0.03", c.Median)
	}
	if _, err := SplitHalf(same[:1], 10, 1); err == nil {
		t.Error("one repetition was accepted")
	}
}
