package compare

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// reference is compare/testdata/reference.json, written by
// tools/compare_ref/make_fixture.py from Kornblith's CKA formulas and
// rsatoolbox's RDMs and comparisons.
type reference struct {
	Cases []struct {
		Name string
		X, Y [][]float64
		CKA  map[string]float64
		RDM  map[string]struct{ X, Y []float64 }
		RSA  map[string]map[string]float64
	}
	Crossnobis struct {
		Runs          [][][]float64
		Precision     [][]float64
		Identity      []float64
		WithPrecision []float64 `json:"with_precision"`
	}
	Topology struct {
		RDM                      []float64
		Low, Up                  float64
		GeoTopological           []float64
		GeodesicOfGeoTopological []float64 `json:"geodesic_of_geotopological"`
		Geodesic                 []float64
	}
	Noise struct {
		Residuals   [][]float64
		DOF         int
		Cov         map[string][][]float64
		Precision   [][]float64
		X           [][]float64
		Mahalanobis []float64
		Reps        [][][]float64
		Ceiling     map[string][2]float64
		PLS         struct {
			X, Y       [][]float64
			XTest      [][]float64 `json:"x_test"`
			Components int
			Pred       [][]float64
		}
	}
}

func loadReference(t *testing.T) reference {
	t.Helper()
	b, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Cases) == 0 {
		t.Fatal("testdata/reference.json has no cases")
	}
	return r
}

func denseOf(rows [][]float64) *mat.Dense {
	d := mat.NewDense(len(rows), len(rows[0]), nil)
	for i, r := range rows {
		d.SetRow(i, r)
	}
	return d
}

func TestCKAReference(t *testing.T) {
	var worst float64
	for _, c := range loadReference(t).Cases {
		x, y := denseOf(c.X), denseOf(c.Y)
		got := map[string]func() (float64, error){
			"linear":          func() (float64, error) { return LinearCKA(x, y, false) },
			"linear-debiased": func() (float64, error) { return LinearCKA(x, y, true) },
			"linear-feature":  func() (float64, error) { return GramCKA(LinearGram(x), LinearGram(y), false) },
			"linear-feature-debiased": func() (float64, error) {
				return GramCKA(LinearGram(x), LinearGram(y), true)
			},
			"rbf":          func() (float64, error) { return RBFCKA(x, y, 1, false) },
			"rbf-debiased": func() (float64, error) { return RBFCKA(x, y, 1, true) },
		}
		for name, want := range c.CKA {
			f, ok := got[name]
			if !ok {
				t.Errorf("%s: no Go counterpart for reference %q", c.Name, name)
				continue
			}
			v, err := f()
			if err != nil {
				t.Fatal(err)
			}
			d := math.Abs(v - want)
			worst = math.Max(worst, d)
			if d > 1e-12 {
				t.Errorf("%s %s: %.15g, reference %.15g (diff %.3g)", c.Name, name, v, want, d)
			}
		}
	}
	t.Logf("CKA max diff from reference: %.3g", worst)
}

func TestRSAReference(t *testing.T) {
	var worstRDM, worstRSA float64
	for _, c := range loadReference(t).Cases {
		x, y := denseOf(c.X), denseOf(c.Y)
		for dist, want := range c.RDM {
			a, err := NewRDM(x, Distance(dist))
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewRDM(y, Distance(dist))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []struct {
				got  *RDM
				want []float64
			}{{a, want.X}, {b, want.Y}} {
				worstRDM = math.Max(worstRDM, checkDist(t, c.Name+" "+dist, p.got.Dist, p.want))
			}
			// Compare the reference RDMs themselves, so a comparison is
			// checked even if an RDM differed in the last bits.
			ra, rb := &RDM{N: a.N, Dist: want.X}, &RDM{N: b.N, Dist: want.Y}
			for comp, w := range c.RSA[dist] {
				v, err := CompareRDMs(ra, rb, Comparison(comp))
				if err != nil {
					t.Fatal(err)
				}
				d := math.Abs(v - w)
				worstRSA = math.Max(worstRSA, d)
				if d > 1e-12 {
					t.Errorf("%s %s %s: %.15g, rsatoolbox %.15g (diff %.3g)", c.Name, dist, comp, v, w, d)
				}
			}
		}
	}
	t.Logf("max diff from reference: RDM %.3g, comparison %.3g", worstRDM, worstRSA)
}

func TestCrossnobisReference(t *testing.T) {
	c := loadReference(t).Crossnobis
	var parts []mat.Matrix
	for _, r := range c.Runs {
		parts = append(parts, denseOf(r))
	}
	p := denseOf(c.Precision)
	prec := mat.NewSymDense(p.RawMatrix().Rows, p.RawMatrix().Data)
	var worst float64
	for _, tc := range []struct {
		name string
		prec mat.Symmetric
		want []float64
	}{{"identity", nil, c.Identity}, {"precision", prec, c.WithPrecision}} {
		got, err := Crossnobis(parts, tc.prec)
		if err != nil {
			t.Fatal(err)
		}
		worst = math.Max(worst, checkDist(t, tc.name, got.Dist, tc.want))
	}
	t.Logf("crossnobis max diff from rsatoolbox: %.3g", worst)
}

func TestTopologyReference(t *testing.T) {
	c := loadReference(t).Topology
	n := int(math.Round((1 + math.Sqrt(1+8*float64(len(c.RDM)))) / 2))
	base := &RDM{N: n, Dist: c.RDM}
	gt, err := base.GeoTopological(c.Low, c.Up)
	if err != nil {
		t.Fatal(err)
	}
	gd, err := base.Geodesic()
	if err != nil {
		t.Fatal(err)
	}
	gtd, err := gt.Geodesic()
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for _, tc := range []struct {
		name      string
		got, want []float64
	}{{"geo-topological", gt.Dist, c.GeoTopological}, {"geodesic", gd.Dist, c.Geodesic}, {"geodesic of geo-topological", gtd.Dist, c.GeodesicOfGeoTopological}} {
		worst = math.Max(worst, checkDist(t, tc.name, tc.got, tc.want))
	}
	t.Logf("topological RSA max diff from reference: %.3g", worst)
}

// checkDist fails unless got matches the reference dissimilarities want
// (non-empty) within 1e-12, and returns the largest difference.
func checkDist(t *testing.T, name string, got, want []float64) float64 {
	t.Helper()
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("%s: %d dissimilarities, reference %d", name, len(got), len(want))
	}
	var worst float64
	for i, w := range want {
		d := math.Abs(got[i] - w)
		worst = math.Max(worst, d)
		if d > 1e-12 {
			t.Errorf("%s: dissimilarity %d = %.15g, reference %.15g", name, i, got[i], w)
			break
		}
	}
	return worst
}

// TestNoiseReference: noise covariances, a Mahalanobis RDM and noise
// ceilings against rsatoolbox; a PLS fit's predictions against
// scikit-learn's PLSRegression.
func TestNoiseReference(t *testing.T) {
	c := loadReference(t).Noise
	if len(c.Cov) != len(NoiseMethods) {
		t.Fatalf("reference.json has %d noise covariances, want %d", len(c.Cov), len(NoiseMethods))
	}
	res := denseOf(c.Residuals)
	var worstCov float64
	for _, m := range NoiseMethods {
		got, err := NoiseCovariance(res, c.DOF, m)
		if err != nil {
			t.Fatal(err)
		}
		want := c.Cov[string(m)]
		for i := range want {
			for j := range want[i] {
				worstCov = math.Max(worstCov, math.Abs(got.At(i, j)-want[i][j])/(1+math.Abs(want[i][j])))
			}
		}
	}
	if worstCov > 1e-12 {
		t.Errorf("noise covariances: max relative diff %g", worstCov)
	}
	prec, err := NoisePrecision(res, c.DOF, NoiseShrinkDiag)
	if err != nil {
		t.Fatal(err)
	}
	p := denseOf(c.Precision)
	var worstPrec float64
	for i := range c.Precision {
		for j := range c.Precision[i] {
			worstPrec = math.Max(worstPrec, math.Abs(prec.At(i, j)-p.At(i, j)))
		}
	}
	rdm, err := MahalanobisRDM(denseOf(c.X), prec)
	if err != nil {
		t.Fatal(err)
	}
	worstMaha := checkDist(t, "mahalanobis", rdm.Dist, c.Mahalanobis)
	var rdms []*RDM
	for _, r := range c.Reps {
		rd, err := NewRDM(denseOf(r), Euclidean)
		if err != nil {
			t.Fatal(err)
		}
		rdms = append(rdms, rd)
	}
	if len(c.Ceiling) != len(Comparisons)-1 {
		t.Fatalf("reference.json has %d noise ceilings", len(c.Ceiling))
	}
	var worstCeil float64
	for name, want := range c.Ceiling {
		got, err := NoiseCeiling(rdms, Comparison(name))
		if err != nil {
			t.Fatal(err)
		}
		d := math.Max(math.Abs(got.Lower-want[0]), math.Abs(got.Upper-want[1]))
		if d > 1e-9 {
			t.Errorf("%s noise ceiling %+v, rsatoolbox %v", name, got, want)
		}
		worstCeil = math.Max(worstCeil, d)
	}
	m, err := PLS{Components: c.PLS.Components}.Fit(denseOf(c.PLS.X), denseOf(c.PLS.Y))
	if err != nil {
		t.Fatal(err)
	}
	pred := m.Predict(denseOf(c.PLS.XTest))
	var worstPLS float64
	for i, row := range c.PLS.Pred {
		for j, v := range row {
			worstPLS = math.Max(worstPLS, math.Abs(pred.At(i, j)-v))
		}
	}
	if worstPLS > 1e-6 {
		t.Errorf("PLS predictions: max diff %g from scikit-learn", worstPLS)
	}
	t.Logf("max diff from rsatoolbox: covariance %.3g (relative), precision %.3g, Mahalanobis RDM %.3g, noise ceilings %.3g; from scikit-learn's PLS: %.3g",
		worstCov, worstPrec, worstMaha, worstCeil, worstPLS)
}
