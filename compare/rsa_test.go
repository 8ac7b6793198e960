package compare

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
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
	if got := tauA(a, b); math.Abs(got-2.0/3) > 1e-15 {
		t.Errorf("tauA = %g, want 2/3", got)
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
