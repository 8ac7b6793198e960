// Package compare measures how alike two representations of the same
// stimuli are: centred kernel alignment (CKA) and representational
// similarity analysis (RSA). Its inputs are plain stimuli × features
// float64 matrices (gonum mat); where they come from (model hooks, .npy,
// CSV, safetensors) is the sources' business.
//
// Definitions follow Kornblith et al. 2019 (google-research
// representation_similarity) for CKA and rsatoolbox for RSA.
package compare

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// LinearCKA is linear CKA between x and y (rows are the same stimuli),
// biased (Kornblith) or debiased (the unbiased HSIC estimator of Song et
// al. 2012, as in Nguyen et al. 2021). It runs the streaming accumulator
// over the whole matrices, so it needs memory for the features, not the
// stimuli.
func LinearCKA(x, y mat.Matrix, debiased bool) (float64, error) {
	s := &CKAStream{}
	if err := s.Add(x, y); err != nil {
		return 0, err
	}
	if debiased {
		return s.Debiased()
	}
	return s.Biased()
}

// CKAStream accumulates linear CKA between two representations over
// stimuli given in chunks: XᵀX, YᵀY, XᵀY, the column sums and a few
// row-norm moments, so its memory is O((dx+dy)²), whatever the number of
// stimuli. The zero value is ready to use.
//
// Every row is first shifted by the first chunk's column means: CKA is
// invariant to a constant shift, and subtracting a near-mean keeps the
// uncentred sums from cancelling catastrophically when features have a
// large offset.
type CKAStream struct {
	n                  int
	shiftX, shiftY     []float64
	xx, yy             *mat.SymDense
	xy                 *mat.Dense
	sx, sy             []float64 // column sums
	sa, sb             float64   // Σ‖xᵢ‖², Σ‖yᵢ‖²
	saa, sbb, sab      float64   // Σ‖xᵢ‖⁴, Σ‖yᵢ‖⁴, Σ‖xᵢ‖²‖yᵢ‖²
	sax, sbx, say, sby []float64 // Σ‖xᵢ‖²xᵢ, Σ‖yᵢ‖²xᵢ, Σ‖xᵢ‖²yᵢ, Σ‖yᵢ‖²yᵢ
}

// N is the number of stimuli added so far.
func (s *CKAStream) N() int { return s.n }

// Add accumulates a chunk of stimuli: row i of x and row i of y are the
// same stimulus. Every chunk must have the widths of the first.
func (s *CKAStream) Add(x, y mat.Matrix) error {
	rx, dx := x.Dims()
	ry, dy := y.Dims()
	if rx != ry {
		return errorf("cka", "x has %d stimuli, y has %d", rx, ry)
	}
	if rx == 0 {
		return nil
	}
	if s.xx == nil {
		if dx == 0 || dy == 0 {
			return errorf("cka", "a representation has no features (x %d, y %d)", dx, dy)
		}
		s.shiftX, s.shiftY = colMeans(x), colMeans(y)
		s.xx, s.yy, s.xy = mat.NewSymDense(dx, nil), mat.NewSymDense(dy, nil), mat.NewDense(dx, dy, nil)
		s.sx, s.sy = make([]float64, dx), make([]float64, dy)
		s.sax, s.sbx = make([]float64, dx), make([]float64, dx)
		s.say, s.sby = make([]float64, dy), make([]float64, dy)
	} else if w := len(s.sx); dx != w || dy != len(s.sy) {
		return errorf("cka", "chunk has %d×%d features, earlier chunks %d×%d", dx, dy, w, len(s.sy))
	}
	xc, yc := shifted(x, s.shiftX), shifted(y, s.shiftY)
	// Symmetric rank-k updates do half the work of general products.
	s.xx.SymRankK(s.xx, 1, xc.T())
	s.yy.SymRankK(s.yy, 1, yc.T())
	// XᵀY += XcᵀYc in place (beta 1): no temporary dx×dy product.
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, xc.RawMatrix(), yc.RawMatrix(), 1, s.xy.RawMatrix())
	for i := 0; i < rx; i++ {
		xr, yr := xc.RawRowView(i), yc.RawRowView(i)
		a, b := dot(xr, xr), dot(yr, yr)
		s.sa += a
		s.sb += b
		s.saa += a * a
		s.sbb += b * b
		s.sab += a * b
		for j, v := range xr {
			s.sx[j] += v
			s.sax[j] += a * v
			s.sbx[j] += b * v
		}
		for j, v := range yr {
			s.sy[j] += v
			s.say[j] += a * v
			s.sby[j] += b * v
		}
	}
	s.n += rx
	return nil
}

// side is one representation's centred moments, derived from the sums.
type side struct {
	g    *mat.Dense // centred XᵀX
	mu   []float64  // column means (of the shifted rows)
	m    float64    // ‖μ‖²
	sq   float64    // ‖X̃‖²_F, the centred squared norm
	sa   float64    // Σ‖xᵢ‖²
	saa  float64    // Σ‖xᵢ‖⁴
	sax  []float64  // Σ‖xᵢ‖²xᵢ
	gram mat.Matrix // uncentred XᵀX
}

func (s *CKAStream) sides() (x, y side) {
	n := float64(s.n)
	mk := func(g *mat.SymDense, sum []float64, sa, saa float64, sax []float64) side {
		mu := make([]float64, len(sum))
		for j, v := range sum {
			mu[j] = v / n
		}
		c := mat.NewDense(len(mu), len(mu), nil)
		c.Outer(-n, mat.NewVecDense(len(mu), mu), mat.NewVecDense(len(mu), mu))
		c.Add(c, g)
		m := dot(mu, mu)
		return side{g: c, mu: mu, m: m, sq: sa - n*m, sa: sa, saa: saa, sax: sax, gram: g}
	}
	return mk(s.xx, s.sx, s.sa, s.saa, s.sax), mk(s.yy, s.sy, s.sb, s.sbb, s.sby)
}

// Biased is Kornblith's linear CKA: ‖X̃ᵀỸ‖²_F / (‖X̃ᵀX̃‖_F ‖ỸᵀỸ‖_F) on
// centred features.
func (s *CKAStream) Biased() (float64, error) {
	if err := s.ready(2); err != nil {
		return 0, err
	}
	x, y := s.sides()
	cxy := s.centredXY(x, y)
	return ratio(frob2(cxy), frob2(x.g), frob2(y.g))
}

// Debiased is linear CKA with the unbiased HSIC estimator, in feature
// space: HSIC₁ ∝ ‖X̃ᵀỸ‖² − n/(n−2)·⟨ssr_x, ssr_y⟩ + ‖X̃‖²‖Ỹ‖²/((n−1)(n−2)),
// ssr being the centred rows' squared norms. ⟨ssr_x, ssr_y⟩ is expanded
// into sums over uncentred rows, so it streams too. It needs n ≥ 4.
func (s *CKAStream) Debiased() (float64, error) {
	if err := s.ready(4); err != nil {
		return 0, err
	}
	x, y := s.sides()
	n := float64(s.n)
	cxy := s.centredXY(x, y)
	h := func(dotsq, ssr, sqx, sqy float64) float64 {
		return dotsq - n/(n-2)*ssr + sqx*sqy/((n-1)*(n-2))
	}
	hxy := h(frob2(cxy), s.ssrDot(x, y, s.sab, s.say, s.sbx, s.xy), x.sq, y.sq)
	hxx := h(frob2(x.g), s.ssrDot(x, x, x.saa, x.sax, x.sax, x.gram), x.sq, x.sq)
	hyy := h(frob2(y.g), s.ssrDot(y, y, y.saa, y.sax, y.sax, y.gram), y.sq, y.sq)
	if hxx <= 0 || hyy <= 0 {
		return 0, errorf("cka", "a representation has no variance the unbiased estimator can see (HSIC %g, %g)", hxx, hyy)
	}
	return hxy / math.Sqrt(hxx*hyy), nil
}

// ssrDot is Σᵢ ssr_x(i)·ssr_y(i), with ssr(i) = ‖xᵢ − μ‖² = aᵢ − 2xᵢ·μ + ‖μ‖²,
// expanded so that only streamed sums appear: sab = Σaᵢbᵢ and xy = XᵀY
// (uncentred, of the shifted rows), ay = Σaᵢyᵢ and bx = Σbᵢxᵢ.
func (s *CKAStream) ssrDot(x, y side, sab float64, ay, bx []float64, xy mat.Matrix) float64 {
	n := float64(s.n)
	q := mat.Inner(mat.NewVecDense(len(x.mu), x.mu), xy, mat.NewVecDense(len(y.mu), y.mu))
	return sab - 2*dot(y.mu, ay) + y.m*x.sa - 2*dot(x.mu, bx) + 4*q + x.m*y.sa - 3*n*x.m*y.m
}

func (s *CKAStream) centredXY(x, y side) *mat.Dense {
	c := mat.NewDense(len(x.mu), len(y.mu), nil)
	c.Outer(-float64(s.n), mat.NewVecDense(len(x.mu), x.mu), mat.NewVecDense(len(y.mu), y.mu))
	c.Add(c, s.xy)
	return c
}

func (s *CKAStream) ready(min int) error {
	if s.n < min {
		return errorf("cka", "%d stimuli; need at least %d", s.n, min)
	}
	return nil
}

func ratio(num, a, b float64) (float64, error) {
	if a <= 0 || b <= 0 {
		return 0, errorf("cka", "a representation is constant over the stimuli")
	}
	return num / math.Sqrt(a*b), nil
}

// LinearGram is XXᵀ, the n×n linear kernel.
func LinearGram(x mat.Matrix) *mat.SymDense {
	n, _ := x.Dims()
	g := mat.NewSymDense(n, nil)
	g.SymOuterK(1, x)
	return g
}

// RBFGram is the Gaussian kernel exp(−‖xᵢ−xⱼ‖²/(2·threshold²·median)),
// the median taken over all n² squared distances, the diagonal's zeros
// included (Kornblith's gram_rbf; threshold 1 is the median heuristic).
func RBFGram(x mat.Matrix, threshold float64) (*mat.SymDense, error) {
	n, _ := x.Dims()
	g := LinearGram(x)
	d := make([]float64, 0, n*n)
	sq := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			v := math.Max(g.At(i, i)-2*g.At(i, j)+g.At(j, j), 0)
			sq.SetSym(i, j, v)
		}
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			d = append(d, sq.At(i, j))
		}
	}
	med := median(d)
	if !(med > 0) || !(threshold > 0) {
		return nil, errorf("cka", "RBF bandwidth is 0 (median squared distance %g, threshold %g)", med, threshold)
	}
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			sq.SetSym(i, j, math.Exp(-sq.At(i, j)/(2*threshold*threshold*med)))
		}
	}
	return sq, nil
}

// RBFCKA is CKA with Gaussian kernels of bandwidth set by the median
// heuristic (RBFGram). It builds two n×n Grams: use it for n up to a few
// thousand stimuli.
func RBFCKA(x, y mat.Matrix, threshold float64, debiased bool) (float64, error) {
	if err := sameStimuli(x, y); err != nil {
		return 0, err
	}
	k, l, err := both(x, y, func(m mat.Matrix) (*mat.SymDense, error) { return RBFGram(m, threshold) })
	if err != nil {
		return 0, err
	}
	return GramCKA(k, l, debiased)
}

// GramCKA is CKA between two n×n kernel matrices: ⟨K̃, L̃⟩/(‖K̃‖‖L̃‖) with K̃
// the centred Gram, by double centring (biased) or by the unbiased
// estimator's centring (zeroed diagonal; means over n−2, corrected by
// Σmeans/(2(n−1)); diagonal zeroed again). Memory is O(n²): this is the
// form for n up to a few thousand, and the reference for the streaming one.
func GramCKA(k, l mat.Symmetric, debiased bool) (float64, error) {
	if n, m := k.SymmetricDim(), l.SymmetricDim(); n != m {
		return 0, errorf("cka", "Grams of %d and %d stimuli", n, m)
	}
	x, y, err := both(k, l, func(g mat.Symmetric) (*centred, error) { return newCentred(g, debiased) })
	if err != nil {
		return 0, err
	}
	return x.dot(y), nil
}

// both is f of a and of b, or the first error.
func both[In, Out any](a, b In, f func(In) (Out, error)) (Out, Out, error) {
	x, err := f(a)
	if err != nil {
		return x, x, err
	}
	y, err := f(b)
	return x, y, err
}

func centreGram(k mat.Symmetric, unbiased bool) *mat.Dense {
	n := k.SymmetricDim()
	g := mat.DenseCopyOf(k)
	if unbiased {
		for i := 0; i < n; i++ {
			g.Set(i, i, 0)
		}
	}
	means := make([]float64, n)
	var total float64
	for j := 0; j < n; j++ {
		means[j] = mat.Sum(g.ColView(j))
		if unbiased {
			means[j] /= float64(n - 2)
		} else {
			means[j] /= float64(n)
		}
		total += means[j]
	}
	corr := total / float64(2*n)
	if unbiased {
		corr = total / float64(2*(n-1))
	}
	for i := range means {
		means[i] -= corr
	}
	for i := 0; i < n; i++ {
		row := g.RawRowView(i)
		for j := range row {
			row[j] -= means[i] + means[j]
		}
	}
	if unbiased {
		for i := 0; i < n; i++ {
			g.Set(i, i, 0)
		}
	}
	return g
}

func sameStimuli(x, y mat.Matrix) error {
	rx, _ := x.Dims()
	ry, _ := y.Dims()
	if rx != ry {
		return errorf("cka", "x has %d stimuli, y has %d", rx, ry)
	}
	return nil
}

func colMeans(x mat.Matrix) []float64 {
	r, c := x.Dims()
	mu := make([]float64, c)
	for i := 0; i < r; i++ {
		for j := range mu {
			mu[j] += x.At(i, j)
		}
	}
	for j := range mu {
		mu[j] /= float64(r)
	}
	return mu
}

func shifted(x mat.Matrix, shift []float64) *mat.Dense {
	d := mat.DenseCopyOf(x)
	r, _ := d.Dims()
	for i := 0; i < r; i++ {
		row := d.RawRowView(i)
		for j := range row {
			row[j] -= shift[j]
		}
	}
	return d
}

func elemMul(a, b *mat.Dense) *mat.Dense {
	var c mat.Dense
	c.MulElem(a, b)
	return &c
}

func frob2(a *mat.Dense) float64 {
	v := mat.Norm(a, 2)
	return v * v
}

func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
