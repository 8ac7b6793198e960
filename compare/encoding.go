package compare

import (
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// Ridge configures encoding models: ridge regression from features X
// to each target (a recorded unit) of Y, as in himalaya's RidgeCV with an
// alpha per target.
type Ridge struct {
	// Alphas are the candidate penalties; nil means 10^-3 … 10^6 (10 values).
	Alphas []float64
	// Folds is k of the outer k-fold cross-validation that gives the
	// held-out predictions (default 5); InnerFolds is k of the inner one,
	// on each outer training set, that picks each target's alpha by
	// held-out squared error (default 5). Folds are contiguous blocks of
	// rows: shuffle the stimuli first if their order carries structure.
	Folds, InnerFolds int
}

// Encoding is an encoding model's score.
type Encoding struct {
	// R is, per target, Pearson's r between the target and its held-out
	// predictions (every stimulus is predicted once, by the model fitted
	// on the other folds).
	R []float64
	// Alpha is, per target, the alpha chosen on the whole data by the
	// inner cross-validation: the one Fit would use.
	Alpha []float64
}

func (r Ridge) withDefaults() Ridge {
	if r.Alphas == nil {
		for e := -3; e <= 6; e++ {
			r.Alphas = append(r.Alphas, math.Pow(10, float64(e)))
		}
	}
	if r.Folds == 0 {
		r.Folds = 5
	}
	if r.InnerFolds == 0 {
		r.InnerFolds = 5
	}
	return r
}

// Score cross-validates ridge encoding models from x (stimuli × features)
// to each column of y (stimuli × targets).
func (r Ridge) Score(x, y mat.Matrix) (*Encoding, error) {
	r = r.withDefaults()
	n, _ := x.Dims()
	ny, t := y.Dims()
	if n != ny {
		return nil, errorf("encoding", "x has %d stimuli, y has %d", n, ny)
	}
	if r.Folds < 2 || n < 2*r.Folds || len(r.Alphas) == 0 {
		return nil, errorf("encoding", "%d stimuli cannot make %d folds of at least 2 (and %d alphas)", n, r.Folds, len(r.Alphas))
	}
	pred := mat.NewDense(n, t, nil)
	for f := 0; f < r.Folds; f++ {
		lo, hi := f*n/r.Folds, (f+1)*n/r.Folds
		xtr, ytr := dropRows(x, lo, hi), dropRows(y, lo, hi)
		alphas, err := r.pickAlphas(xtr, ytr)
		if err != nil {
			return nil, err
		}
		m, err := fitRidge(xtr, ytr, alphas)
		if err != nil {
			return nil, err
		}
		pred.Slice(lo, hi, 0, t).(*mat.Dense).Copy(m.predict(sliceRows(x, lo, hi)))
	}
	out := &Encoding{R: make([]float64, t)}
	for j := 0; j < t; j++ {
		out.R[j] = stat.Correlation(mat.Col(nil, j, y), mat.Col(nil, j, pred), nil)
	}
	var err error
	out.Alpha, err = r.pickAlphas(x, y)
	return out, err
}

// Fit is the ridge map from x to y with each target's alpha chosen by
// inner cross-validation: weights features × targets and an intercept per
// target.
func (r Ridge) Fit(x, y mat.Matrix) (w *mat.Dense, intercept []float64, alphas []float64, err error) {
	r = r.withDefaults()
	if alphas, err = r.pickAlphas(x, y); err != nil {
		return nil, nil, nil, err
	}
	m, err := fitRidge(x, y, alphas)
	if err != nil {
		return nil, nil, nil, err
	}
	return m.w, m.b, alphas, nil
}

// pickAlphas chooses, per target, the alpha with the least inner-CV
// squared error.
func (r Ridge) pickAlphas(x, y mat.Matrix) ([]float64, error) {
	n, _ := x.Dims()
	_, t := y.Dims()
	k := r.InnerFolds
	if k < 2 || n < 2*k {
		return nil, errorf("encoding", "%d training stimuli cannot make %d inner folds of at least 2", n, k)
	}
	sse := mat.NewDense(len(r.Alphas), t, nil)
	for f := 0; f < k; f++ {
		lo, hi := f*n/k, (f+1)*n/k
		s, err := newRidgeSVD(dropRows(x, lo, hi), dropRows(y, lo, hi))
		if err != nil {
			return nil, err
		}
		xv, yv := sliceRows(x, lo, hi), sliceRows(y, lo, hi)
		for a, alpha := range r.Alphas {
			p := s.model(uniform(alpha, t)).predict(xv)
			for i := 0; i < hi-lo; i++ {
				for j := 0; j < t; j++ {
					d := p.At(i, j) - yv.At(i, j)
					sse.Set(a, j, sse.At(a, j)+d*d)
				}
			}
		}
	}
	best := make([]float64, t)
	for j := range best {
		b := 0
		for a := range r.Alphas {
			if sse.At(a, j) < sse.At(b, j) {
				b = a
			}
		}
		best[j] = r.Alphas[b]
	}
	return best, nil
}

// ridgeSVD is a training set's centred features as X = U S Vᵀ and the
// projection UᵀY of its centred targets: every alpha's weights are then
// V diag(s/(s²+α)) UᵀY, without refactorising.
type ridgeSVD struct {
	v      *mat.Dense
	s      []float64
	uty    *mat.Dense
	mx, my []float64
}

func newRidgeSVD(x, y mat.Matrix) (*ridgeSVD, error) {
	mx, my := colMeans(x), colMeans(y)
	xc, yc := shifted(x, mx), shifted(y, my)
	var svd mat.SVD
	if !svd.Factorize(xc, mat.SVDThin) {
		return nil, errorf("encoding", "SVD of the features did not converge")
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	var uty mat.Dense
	uty.Mul(u.T(), yc)
	return &ridgeSVD{v: &v, s: svd.Values(nil), uty: &uty, mx: mx, my: my}, nil
}

// ridgeModel is fitted weights and intercepts.
type ridgeModel struct {
	w *mat.Dense
	b []float64
}

func (s *ridgeSVD) model(alphas []float64) *ridgeModel {
	k, t := s.uty.Dims()
	d := mat.NewDense(k, t, nil)
	for i := 0; i < k; i++ {
		for j := 0; j < t; j++ {
			d.Set(i, j, s.s[i]/(s.s[i]*s.s[i]+alphas[j])*s.uty.At(i, j))
		}
	}
	var w mat.Dense
	w.Mul(s.v, d)
	b := make([]float64, t)
	for j := range b {
		b[j] = s.my[j] - mat.Dot(mat.NewVecDense(len(s.mx), s.mx), w.ColView(j))
	}
	return &ridgeModel{w: &w, b: b}
}

func fitRidge(x, y mat.Matrix, alphas []float64) (*ridgeModel, error) {
	s, err := newRidgeSVD(x, y)
	if err != nil {
		return nil, err
	}
	return s.model(alphas), nil
}

func (m *ridgeModel) predict(x mat.Matrix) *mat.Dense {
	var p mat.Dense
	p.Mul(x, m.w)
	r, _ := p.Dims()
	for i := 0; i < r; i++ {
		row := p.RawRowView(i)
		for j := range row {
			row[j] += m.b[j]
		}
	}
	return &p
}

func uniform(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// sliceRows is rows [lo, hi) of x; dropRows is every other row.
func sliceRows(x mat.Matrix, lo, hi int) *mat.Dense {
	_, c := x.Dims()
	d := mat.NewDense(hi-lo, c, nil)
	for i := lo; i < hi; i++ {
		for j := 0; j < c; j++ {
			d.Set(i-lo, j, x.At(i, j))
		}
	}
	return d
}

func dropRows(x mat.Matrix, lo, hi int) *mat.Dense {
	r, c := x.Dims()
	d := mat.NewDense(r-(hi-lo), c, nil)
	k := 0
	for i := 0; i < r; i++ {
		if i >= lo && i < hi {
			continue
		}
		for j := 0; j < c; j++ {
			d.Set(k, j, x.At(i, j))
		}
		k++
	}
	return d
}
