package compare

import (
	"gonum.org/v1/gonum/mat"
)

// Crossnobis is the cross-validated Mahalanobis RDM (rsatoolbox's
// calc_rdm_crossnobis with one noise precision): parts are repeated
// measurements of the same stimuli (one stimuli × features matrix per
// run or partition, rows in the same order). For each part k, the
// patterns of part k are contrasted with the mean of the other parts:
// d_ij += (aᵢ − aⱼ)ᵀ P (bᵢ − bⱼ) / features, with a the others' mean, b
// part k and P the precision (nil: the identity, the cross-validated
// Euclidean distance); the RDM is the mean over the parts. Noise that is
// independent between parts has expectation 0, so the distances are
// unbiased (and may be negative).
//
// It keeps one n×n kernel and the RDM, never one RDM per fold.
func Crossnobis(parts []mat.Matrix, precision mat.Symmetric) (*RDM, error) {
	if len(parts) < 2 {
		return nil, errorf("crossnobis", "%d partitions: need at least 2 repeated measurements", len(parts))
	}
	n, f := parts[0].Dims()
	for k, p := range parts {
		if r, c := p.Dims(); r != n || c != f {
			return nil, errorf("crossnobis", "partition %d is %d×%d, partition 0 %d×%d", k, r, c, n, f)
		}
	}
	if n < 2 {
		return nil, errorf("crossnobis", "%d stimuli: need at least 2", n)
	}
	if precision != nil && precision.SymmetricDim() != f {
		return nil, errorf("crossnobis", "precision is %d×%d for %d features", precision.SymmetricDim(), precision.SymmetricDim(), f)
	}
	sum := mat.NewDense(n, f, nil)
	for _, p := range parts {
		sum.Add(sum, p)
	}
	r := &RDM{N: n, Dist: make([]float64, n*(n-1)/2)}
	others := mat.NewDense(n, f, nil)
	var k, w mat.Dense
	for _, p := range parts {
		others.Sub(sum, p)
		others.Scale(1/float64(len(parts)-1), others)
		train := mat.Matrix(others)
		if precision != nil {
			w.Mul(others, precision)
			train = &w
		}
		k.Mul(train, p.T())
		idx := 0
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				r.Dist[idx] += k.At(i, i) + k.At(j, j) - k.At(i, j) - k.At(j, i)
				idx++
			}
		}
		k.Reset()
		w.Reset()
	}
	scale := 1 / float64(len(parts)*f)
	for i := range r.Dist {
		r.Dist[i] *= scale
	}
	return r, nil
}
