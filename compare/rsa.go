package compare

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// Distance names how an RDM measures the dissimilarity of two stimuli.
type Distance string

const (
	// Euclidean is rsatoolbox's "euclidean": the squared Euclidean
	// distance divided by the number of features.
	Euclidean Distance = "euclidean"
	// Correlation is 1 − Pearson r between the two stimuli's patterns.
	Correlation Distance = "correlation"
	// Cosine is 1 − cos between the two patterns (scipy's pdist "cosine").
	Cosine Distance = "cosine"
)

// Distances lists the RDM distances, for flag help and validation.
var Distances = []Distance{Euclidean, Correlation, Cosine}

// Comparison names how two RDMs are compared.
type Comparison string

const (
	Spearman    Comparison = "spearman" // Pearson r of the average ranks
	RhoA        Comparison = "rho-a"    // 12⟨r̃₁, r̃₂⟩/(m³ − m) on centred average ranks
	KendallTauA Comparison = "tau-a"    // (concordant − discordant)/pairs, ties count 0
	KendallTauB Comparison = "tau-b"    // τ_a's numerator over √((pairs − ties₁)(pairs − ties₂))
	Pearson     Comparison = "pearson"
	CosineSim   Comparison = "cosine" // cosine of the dissimilarity vectors, uncentred
	// CosineWhitened and PearsonWhitened are rsatoolbox's cosine_cov and
	// corr_cov without a noise model: the cosine of the double-centred
	// second-moment matrices −½HDH (Diedrichsen et al. 2021), which
	// whitens the dependence between dissimilarities that share a
	// stimulus. PearsonWhitened first subtracts each RDM's mean.
	CosineWhitened  Comparison = "cosine-whitened"
	PearsonWhitened Comparison = "pearson-whitened"
)

// Comparisons lists the RDM comparisons, for flag help and validation.
var Comparisons = []Comparison{Spearman, RhoA, KendallTauA, KendallTauB, Pearson, CosineSim, CosineWhitened, PearsonWhitened}

// RDM is a representational dissimilarity matrix stored as its upper
// triangle, row by row (scipy's condensed form, rsatoolbox's vector):
// the dissimilarity of stimuli i < j is at index n·i − i(i+1)/2 + j − i − 1.
type RDM struct {
	N    int       // stimuli
	Dist []float64 // N(N−1)/2 dissimilarities
}

// At is the dissimilarity of stimuli i and j (0 when i == j).
func (r *RDM) At(i, j int) float64 {
	if i == j {
		return 0
	}
	if i > j {
		i, j = j, i
	}
	return r.Dist[r.N*i-i*(i+1)/2+j-i-1]
}

// NewRDM computes the RDM of x's rows (stimuli × features) by distance d.
// Correlation and cosine distances are undefined for a constant or zero
// pattern: that is an error naming the stimulus.
func NewRDM(x mat.Matrix, d Distance) (*RDM, error) {
	n, f := x.Dims()
	if n < 2 || f < 1 {
		return nil, errorf("rdm", "need at least 2 stimuli and 1 feature, have %d×%d", n, f)
	}
	p := mat.DenseCopyOf(x)
	switch d {
	case Euclidean:
	case Correlation, Cosine:
		for i := 0; i < n; i++ {
			row := p.RawRowView(i)
			if d == Correlation {
				m := stat.Mean(row, nil)
				for j := range row {
					row[j] -= m
				}
			}
			norm := math.Sqrt(dot(row, row))
			if !(norm > 0) {
				return nil, errorf("rdm", "stimulus %d has a %s pattern: its %s distance is undefined", i, map[Distance]string{Correlation: "constant", Cosine: "zero"}[d], d)
			}
			for j := range row {
				row[j] /= norm
			}
		}
	default:
		return nil, errorf("rdm", "unknown distance %q (want one of %v)", d, Distances)
	}
	g := LinearGram(p)
	r := &RDM{N: n, Dist: make([]float64, 0, n*(n-1)/2)}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			var v float64
			if d == Euclidean {
				v = (g.At(i, i) + g.At(j, j) - 2*g.At(i, j)) / float64(f)
			} else {
				v = 1 - g.At(i, j)
			}
			r.Dist = append(r.Dist, v)
		}
	}
	return r, nil
}

// CompareRDMs is the similarity of two RDMs over the same stimuli by c.
func CompareRDMs(a, b *RDM, c Comparison) (float64, error) {
	if a.N != b.N {
		return 0, errorf("rsa", "RDMs of %d and %d stimuli", a.N, b.N)
	}
	if len(a.Dist) < 2 {
		return 0, errorf("rsa", "%d stimuli give %d dissimilarities; need at least 2", a.N, len(a.Dist))
	}
	var v float64
	switch c {
	case Pearson:
		v = stat.Correlation(a.Dist, b.Dist, nil)
	case Spearman:
		v = stat.Correlation(ranks(a.Dist), ranks(b.Dist), nil)
	case CosineSim:
		v = dot(a.Dist, b.Dist) / math.Sqrt(dot(a.Dist, a.Dist)*dot(b.Dist, b.Dist))
	case KendallTauA, KendallTauB:
		v = kendall(a.Dist, b.Dist, c == KendallTauB)
	case RhoA:
		ra, rb := ranks(a.Dist), ranks(b.Dist)
		m := float64(len(ra))
		mean := (m + 1) / 2 // of ranks 1..m, ties averaged or not
		for i := range ra {
			ra[i] -= mean
			rb[i] -= mean
		}
		v = 12 * dot(ra, rb) / (m*m*m - m)
	case CosineWhitened, PearsonWhitened:
		x, y, err := both(a, b, func(r *RDM) (*centred, error) { return newCentred(r.gram(c == PearsonWhitened), false) })
		if err != nil {
			return 0, errorf("rsa", "%s is undefined: an RDM is constant", c)
		}
		v = x.dot(y)
	default:
		return 0, errorf("rsa", "unknown comparison %q (want one of %v)", c, Comparisons)
	}
	if math.IsNaN(v) {
		return 0, errorf("rsa", "%s is undefined: an RDM is constant", c)
	}
	return v, nil
}

// RSA is the RDMs of x and y by d, compared by c.
func RSA(x, y mat.Matrix, d Distance, c Comparison) (float64, error) {
	if err := sameStimuli(x, y); err != nil {
		return 0, err
	}
	a, b, err := both(x, y, func(m mat.Matrix) (*RDM, error) { return NewRDM(m, d) })
	if err != nil {
		return 0, err
	}
	return CompareRDMs(a, b, c)
}

// ranks are 1-based ranks with ties given their average (scipy rankdata).
func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

// kendall is Kendall's τ_a, or τ_b when tauB is set. A tie in either
// vector counts as neither concordant nor discordant; τ_a divides by all
// pairs, τ_b by √((pairs − ties in x)(pairs − ties in y)). (gonum's
// stat.Kendall counts ties as concordant, and is O(m²).) Knight's
// algorithm, O(m log m), as scipy's kendalltau: sorted by (x, y), the
// discordant pairs are exactly the inversions of y, which a merge sort
// counts.
func kendall(x, y []float64, tauB bool) float64 {
	m := len(x)
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		i, j := idx[a], idx[b]
		return x[i] < x[j] || (x[i] == x[j] && y[i] < y[j])
	})
	ys := make([]float64, m)
	var xTies, jointTies float64
	for k, runX, runXY := 0, 1, 1; k < m; k++ {
		ys[k] = y[idx[k]]
		if k == 0 {
			continue
		}
		prev, cur := idx[k-1], idx[k]
		if x[cur] == x[prev] {
			runX++
			if y[cur] == y[prev] {
				runXY++
			} else {
				jointTies += pairsOf(runXY)
				runXY = 1
			}
		} else {
			xTies += pairsOf(runX)
			jointTies += pairsOf(runXY)
			runX, runXY = 1, 1
		}
		if k == m-1 {
			xTies += pairsOf(runX)
			jointTies += pairsOf(runXY)
		}
	}
	dis := inversions(ys, make([]float64, m))
	// ys is sorted now: count its ties.
	var yTies float64
	for k, run := 1, 1; k <= m; k++ {
		if k < m && ys[k] == ys[k-1] {
			run++
			continue
		}
		yTies += pairsOf(run)
		run = 1
	}
	pairs := pairsOf(m)
	s := pairs - xTies - yTies + jointTies - 2*dis
	if tauB {
		return s / math.Sqrt((pairs-xTies)*(pairs-yTies))
	}
	return s / pairs
}

func pairsOf(n int) float64 { return float64(n) * float64(n-1) / 2 }

// inversions sorts v (buf is scratch of the same length) and returns the
// number of pairs i < j with v[i] > v[j].
func inversions(v, buf []float64) float64 {
	if len(v) < 2 {
		return 0
	}
	h := len(v) / 2
	n := inversions(v[:h], buf[:h]) + inversions(v[h:], buf[h:])
	i, j, k := 0, h, 0
	for i < h && j < len(v) {
		if v[i] <= v[j] {
			buf[k] = v[i]
			i++
		} else {
			buf[k] = v[j]
			j++
			n += float64(h - i)
		}
		k++
	}
	k += copy(buf[k:], v[i:h])
	copy(buf[k:], v[j:])
	copy(v, buf)
	return n
}

// gram is −½ times the square dissimilarity matrix (zero diagonal), less
// the mean dissimilarity off the diagonal when demean is set: the
// second-moment form that the whitened comparisons double-centre.
func (r *RDM) gram(demean bool) *mat.SymDense {
	var mean float64
	if demean {
		mean = stat.Mean(r.Dist, nil)
	}
	g := mat.NewSymDense(r.N, nil)
	for i := 0; i < r.N; i++ {
		for j := i + 1; j < r.N; j++ {
			g.SetSym(i, j, -0.5*(r.At(i, j)-mean))
		}
	}
	return g
}
