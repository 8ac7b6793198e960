// Package snmf factorises activations semi-nonnegatively, A ≈ F·Gᵀ with
// G ≥ 0, with the updates of Shafran et al. (arXiv 2506.10920,
// ordavid-s/snmf-mlp-decomposition): F by regularised least squares with
// its columns sparsified to their largest-magnitude entries, G by the
// multiplicative update of Ding, Li and Jordan. A is d × n (a column per
// token, d MLP neurons); F's r columns are the features, G says how much of
// each feature each token holds.
package snmf

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// Options are the factorisation's settings; the zero values take the
// paper's defaults.
type Options struct {
	Rank     int
	Keep     float64 // fraction of each F column kept by magnitude (0: all)
	MaxIter  int     // 500
	Patience int     // 100: stop when the error has not improved by Tol for this many iterations
	Tol      float64 // 1e-4
	Init     string  // random (default), svd or kmeans
	Seed     uint64
}

// Result is a factorisation and how it ended.
type Result struct {
	F, G   *mat.Dense // d × r, n × r (G ≥ 0)
	Iters  int
	RelErr float64 // ‖A − F·Gᵀ‖_F / ‖A‖_F
}

// Factorize runs the updates from the chosen initialisation of G.
func Factorize(a *mat.Dense, o Options) (Result, error) {
	d, n := a.Dims()
	r := o.Rank
	if r <= 0 || r > min(d, n) {
		return Result{}, fmt.Errorf("snmf: rank %d must lie in [1, min(d, n) = %d]", r, min(d, n))
	}
	if o.MaxIter == 0 {
		o.MaxIter = 500
	}
	if o.Patience == 0 {
		o.Patience = 100
	}
	if o.Tol == 0 {
		o.Tol = 1e-4
	}
	g, err := initG(a, r, o)
	if err != nil {
		return Result{}, err
	}
	norm := mat.Norm(a, 2)
	if norm == 0 {
		return Result{}, fmt.Errorf("snmf: the activation matrix is all zeros")
	}
	keep := d
	if o.Keep > 0 && o.Keep < 1 {
		keep = int(math.Ceil(o.Keep * float64(d)))
	}
	var f mat.Dense
	best, since := math.Inf(1), 0
	res := Result{}
	for it := 1; it <= o.MaxIter; it++ {
		// F = A G (GᵀG + 1e-6 I)⁻¹
		var gtg, ag mat.Dense
		gtg.Mul(g.T(), g)
		for i := range r {
			gtg.Set(i, i, gtg.At(i, i)+1e-6)
		}
		ag.Mul(a, g)
		var x mat.Dense
		if err := x.Solve(&gtg, ag.T()); err != nil {
			return Result{}, fmt.Errorf("snmf: iteration %d: %w", it, err)
		}
		f = *mat.DenseCopyOf(x.T())
		sparsify(&f, keep)
		// Unit-norm G columns, F scaled to keep the product.
		for j := range r {
			c := mat.Norm(g.ColView(j), 2)
			if c == 0 {
				continue
			}
			for i := range n {
				g.Set(i, j, g.At(i, j)/c)
			}
			for i := range d {
				f.Set(i, j, f.At(i, j)*c)
			}
		}
		// G ← G ⊙ √((P⁺ + G Q⁻)/(P⁻ + G Q⁺)), P = AᵀF, Q = FᵀF.
		var p, q mat.Dense
		p.Mul(a.T(), &f)
		q.Mul(f.T(), &f)
		qp, qn := parts(&q)
		pp, pn := parts(&p)
		var gqn, gqp mat.Dense
		gqn.Mul(g, qn)
		gqp.Mul(g, qp)
		for i := range n {
			for j := range r {
				num := pp.At(i, j) + gqn.At(i, j)
				den := pn.At(i, j) + gqp.At(i, j) + 1e-12
				g.Set(i, j, g.At(i, j)*math.Sqrt(num/den))
			}
		}
		res.Iters = it
		res.RelErr = relErr(a, &f, g, norm)
		if res.RelErr < best-o.Tol {
			best, since = res.RelErr, 0
		} else if since++; since >= o.Patience {
			break
		}
	}
	res.F, res.G = &f, g
	return res, nil
}

// sparsify keeps the keep largest-magnitude entries of each column
// (ties to the lower row).
func sparsify(f *mat.Dense, keep int) {
	d, r := f.Dims()
	if keep >= d {
		return
	}
	idx := make([]int, d)
	for j := range r {
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(x, y int) int { return cmp.Compare(math.Abs(f.At(y, j)), math.Abs(f.At(x, j))) })
		for _, i := range idx[keep:] {
			f.Set(i, j, 0)
		}
	}
}

// parts splits m into its positive and negative parts (both ≥ 0).
func parts(m *mat.Dense) (pos, neg *mat.Dense) {
	rows, cols := m.Dims()
	pos, neg = mat.NewDense(rows, cols, nil), mat.NewDense(rows, cols, nil)
	for i := range rows {
		for j := range cols {
			if v := m.At(i, j); v > 0 {
				pos.Set(i, j, v)
			} else {
				neg.Set(i, j, -v)
			}
		}
	}
	return pos, neg
}

func relErr(a, f, g *mat.Dense, norm float64) float64 {
	var e mat.Dense
	e.Mul(f, g.T())
	e.Sub(a, &e)
	return mat.Norm(&e, 2) / norm
}

// initG is G's starting point: |N(0,1)| (random), the magnitudes of A's
// top r right singular vectors (svd), or k-means cluster memberships of
// the tokens plus 0.2 (kmeans).
func initG(a *mat.Dense, r int, o Options) (*mat.Dense, error) {
	d, n := a.Dims()
	rng := rand.New(rand.NewPCG(o.Seed, 0x5e6))
	g := mat.NewDense(n, r, nil)
	switch o.Init {
	case "", "random":
		for i := range n {
			for j := range r {
				g.Set(i, j, math.Abs(rng.NormFloat64()))
			}
		}
	case "svd":
		var svd mat.SVD
		if !svd.Factorize(a, mat.SVDThin) {
			return nil, fmt.Errorf("snmf: the SVD for the initialisation did not converge")
		}
		var v mat.Dense
		svd.VTo(&v)
		for i := range n {
			for j := range r {
				g.Set(i, j, math.Abs(v.At(i, j))+1e-6)
			}
		}
	case "kmeans":
		cent := mat.NewDense(d, r, nil)
		for j := range r { // k-means++-free start: r distinct random tokens
			c := rng.IntN(n)
			for i := range d {
				cent.Set(i, j, a.At(i, c))
			}
		}
		assign := make([]int, n)
		for range 20 {
			for t := range n {
				best, bd := 0, math.Inf(1)
				for j := range r {
					var s float64
					for i := range d {
						x := a.At(i, t) - cent.At(i, j)
						s += x * x
					}
					if s < bd {
						best, bd = j, s
					}
				}
				assign[t] = best
			}
			cent.Zero()
			count := make([]float64, r)
			for t, j := range assign {
				count[j]++
				for i := range d {
					cent.Set(i, j, cent.At(i, j)+a.At(i, t))
				}
			}
			for j := range r {
				if count[j] > 0 {
					for i := range d {
						cent.Set(i, j, cent.At(i, j)/count[j])
					}
				}
			}
		}
		for t, j := range assign {
			for k := range r {
				g.Set(t, k, 0.2)
			}
			g.Set(t, j, 1.2)
		}
	default:
		return nil, fmt.Errorf("snmf: initialisation %q is not random, svd or kmeans", o.Init)
	}
	return g, nil
}
