package compare

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// PLS is partial least squares regression as scikit-learn's PLSRegression
// with scale=False (NIPALS, mode A, regression deflation, the power
// method with its tolerance and iteration cap): the encoding model of
// Brain-Score's neural predictivity, with 25 components.
type PLS struct {
	Components int // default 25
}

// PLSModel is a fitted PLS map: ŷ = (x − XMean) Coef + YMean.
type PLSModel struct {
	XMean, YMean []float64
	Coef         *mat.Dense // features × targets
	Components   int        // fitted (fewer than asked when Y's residual vanishes)
}

const (
	plsMaxIter = 500
	plsTol     = 1e-6
	eps64      = 2.220446049250313e-16
)

// Fit fits x (stimuli × features) to y (stimuli × targets).
func (p PLS) Fit(x, y mat.Matrix) (*PLSModel, error) {
	k := p.Components
	if k == 0 {
		k = 25
	}
	n, f := x.Dims()
	ny, t := y.Dims()
	if n != ny {
		return nil, errorf("pls", "x has %d stimuli, y has %d", n, ny)
	}
	if k < 1 || k > min(n, f) {
		return nil, errorf("pls", "%d components from %d stimuli × %d features: want 1..%d", k, n, f, min(n, f))
	}
	m := &PLSModel{XMean: colMeans(x), YMean: colMeans(y)}
	xk, yk := shifted(x, m.XMean), shifted(y, m.YMean)
	W, P, Q := mat.NewDense(f, k, nil), mat.NewDense(f, k, nil), mat.NewDense(t, k, nil)
	xs := make([]float64, n)
	for c := 0; c < k; c++ {
		for j := 0; j < t; j++ { // targets already explained are zeroed, as scikit-learn does
			col := mat.Col(nil, j, yk)
			if slicesAll(col, func(v float64) bool { return math.Abs(v) < 10*eps64 }) {
				yk.SetCol(j, make([]float64, n))
			}
		}
		w, ok := plsPower(xk, yk)
		if !ok {
			break // the residual of y is constant: no further component
		}
		xsv := mat.NewVecDense(n, xs)
		xsv.MulVec(xk, mat.NewVecDense(f, w))
		ss := dot(xs, xs)
		var pl, ql mat.VecDense
		pl.MulVec(xk.T(), xsv)
		pl.ScaleVec(1/ss, &pl)
		ql.MulVec(yk.T(), xsv)
		ql.ScaleVec(1/ss, &ql)
		var d mat.Dense
		d.Outer(1, xsv, &pl)
		xk.Sub(xk, &d)
		d.Reset()
		d.Outer(1, xsv, &ql)
		yk.Sub(yk, &d)
		W.SetCol(c, w)
		P.SetCol(c, pl.RawVector().Data)
		Q.SetCol(c, ql.RawVector().Data)
		m.Components = c + 1
	}
	if m.Components == 0 {
		return nil, errorf("pls", "y is constant: nothing to fit")
	}
	W = W.Slice(0, f, 0, m.Components).(*mat.Dense)
	P = P.Slice(0, f, 0, m.Components).(*mat.Dense)
	Q = Q.Slice(0, t, 0, m.Components).(*mat.Dense)
	// Rotations W (PᵀW)⁺ map centred x to the scores; Coef = rotations Qᵀ.
	var ptw mat.Dense
	ptw.Mul(P.T(), W)
	inv, err := pinv(&ptw)
	if err != nil {
		return nil, err
	}
	var rot mat.Dense
	rot.Mul(W, inv)
	m.Coef = mat.NewDense(f, t, nil)
	m.Coef.Mul(&rot, Q.T())
	return m, nil
}

// plsPower is scikit-learn's _get_first_singular_vectors_power_method
// (mode A, y weights not normalised): the x weights of the next component.
func plsPower(x, y *mat.Dense) ([]float64, bool) {
	n, f := x.Dims()
	_, t := y.Dims()
	ys := -1
	for j := 0; j < t && ys < 0; j++ {
		if !slicesAll(mat.Col(nil, j, y), func(v float64) bool { return math.Abs(v) <= eps64 }) {
			ys = j
		}
	}
	if ys < 0 {
		return nil, false
	}
	yScore := mat.NewVecDense(n, mat.Col(nil, ys, y))
	var w, xScore, yw mat.VecDense
	old := mat.NewVecDense(f, uniform(100, f)) // scikit-learn's "big value" for the first check
	for it := 0; it < plsMaxIter; it++ {
		w.MulVec(x.T(), yScore)
		w.ScaleVec(1/mat.Dot(yScore, yScore), &w)
		w.ScaleVec(1/(math.Sqrt(mat.Dot(&w, &w))+eps64), &w)
		xScore.MulVec(x, &w)
		yw.MulVec(y.T(), &xScore)
		yw.ScaleVec(1/mat.Dot(&xScore, &xScore), &yw)
		yScore.MulVec(y, &yw)
		yScore.ScaleVec(1/(mat.Dot(&yw, &yw)+eps64), yScore)
		var diff mat.VecDense
		diff.SubVec(&w, old)
		if mat.Dot(&diff, &diff) < plsTol || t == 1 {
			break
		}
		old.CloneFromVec(&w)
	}
	return append([]float64(nil), w.RawVector().Data...), true
}

// pinv is the Moore–Penrose pseudo-inverse (scipy's cutoff: singular
// values below max(m, n)·eps·σ_max are dropped).
func pinv(a *mat.Dense) (*mat.Dense, error) {
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThin) {
		return nil, errorf("pls", "SVD failed")
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	s := svd.Values(nil)
	r, c := a.Dims()
	cut := float64(max(r, c)) * eps64 * s[0]
	for i, x := range s {
		if x > cut {
			s[i] = 1 / x
		} else {
			s[i] = 0
		}
	}
	var vs mat.Dense
	vs.Apply(func(_, j int, x float64) float64 { return x * s[j] }, &v)
	out := mat.NewDense(c, r, nil)
	out.Mul(&vs, u.T())
	return out, nil
}

// Predict is the model's prediction for x (stimuli × features).
func (m *PLSModel) Predict(x mat.Matrix) *mat.Dense {
	var out mat.Dense
	out.Mul(shifted(x, m.XMean), m.Coef)
	r, t := out.Dims()
	for i := 0; i < r; i++ {
		row := out.RawRowView(i)
		for j := 0; j < t; j++ {
			row[j] += m.YMean[j]
		}
	}
	return &out
}

// BrainScore is Brain-Score's neural predictivity: PLS (25 components)
// fitted on a random 90% of the stimuli and scored by Pearson r per
// target on the other 10%, over 10 splits. The splits are seeded
// permutations (Brain-Score's are scikit-learn's ShuffleSplit with
// random_state 1: the same scheme, not the same draws).
type BrainScore struct {
	PLS          PLS     // zero Components: 25, or the features or training stimuli where fewer
	Splits       int     // default 10
	TestFraction float64 // default 0.1
	Seed         uint64
}

// Predictivity is a BrainScore result.
type Predictivity struct {
	R      []float64 `json:"r"`      // per target: held-out Pearson r, mean over splits
	Median float64   `json:"median"` // Brain-Score's aggregate: the median over targets of each split's r, mean over splits
}

// Score fits x (stimuli × features) to each target of y.
func (b BrainScore) Score(x, y mat.Matrix) (*Predictivity, error) {
	if b.Splits == 0 {
		b.Splits = 10
	}
	if b.TestFraction == 0 {
		b.TestFraction = 0.1
	}
	n, _ := x.Dims()
	_, t := y.Dims()
	nTest := int(math.Ceil(b.TestFraction * float64(n))) // scikit-learn's ShuffleSplit rounds the test size up
	if nTest < 3 || n-nTest < 3 {
		return nil, errorf("pls", "%d stimuli cannot make %.0f%%/%.0f%% splits with at least 3 on each side", n, 100*(1-b.TestFraction), 100*b.TestFraction)
	}
	pls := b.PLS
	if pls.Components == 0 { // 25, or fewer where the features or training stimuli are fewer
		_, f := x.Dims()
		pls.Components = min(25, f, n-nTest)
	}
	rng := rand.New(rand.NewPCG(b.Seed, 0x9e3779b97f4a7c15))
	out := &Predictivity{R: make([]float64, t)}
	for s := 0; s < b.Splits; s++ {
		perm := rng.Perm(n)
		test, train := perm[:nTest], perm[nTest:]
		m, err := pls.Fit(rowsOf(x, train), rowsOf(y, train))
		if err != nil {
			return nil, err
		}
		pred := m.Predict(rowsOf(x, test))
		yt := rowsOf(y, test)
		rs := make([]float64, t)
		for j := range rs {
			rs[j] = stat.Correlation(mat.Col(nil, j, yt), mat.Col(nil, j, pred), nil)
			out.R[j] += rs[j] / float64(b.Splits)
		}
		out.Median += medianOf(rs) / float64(b.Splits)
	}
	return out, nil
}

// SplitHalf is Brain-Score's internal-consistency ceiling: the repeated
// measurements are split into two random halves, each half averaged, and
// each target's Pearson r between the half means (over stimuli) corrected
// by Spearman–Brown, 2r/(1+r): the reliability of the mean of all the
// repetitions. The ceiling is the mean over splits; Median aggregates over
// targets as Brain-Score does.
func SplitHalf(reps []mat.Matrix, splits int, seed uint64) (*Predictivity, error) {
	if len(reps) < 2 {
		return nil, errorf("ceiling", "%d repetitions: the split-half ceiling needs at least 2", len(reps))
	}
	if splits == 0 {
		splits = 10
	}
	if _, err := MeanOf(reps); err != nil {
		return nil, err
	}
	_, t := reps[0].Dims()
	rng := rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))
	out := &Predictivity{R: make([]float64, t)}
	for s := 0; s < splits; s++ {
		perm := rng.Perm(len(reps))
		half := len(reps) / 2
		a, b := make([]mat.Matrix, 0, half), make([]mat.Matrix, 0, len(reps)-half)
		for i, k := range perm {
			if i < half {
				a = append(a, reps[k])
			} else {
				b = append(b, reps[k])
			}
		}
		ma, _ := MeanOf(a)
		mb, _ := MeanOf(b)
		rs := make([]float64, t)
		for j := range rs {
			r := stat.Correlation(mat.Col(nil, j, ma), mat.Col(nil, j, mb), nil)
			rs[j] = 2 * r / (1 + r)
			out.R[j] += rs[j] / float64(splits)
		}
		out.Median += medianOf(rs) / float64(splits)
	}
	return out, nil
}

func rowsOf(x mat.Matrix, idx []int) *mat.Dense {
	_, f := x.Dims()
	out := mat.NewDense(len(idx), f, nil)
	for i, r := range idx {
		for j := 0; j < f; j++ {
			out.Set(i, j, x.At(r, j))
		}
	}
	return out
}

// medianOf is the median of v, NaNs (undefined correlations) left out
// as numpy's nanmedian does; NaN when all are.
func medianOf(v []float64) float64 {
	s := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	return median(s)
}

func slicesAll(v []float64, ok func(float64) bool) bool {
	for _, x := range v {
		if !ok(x) {
			return false
		}
	}
	return true
}
