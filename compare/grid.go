package compare

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// Method names a similarity measure between two representations.
type Method string

const (
	CKALinear   Method = "cka"          // linear CKA, biased (Kornblith)
	CKADebiased Method = "cka-debiased" // linear CKA, unbiased HSIC
	CKARBF      Method = "cka-rbf"      // RBF CKA, median heuristic, biased
	RSAMethod   Method = "rsa"          // RDMs by Spec.RDM compared by Spec.Compare
	// EncodingMethod is the mean held-out Pearson r of ridge encoding
	// models (Ridge defaults) from the row matrix to each column of the
	// column matrix: not symmetric.
	EncodingMethod Method = "encoding"
	// PLSMethod is Brain-Score's neural predictivity (BrainScore): the
	// median over the column matrix's units of the held-out r of 25-component
	// PLS from the row matrix, over 10 splits of 90/10. Not symmetric.
	PLSMethod Method = "pls"
)

// Methods lists the measures, for flag help and validation.
var Methods = []Method{CKALinear, CKADebiased, CKARBF, RSAMethod, EncodingMethod, PLSMethod}

// Spec is a similarity measure with its settings.
type Spec struct {
	Method  Method
	RDM     Distance   // for rsa
	Compare Comparison // for rsa
	// Topo, for rsa, applies the geo-topological transform with quantiles
	// Topo[0] and Topo[1] to each RDM before comparing; nil for none.
	Topo *[2]float64
	// Geodesic, for rsa, then replaces each RDM by its geodesic transform.
	Geodesic bool
}

func (s Spec) String() string {
	if s.Method == RSAMethod {
		t := ""
		if s.Topo != nil {
			t = fmt.Sprintf(", geo-topological %g–%g", s.Topo[0], s.Topo[1])
		}
		if s.Geodesic {
			t += ", geodesic"
		}
		return fmt.Sprintf("rsa (%s RDMs%s, %s)", s.RDM, t, s.Compare)
	}
	return string(s.Method)
}

// Check reports the first invalid setting of s as a *SettingError.
func (s Spec) Check() error {
	switch {
	case !slices.Contains(Methods, s.Method):
		return &SettingError{"method", string(s.Method), fmt.Sprintf("want one of %v", Methods)}
	case s.Method == RSAMethod && !slices.Contains(Distances, s.RDM):
		return &SettingError{"rdm", string(s.RDM), fmt.Sprintf("want one of %v", Distances)}
	case s.Method == RSAMethod && !slices.Contains(Comparisons, s.Compare):
		return &SettingError{"compare", string(s.Compare), fmt.Sprintf("want one of %v", Comparisons)}
	case s.Topo != nil && !(s.Topo[0] >= 0 && s.Topo[0] < s.Topo[1] && s.Topo[1] <= 1):
		return &SettingError{"topo", fmt.Sprintf("%g,%g", s.Topo[0], s.Topo[1]), "want LOW,UP quantiles with 0 ≤ LOW < UP ≤ 1"}
	case (s.Topo != nil || s.Geodesic) && s.Method != RSAMethod:
		return &SettingError{"topo", string(s.Method), "the topological transforms (topo, geodesic) apply to rsa only"}
	}
	return nil
}

// transform applies the Spec's RDM transforms: geo-topological, then geodesic.
func (s Spec) transform(r *RDM) (*RDM, error) {
	var err error
	if s.Topo != nil {
		if r, err = r.GeoTopological(s.Topo[0], s.Topo[1]); err != nil {
			return nil, err
		}
	}
	if s.Geodesic {
		return r.Geodesic()
	}
	return r, nil
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
	case EncodingMethod:
		prep = func(m mat.Matrix) (any, error) { return m, nil }
		pair = func(a, b any) (float64, error) {
			e, err := Ridge{}.Score(a.(mat.Matrix), b.(mat.Matrix))
			if err != nil {
				return 0, err
			}
			return stat.Mean(e.R, nil), nil
		}
	case PLSMethod:
		prep = func(m mat.Matrix) (any, error) { return m, nil }
		pair = func(a, b any) (float64, error) { return plsScore(a.(mat.Matrix), b.(mat.Matrix)) }
	case RSAMethod:
		prep = func(m mat.Matrix) (any, error) {
			r, err := NewRDM(m, s.RDM)
			if err != nil {
				return nil, err
			}
			return s.transform(r)
		}
		pair = func(a, b any) (float64, error) { return CompareRDMs(a.(*RDM), b.(*RDM), s.Compare) }
	default:
		return nil, errorf("grid", "unknown method %q (want one of %v)", s.Method, Methods)
	}
	pr, err := prepAll(rows, prep, true)
	if err != nil {
		return nil, err
	}
	pc, err := prepAll(cols, prep, false)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, len(rows))
	for i := range out {
		out[i] = make([]float64, len(cols))
		for j := range out[i] {
			if out[i][j], err = pair(pr[i], pc[j]); err != nil {
				return nil, &CellError{Row: i, Col: j, Err: err}
			}
		}
	}
	return out, nil
}

func prepAll(ms []mat.Matrix, prep func(mat.Matrix) (any, error), rows bool) ([]any, error) {
	out := make([]any, len(ms))
	for i, m := range ms {
		var err error
		if out[i], err = prep(m); err != nil {
			if rows {
				return nil, &CellError{Row: i, Col: -1, Err: err}
			}
			return nil, &CellError{Row: -1, Col: i, Err: err}
		}
	}
	return out, nil
}

// CellError is a Grid failure and the matrices it concerns: Row and Col
// index the rows and columns given to Grid, −1 when the failure is one
// matrix's alone.
type CellError struct {
	Row, Col int
	Err      error
}

func (e *CellError) Error() string {
	switch {
	case e.Col < 0:
		return fmt.Sprintf("row matrix %d: %v", e.Row, e.Err)
	case e.Row < 0:
		return fmt.Sprintf("column matrix %d: %v", e.Col, e.Err)
	}
	return fmt.Sprintf("row %d, column %d: %v", e.Row, e.Col, e.Err)
}

func (e *CellError) Unwrap() error { return e.Err }

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
