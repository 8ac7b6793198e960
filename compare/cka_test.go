package compare

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

func randMat(r *rand.Rand, n, d int) *mat.Dense {
	v := make([]float64, n*d)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return mat.NewDense(n, d, v)
}

// ckaKinds are the CKA flavours every invariance holds for.
var ckaKinds = []struct {
	name string
	f    func(x, y mat.Matrix) (float64, error)
}{
	{"linear", func(x, y mat.Matrix) (float64, error) { return LinearCKA(x, y, false) }},
	{"linear-debiased", func(x, y mat.Matrix) (float64, error) { return LinearCKA(x, y, true) }},
	{"rbf", func(x, y mat.Matrix) (float64, error) { return RBFCKA(x, y, 1, false) }},
	{"rbf-debiased", func(x, y mat.Matrix) (float64, error) { return RBFCKA(x, y, 1, true) }},
}

func mustCKA(t *testing.T, f func(x, y mat.Matrix) (float64, error), x, y mat.Matrix) float64 {
	t.Helper()
	v, err := f(x, y)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCKAInvariances: CKA(X,X)=1; invariant to an orthogonal transform
// and an isotropic scaling of X (and a shift); a general invertible map
// changes linear CKA.
func TestCKAInvariances(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := randMat(r, 60, 12)
	y := randMat(r, 60, 8)
	y.Add(y, mulDense(x, randMat(r, 12, 8))) // y depends on x, so CKA is well inside (0,1)
	var q mat.QR
	q.Factorize(randMat(r, 12, 12))
	var o mat.Dense
	q.QTo(&o)
	xo := mulDense(x, &o)
	xs := mat.DenseCopyOf(x)
	xs.Scale(7.5, xs)
	for i := 0; i < 60; i++ {
		for j := 0; j < 12; j++ {
			xs.Set(i, j, xs.At(i, j)+100*float64(j+1))
		}
	}
	for _, k := range ckaKinds {
		t.Run(k.name, func(t *testing.T) {
			if got := mustCKA(t, k.f, x, x); math.Abs(got-1) > 1e-12 {
				t.Errorf("CKA(X,X) = %.15g, want 1", got)
			}
			base := mustCKA(t, k.f, x, y)
			if got := mustCKA(t, k.f, xo, y); math.Abs(got-base) > 1e-10 {
				t.Errorf("orthogonal: %.15g, want %.15g", got, base)
			}
			if got := mustCKA(t, k.f, xs, y); math.Abs(got-base) > 1e-9 {
				t.Errorf("scaled and shifted: %.15g, want %.15g", got, base)
			}
			t.Logf("CKA(X,Y) = %.6f", base)
		})
	}
	// A general invertible map (a diagonal stretch times an orthogonal one)
	// is not a similarity of the representation: linear CKA must change.
	d := mat.NewDiagDense(12, nil)
	for i := 0; i < 12; i++ {
		d.SetDiag(i, math.Pow(10, float64(i%4)-1.5))
	}
	xa := mulDense(mulDense(x, d), &o)
	for _, debiased := range []bool{false, true} {
		base, _ := LinearCKA(x, y, debiased)
		got, err := LinearCKA(xa, y, debiased)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-base) < 0.05 {
			t.Errorf("debiased=%v: invertible map left CKA at %.4f (was %.4f)", debiased, got, base)
		}
		t.Logf("debiased=%v: CKA(X,Y) %.4f, CKA(XA,Y) %.4f", debiased, base, got)
	}
}

func mulDense(a, b mat.Matrix) *mat.Dense {
	var c mat.Dense
	c.Mul(a, b)
	return &c
}

// TestDebiasedIndependent: with independent features the debiased
// estimator is near 0 while the biased one is far from it (n=500, wide).
func TestDebiasedIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x, y := randMat(r, 500, 300), randMat(r, 500, 300)
	deb, err := LinearCKA(x, y, true)
	if err != nil {
		t.Fatal(err)
	}
	bias, _ := LinearCKA(x, y, false)
	if math.Abs(deb) >= 0.05 {
		t.Errorf("debiased CKA of independent features = %.4f, want |x| < 0.05", deb)
	}
	if bias < 0.2 {
		t.Errorf("biased CKA of independent wide features = %.4f; the test no longer shows the bias", bias)
	}
	t.Logf("independent n=500 d=300: debiased %.5f, biased %.4f", deb, bias)
}

// TestStreamMatchesGram: the streamed feature-space CKA, in uneven
// chunks, equals the one-shot n×n Gram form, biased and debiased, with
// features carrying a large offset.
func TestStreamMatchesGram(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := randMat(r, 203, 17)
	y := randMat(r, 203, 9)
	y.Add(y, mulDense(x, randMat(r, 17, 9)))
	for i := 0; i < 203; i++ {
		for j := 0; j < 9; j++ {
			y.Set(i, j, y.At(i, j)+50)
		}
	}
	for _, debiased := range []bool{false, true} {
		s := &CKAStream{}
		for lo := 0; lo < 203; {
			hi := min(lo+1+lo%37, 203)
			if err := s.Add(x.Slice(lo, hi, 0, 17), y.Slice(lo, hi, 0, 9)); err != nil {
				t.Fatal(err)
			}
			lo = hi
		}
		var got float64
		var err error
		if debiased {
			got, err = s.Debiased()
		} else {
			got, err = s.Biased()
		}
		if err != nil {
			t.Fatal(err)
		}
		want, err := GramCKA(LinearGram(x), LinearGram(y), debiased)
		if err != nil {
			t.Fatal(err)
		}
		d := math.Abs(got - want)
		if d > 1e-10 {
			t.Errorf("debiased=%v: stream %.15g, Gram %.15g (diff %.3g)", debiased, got, want, d)
		}
		t.Logf("debiased=%v: streamed %.12f, Gram form %.12f, diff %.2g", debiased, got, want, d)
	}
}

func TestCKAErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	tests := []struct {
		name string
		f    func() error
	}{
		{"stimuli mismatch", func() error { _, err := LinearCKA(randMat(r, 5, 2), randMat(r, 6, 2), false); return err }},
		{"too few for debiased", func() error { _, err := LinearCKA(randMat(r, 3, 2), randMat(r, 3, 2), true); return err }},
		{"constant", func() error { _, err := LinearCKA(mat.NewDense(5, 2, nil), randMat(r, 5, 2), false); return err }},
		{"chunk width", func() error {
			s := &CKAStream{}
			_ = s.Add(randMat(r, 5, 2), randMat(r, 5, 2))
			return s.Add(randMat(r, 5, 3), randMat(r, 5, 2))
		}},
		{"rbf constant", func() error { _, err := RBFCKA(mat.NewDense(5, 2, nil), randMat(r, 5, 2), 1, false); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f()
			if _, ok := err.(*Error); !ok {
				t.Fatalf("got %v, want a *compare.Error", err)
			}
		})
	}
}

// TestGrid: every cell of a grid equals the pairwise measure, on both
// linear-CKA paths (cached Grams, and streaming beyond gramLimit).
func TestGrid(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	base := randMat(r, 40, 5)
	var ms []mat.Matrix
	for i := 0; i < 3; i++ {
		m := randMat(r, 40, 4+i)
		m.Add(m, mulDense(base, randMat(r, 5, 4+i)))
		ms = append(ms, m)
	}
	specs := []struct {
		spec Spec
		f    func(x, y mat.Matrix) (float64, error)
	}{
		{Spec{Method: CKALinear}, ckaKinds[0].f},
		{Spec{Method: CKADebiased}, ckaKinds[1].f},
		{Spec{Method: CKARBF}, ckaKinds[2].f},
		{Spec{Method: RSAMethod, RDM: Correlation, Compare: Spearman}, func(x, y mat.Matrix) (float64, error) { return RSA(x, y, Correlation, Spearman) }},
		{Spec{Method: RSAMethod, RDM: Euclidean, Compare: Pearson, Topo: &[2]float64{0.1, 0.9}, Geodesic: true}, topoRSA},
	}
	enc, err := Grid(ms[:1], ms[1:2], Spec{Method: EncodingMethod})
	if err != nil {
		t.Fatal(err)
	}
	e, err := Ridge{}.Score(ms[0], ms[1])
	if err != nil {
		t.Fatal(err)
	}
	if want := stat.Mean(e.R, nil); enc[0][0] != want {
		t.Errorf("encoding cell %g, want the mean r %g", enc[0][0], want)
	}
	for _, limit := range []int{4096, 10} {
		old := gramLimit
		gramLimit = limit
		for _, s := range specs {
			g, err := Grid(ms, ms[:2], s.spec)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ms {
				for j := 0; j < 2; j++ {
					want := mustCKA(t, s.f, ms[i], ms[j])
					if d := math.Abs(g[i][j] - want); d > 1e-12 {
						t.Errorf("limit %d %s [%d][%d]: %.15g, pairwise %.15g", limit, s.spec, i, j, g[i][j], want)
					}
				}
			}
		}
		gramLimit = old
	}
	if _, err := Grid(ms, []mat.Matrix{randMat(r, 7, 2)}, Spec{Method: CKALinear}); err == nil {
		t.Error("grid over different stimuli: no error")
	}
}

// topoRSA is Grid's topological RSA spelled out: Euclidean RDMs, the
// geo-topological transform (0.1, 0.9), the geodesic, Pearson.
func topoRSA(x, y mat.Matrix) (float64, error) {
	var rs [2]*RDM
	for i, m := range []mat.Matrix{x, y} {
		r, err := NewRDM(m, Euclidean)
		if err != nil {
			return 0, err
		}
		if r, err = r.GeoTopological(0.1, 0.9); err != nil {
			return 0, err
		}
		if rs[i], err = r.Geodesic(); err != nil {
			return 0, err
		}
	}
	return CompareRDMs(rs[0], rs[1], Pearson)
}
