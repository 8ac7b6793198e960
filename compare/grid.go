package compare

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Method names a similarity measure between two representations.
type Method string

const (
	CKALinear   Method = "cka"          // linear CKA, biased (Kornblith)
	CKADebiased Method = "cka-debiased" // linear CKA, unbiased HSIC
	CKARBF      Method = "cka-rbf"      // RBF CKA, median heuristic, biased
	RSAMethod   Method = "rsa"          // RDMs by Spec.RDM compared by Spec.Compare
)

// Methods lists the measures, for flag help and validation.
var Methods = []Method{CKALinear, CKADebiased, CKARBF, RSAMethod}

// Spec is a similarity measure with its settings.
type Spec struct {
	Method  Method
	RDM     Distance   // for rsa
	Compare Comparison // for rsa
}

func (s Spec) String() string {
	if s.Method == RSAMethod {
		return fmt.Sprintf("rsa (%s RDMs, %s)", s.RDM, s.Compare)
	}
	return string(s.Method)
}

// gramLimit is the most stimuli for which Grid keeps n×n centred Grams
// (8·n² bytes each: 128 MiB at 4096); beyond it linear CKA streams
// each pair in feature space instead.
var gramLimit = 4096 // a variable so that tests can take the streaming path

// Grid is the similarity of every row matrix with every column matrix
// (all over the same stimuli, in the same order): [len(rows)][len(cols)].
// Each matrix's centred Gram or RDM is computed once, not once per pair.
func Grid(rows, cols []mat.Matrix, s Spec) ([][]float64, error) {
	if len(rows) == 0 || len(cols) == 0 {
		return nil, errorf("grid", "no matrices to compare")
	}
	n, _ := rows[0].Dims()
	for _, m := range append(append([]mat.Matrix(nil), rows...), cols...) {
		if r, _ := m.Dims(); r != n {
			return nil, errorf("grid", "matrices of %d and %d stimuli", n, r)
		}
	}
	var prep func(mat.Matrix) (any, error)
	var pair func(a, b any) (float64, error)
	switch s.Method {
	case CKALinear, CKADebiased, CKARBF:
		debiased := s.Method == CKADebiased
		if s.Method != CKARBF && n > gramLimit {
			prep = func(m mat.Matrix) (any, error) { return m, nil }
			pair = func(a, b any) (float64, error) { return LinearCKA(a.(mat.Matrix), b.(mat.Matrix), debiased) }
			break
		}
		prep = func(m mat.Matrix) (any, error) {
			if s.Method != CKARBF {
				return newCentred(LinearGram(m), debiased)
			}
			k, err := RBFGram(m, 1)
			if err != nil {
				return nil, err
			}
			return newCentred(k, debiased)
		}
		pair = func(a, b any) (float64, error) {
			return a.(*centred).dot(b.(*centred)), nil
		}
	case RSAMethod:
		prep = func(m mat.Matrix) (any, error) { return NewRDM(m, s.RDM) }
		pair = func(a, b any) (float64, error) { return CompareRDMs(a.(*RDM), b.(*RDM), s.Compare) }
	default:
		return nil, errorf("grid", "unknown method %q (want one of %v)", s.Method, Methods)
	}
	pr, err := prepAll(rows, prep)
	if err != nil {
		return nil, err
	}
	pc, err := prepAll(cols, prep)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, len(rows))
	for i := range out {
		out[i] = make([]float64, len(cols))
		for j := range out[i] {
			if out[i][j], err = pair(pr[i], pc[j]); err != nil {
				return nil, fmt.Errorf("row %d, column %d: %w", i, j, err)
			}
		}
	}
	return out, nil
}

func prepAll(ms []mat.Matrix, prep func(mat.Matrix) (any, error)) ([]any, error) {
	out := make([]any, len(ms))
	for i, m := range ms {
		var err error
		if out[i], err = prep(m); err != nil {
			return nil, fmt.Errorf("matrix %d: %w", i, err)
		}
	}
	return out, nil
}

// centred is a centred Gram and its Frobenius norm.
type centred struct {
	g    *mat.Dense
	norm float64
}

func newCentred(k mat.Symmetric, debiased bool) (*centred, error) {
	min := 2
	if debiased {
		min = 4
	}
	if n := k.SymmetricDim(); n < min {
		return nil, errorf("cka", "%d stimuli; need at least %d", n, min)
	}
	g := centreGram(k, debiased)
	f := frob2(g)
	if !(f > 0) {
		return nil, errorf("cka", "a representation is constant over the stimuli")
	}
	return &centred{g: g, norm: math.Sqrt(f)}, nil
}

// dot is CKA: ⟨K̃, L̃⟩/(‖K̃‖‖L̃‖).
func (c *centred) dot(o *centred) float64 {
	return mat.Sum(elemMul(c.g, o.g)) / (c.norm * o.norm)
}
