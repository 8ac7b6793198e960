package compare

import (
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// NoiseMethod names how a noise covariance is estimated from residuals
// (rsatoolbox's cov_from_residuals methods).
type NoiseMethod string

const (
	NoiseFull NoiseMethod = "full" // the sample covariance
	NoiseDiag NoiseMethod = "diag" // its diagonal: a univariate noise normaliser
	// NoiseShrinkEye shrinks towards a multiple of the identity (Ledoit &
	// Wolf 2004); NoiseShrinkDiag towards the diagonal (Schäfer & Strimmer
	// 2005), rsatoolbox's default.
	NoiseShrinkEye  NoiseMethod = "shrinkage-eye"
	NoiseShrinkDiag NoiseMethod = "shrinkage-diag"
)

// NoiseMethods lists the estimators, for flag help and validation.
var NoiseMethods = []NoiseMethod{NoiseShrinkDiag, NoiseShrinkEye, NoiseDiag, NoiseFull}

// NoiseCovariance estimates the features × features noise covariance from
// residuals (observations × features: e.g. each repetition of a stimulus
// less that stimulus's mean), as rsatoolbox's cov_from_residuals: the
// columns are centred, dof ≤ 0 means observations − 1 (pass the true
// degrees of freedom, e.g. stimuli × (repetitions − 1), when the
// residuals come from per-stimulus means).
func NoiseCovariance(residuals mat.Matrix, dof int, method NoiseMethod) (*mat.SymDense, error) {
	n, f := residuals.Dims()
	if n < 2 || f < 1 {
		return nil, errorf("noise", "%d×%d residuals: need at least 2 observations", n, f)
	}
	if dof <= 0 {
		dof = n - 1
	}
	x := shifted(residuals, colMeans(residuals))
	var s mat.SymDense
	s.SymOuterK(1, x.T()) // Σ xᵢxᵢᵀ
	cov := mat.NewSymDense(f, nil)
	switch method {
	case NoiseFull:
		cov.ScaleSym(1/float64(dof), &s)
	case NoiseDiag:
		for j := 0; j < f; j++ {
			cov.SetSym(j, j, s.At(j, j)/float64(dof))
		}
	case NoiseShrinkEye, NoiseShrinkDiag:
		// Σ (xᵢxᵢᵀ)², elementwise: the variance of each covariance entry.
		s2 := mat.NewSymDense(f, nil)
		for i := 0; i < n; i++ {
			r := x.RawRowView(i)
			for a := 0; a < f; a++ {
				for b := a; b < f; b++ {
					v := r[a] * r[b]
					s2.SetSym(a, b, s2.At(a, b)+v*v)
				}
			}
		}
		if method == NoiseShrinkEye {
			shrinkEye(cov, &s, s2, n, dof)
		} else if err := shrinkDiag(cov, &s, s2, n, dof); err != nil {
			return nil, err
		}
	default:
		return nil, errorf("noise", "unknown method %q (want one of %v)", method, NoiseMethods)
	}
	return cov, nil
}

// shrinkEye is rsatoolbox's _covariance_eye: S = Σxxᵀ/n shrunk towards
// m·I by b²/d², then scaled by n/dof.
func shrinkEye(out, sum, sum2 *mat.SymDense, n, dof int) {
	f := sum.SymmetricDim()
	fn := float64(n)
	var m, d2, b2 float64
	for a := 0; a < f; a++ {
		m += sum.At(a, a) / fn
	}
	m /= float64(f)
	for a := 0; a < f; a++ {
		for b := 0; b < f; b++ {
			s := sum.At(a, b) / fn
			b2 += sum2.At(a, b)/fn - s*s
			e := s
			if a == b {
				e -= m
			}
			d2 += e * e
		}
	}
	b2 = math.Min(d2, b2/fn)
	for a := 0; a < f; a++ {
		for b := a; b < f; b++ {
			v := (d2 - b2) / d2 * sum.At(a, b) / fn
			if a == b {
				v += b2 / d2 * m
			}
			out.SetSym(a, b, v*fn/float64(dof))
		}
	}
}

// shrinkDiag is rsatoolbox's _covariance_diag: the off-diagonal
// covariances scaled by 1 − λ, λ the Schäfer–Strimmer estimate on the
// correlation scale, clipped to [0, 1].
func shrinkDiag(out, sum, sum2 *mat.SymDense, n, dof int) error {
	f := sum.SymmetricDim()
	fdof := float64(dof)
	std := make([]float64, f)
	for a := range std {
		if std[a] = math.Sqrt(sum.At(a, a) / fdof); !(std[a] > 0) {
			return errorf("noise", "feature %d has no residual variance: shrinkage-diag is undefined", a)
		}
	}
	var num, den float64
	for a := 0; a < f; a++ {
		for b := 0; b < f; b++ {
			if a == b {
				continue
			}
			sm := sum.At(a, b) / std[a] / std[b] / float64(n-1)
			s2m := sum2.At(a, b) / (std[a] * std[a]) / (std[b] * std[b]) / float64(n-1)
			num += float64(n) / (fdof * fdof) * (s2m - sm*sm)
			den += sm * sm
		}
	}
	lambda := 0.0
	if den > 0 {
		lambda = math.Max(math.Min(num/den, 1), 0)
	}
	for a := 0; a < f; a++ {
		for b := a; b < f; b++ {
			v := sum.At(a, b) / fdof
			if a != b {
				v *= 1 - lambda
			}
			out.SetSym(a, b, v)
		}
	}
	return nil
}

// NoisePrecision is the inverse of NoiseCovariance: the precision that
// MahalanobisRDM and Crossnobis take.
func NoisePrecision(residuals mat.Matrix, dof int, method NoiseMethod) (*mat.SymDense, error) {
	cov, err := NoiseCovariance(residuals, dof, method)
	if err != nil {
		return nil, err
	}
	var ch mat.Cholesky
	if !ch.Factorize(cov) {
		return nil, errorf("noise", "the %s noise covariance is singular (fewer residual observations than features? use shrinkage-diag or shrinkage-eye)", method)
	}
	prec := mat.NewSymDense(cov.SymmetricDim(), nil)
	if err := ch.InverseTo(prec); err != nil {
		return nil, errorf("noise", "inverting the %s noise covariance: %v", method, err)
	}
	return prec, nil
}

// Residuals stacks each repetition less the mean over repetitions
// (stimulus by stimulus): the residuals of repeated measurements, with
// their degrees of freedom, stimuli × (repetitions − 1).
func Residuals(reps []mat.Matrix) (*mat.Dense, int, error) {
	mean, err := MeanOf(reps)
	if err != nil {
		return nil, 0, err
	}
	n, f := mean.Dims()
	out := mat.NewDense(n*len(reps), f, nil)
	for k, r := range reps {
		out.Slice(k*n, (k+1)*n, 0, f).(*mat.Dense).Sub(r, mean)
	}
	return out, n * (len(reps) - 1), nil
}

// MeanOf is the elementwise mean of matrices of one shape (repeated
// measurements of the same stimuli).
func MeanOf(reps []mat.Matrix) (*mat.Dense, error) {
	if len(reps) == 0 {
		return nil, errorf("repeats", "no repetitions")
	}
	n, f := reps[0].Dims()
	sum := mat.NewDense(n, f, nil)
	for k, r := range reps {
		if rn, rf := r.Dims(); rn != n || rf != f {
			return nil, errorf("repeats", "repetition %d is %d×%d, repetition 0 %d×%d", k, rn, rf, n, f)
		}
		sum.Add(sum, r)
	}
	sum.Scale(1/float64(len(reps)), sum)
	return sum, nil
}

// MahalanobisRDM is rsatoolbox's calc_rdm_mahalanobis: the squared
// Mahalanobis distance (xᵢ − xⱼ)ᵀ P (xᵢ − xⱼ) divided by the number of
// features; a nil precision is the Euclidean RDM.
func MahalanobisRDM(x mat.Matrix, precision mat.Symmetric) (*RDM, error) {
	if precision == nil {
		return NewRDM(x, Euclidean)
	}
	n, f := x.Dims()
	if n < 2 {
		return nil, errorf("rdm", "need at least 2 stimuli, have %d", n)
	}
	if precision.SymmetricDim() != f {
		return nil, errorf("rdm", "precision is %d×%d for %d features", precision.SymmetricDim(), precision.SymmetricDim(), f)
	}
	var xp, k mat.Dense
	xp.Mul(x, precision)
	k.Mul(&xp, x.T())
	r := &RDM{N: n, Dist: make([]float64, 0, n*(n-1)/2)}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			r.Dist = append(r.Dist, (k.At(i, i)+k.At(j, j)-k.At(i, j)-k.At(j, i))/float64(f))
		}
	}
	return r, nil
}

// Ceiling is a noise ceiling: the score the true model would reach,
// between Lower and Upper.
type Ceiling struct {
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// PoolRDMs is the pooled RDM of rsatoolbox's noise ceilings
// (inference_util.pool_rdm): the mean of rdms after normalising each as
// comparison c ignores: by its root mean square for cosine, to z-scores
// for Pearson, to ranks for the rank comparisons. The whitened comparisons
// pool as their unwhitened forms, as rsatoolbox's boot_noise_ceiling does.
func PoolRDMs(rdms []*RDM, c Comparison) (*RDM, error) {
	if len(rdms) == 0 {
		return nil, errorf("pool", "no RDMs")
	}
	m := len(rdms[0].Dist)
	out := &RDM{N: rdms[0].N, Dist: make([]float64, m)}
	for k, r := range rdms {
		if r.N != out.N {
			return nil, errorf("pool", "RDM %d has %d stimuli, RDM 0 %d", k, r.N, out.N)
		}
		v := append([]float64(nil), r.Dist...)
		switch c {
		case CosineSim, CosineWhitened:
			scaleTo(v, 1/math.Sqrt(dot(v, v)/float64(m)))
		case Pearson, PearsonWhitened:
			mean, std := stat.PopMeanStdDev(v, nil)
			for i := range v {
				v[i] = (v[i] - mean) / std
			}
		case Spearman, RhoA, KendallTauA, KendallTauB:
			v = ranks(v)
		default:
			return nil, errorf("pool", "unknown comparison %q (want one of %v)", c, Comparisons)
		}
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, errorf("pool", "RDM %d is constant: %s is undefined", k, c)
			}
			out.Dist[i] += x
		}
	}
	// Sum, then divide, as numpy's mean: averaged ranks then tie exactly
	// where rsatoolbox's do.
	scaleTo(out.Dist, 1/float64(len(rdms)))
	return out, nil
}

func scaleTo(v []float64, s float64) {
	for i := range v {
		v[i] *= s
	}
}

// NoiseCeiling is rsatoolbox's boot_noise_ceiling without the bootstrap:
// over repeated measurements' RDMs (subjects, sessions), the upper bound
// is the mean similarity of each RDM to the pooled RDM of all, the lower
// bound to the pooled RDM of the others (leave one out).
func NoiseCeiling(rdms []*RDM, c Comparison) (Ceiling, error) {
	if len(rdms) < 2 {
		return Ceiling{}, errorf("noise ceiling", "%d RDMs: need at least 2 repeated measurements", len(rdms))
	}
	all, err := PoolRDMs(rdms, c)
	if err != nil {
		return Ceiling{}, err
	}
	var out Ceiling
	for i, r := range rdms {
		others := append(append([]*RDM(nil), rdms[:i]...), rdms[i+1:]...)
		loo, err := PoolRDMs(others, c)
		if err != nil {
			return Ceiling{}, err
		}
		lo, err := CompareRDMs(loo, r, c)
		if err != nil {
			return Ceiling{}, err
		}
		up, err := CompareRDMs(all, r, c)
		if err != nil {
			return Ceiling{}, err
		}
		out.Lower += lo / float64(len(rdms))
		out.Upper += up / float64(len(rdms))
	}
	return out, nil
}
