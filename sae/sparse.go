package sae

import (
	"github.com/glia-dev/glia/engine/cpu/sgemm"
	"github.com/glia-dev/glia/engine/cpu/vecmath"
)

// sparseRows holds the nonzeros of a [rows, n] matrix row by row (CSR).
// TopK keeps k of d_sae features per row, so the decoder's products and
// the encoder's backward over these rows cost k/d_sae of the dense ones.
type sparseRows struct {
	rows, n int
	ptr     []int32 // row r's entries are idx/val[ptr[r]:ptr[r+1]]
	idx     []int32
	val     []float32
}

// sparseBelow is the density under which the sparse products beat sgemm
// on this machine's CPUs (measured with BenchmarkTopKTrain's shapes).
const sparseBelow = 1.0 / 16

// scan rebuilds s from the dense m [rows, n] and reports whether it is
// sparse enough to use.
func (s *sparseRows) scan(m []float32, rows, n int) bool {
	s.rows, s.n = rows, n
	s.ptr = append(s.ptr[:0], 0)
	s.idx, s.val = s.idx[:0], s.val[:0]
	for r := range rows {
		for i, v := range m[r*n : (r+1)*n] {
			if v != 0 {
				s.idx = append(s.idx, int32(i))
				s.val = append(s.val, v)
			}
		}
		s.ptr = append(s.ptr, int32(len(s.idx)))
	}
	return float64(len(s.idx)) < sparseBelow*float64(rows*n)
}

// mul writes out [rows, d] = s·w, w [n, d].
func (s *sparseRows) mul(w, out []float32, d int) {
	vecmath.ParallelFor(s.rows, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o := out[r*d : (r+1)*d]
			clear(o)
			for e := s.ptr[r]; e < s.ptr[r+1]; e++ {
				i := int(s.idx[e])
				sgemm.Axpy(s.val[e], w[i*d:(i+1)*d], o)
			}
		}
	})
}

// gradAt sets (add: adds to) g[r, i] = dx[r]·w[i] at s's entries, for the
// backward of x̂ = s·w; g's other entries are left alone.
func (s *sparseRows) gradAt(dx, w, g []float32, d int, add bool) {
	n := s.n
	vecmath.ParallelFor(s.rows, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			x := dx[r*d : (r+1)*d]
			for e := s.ptr[r]; e < s.ptr[r+1]; e++ {
				i := int(s.idx[e])
				v := sgemm.Dot(x, w[i*d:(i+1)*d])
				if add {
					g[r*n+i] += v
				} else {
					g[r*n+i] = v
				}
			}
		}
	})
}

// outerAdd adds sᵀ·x into g [n, d], x [rows, d]: row i of g gathers
// val·x[r] over the rows where feature i is nonzero.
func (s *sparseRows) outerAdd(x, g []float32, d int) {
	for r := range s.rows {
		xr := x[r*d : (r+1)*d]
		for e := s.ptr[r]; e < s.ptr[r+1]; e++ {
			i := int(s.idx[e])
			sgemm.Axpy(s.val[e], xr, g[i*d:(i+1)*d])
		}
	}
}
