// Package attention is softmax attention on float32 for the CPU, forward
// and backward, one task per (sequence, key/value head), queries in blocks
// of blockRows:
//
//	S = (scale·Q)·Kᵀ      per block, only the keys a causal mask leaves visible
//	P = softmax(S)        row by row, over the visible keys only
//	O = P·V
//
// and, given dO,
//
//	Dᵢ = dOᵢ·Oᵢ           (= Σⱼ Pᵢⱼ dPᵢⱼ)
//	dV += Pᵀ·dO,  dP = dO·Vᵀ,  dS = P∘(dP − D)
//	dQ = scale·dS·K,  dK += dSᵀ·(scale·Q)
//
// the FlashAttention-2 backward, except that P is recomputed from S (no
// saved log-sum-exp: the graph op carries one output). Compared with the
// same attention written as graph ops, nothing [q, k]-sized outlives a
// block, the transposes that split heads and the mask and scale passes
// disappear, and under a causal mask the keys past a block's last query
// are never multiplied (a third of the products at 128 positions, towards
// half for long sequences), as in PyTorch's CPU flash attention.
package attention

import (
	"fmt"
	"sync"

	"github.com/glia-dev/glia/engine/cpu/sgemm"
	"github.com/glia-dev/glia/engine/cpu/vecmath"
)

// Dims describes q [batch, seq, heads, headDim] and k, v [batch, seq,
// kvHeads, headDim] (the layout a transformer's projections produce; query
// head h reads key/value head h/(heads/kvHeads), as grouped-query
// attention's repeated heads do).
type Dims struct {
	Batch, Seq, Heads, KVHeads, HeadDim int
	Scale                               float32
	// Causal: query i sees keys 0..i. Otherwise every query sees every key.
	Causal bool
}

// blockRows queries per block: a causal block multiplies keys up to its last
// row, so smaller blocks skip more of the masked triangle but give the
// matmul thinner products. 48 was fastest for a GPT-2 step (d_head 64, 128
// positions) of 16, 24, 32, 48, 64, 96 and 128 on a Zen 4 core.
const blockRows = 48

// sizes are the floats in q, and in k or v.
func (d Dims) sizes() (nq, nk int) {
	return d.Batch * d.Seq * d.Heads * d.HeadDim, d.Batch * d.Seq * d.KVHeads * d.HeadDim
}

func (d Dims) check(q, k, v []float32, others ...[]float32) {
	if d.Batch < 0 || d.Seq < 0 || d.Heads <= 0 || d.KVHeads <= 0 || d.HeadDim < 0 || d.Heads%d.KVHeads != 0 {
		panic(fmt.Sprintf("attention: bad dims %+v", d))
	}
	nq, nk := d.sizes()
	if len(q) != nq || len(k) != nk || len(v) != nk {
		panic(fmt.Sprintf("attention: dims %+v need q %d, k and v %d floats; got %d, %d, %d", d, nq, nk, len(q), len(k), len(v)))
	}
	for i, o := range others {
		if want := []int{nq, nq, nq, nk, nk}[i]; len(o) != want {
			panic(fmt.Sprintf("attention: dims %+v: buffer %d has %d floats, want %d", d, i, len(o), want))
		}
	}
}

// head is where one head's rows lie: offset of its first row, row stride.
func (d Dims) head(b, h, heads int) (off, ld int) {
	ld = heads * d.HeadDim
	return b*d.Seq*ld + h*d.HeadDim, ld
}

// visible is the number of keys a block ending at row r1 multiplies.
func (d Dims) visible(r1 int) int {
	if d.Causal {
		return r1
	}
	return d.Seq
}

// probs sets p [rows, c] to softmax(scale·Q[r0:r0+rows]·K[:c]ᵀ) for the
// query rows at q (stride ldq, from row r0) and the keys at k (stride ldk),
// each causal row over its visible keys, the rest of the row zero.
func (d Dims) probs(p, q []float32, ldq int, k []float32, ldk, r0, rows, c int) {
	sgemm.MatMulStrided(q, k, p, sgemm.Strided{M: rows, N: c, K: d.HeadDim, Lda: ldq, Ldb: ldk, Ldc: c, TransB: true})
	scale := []float32{d.Scale}
	for i := range rows {
		row := p[i*c : (i+1)*c]
		lim := c
		if d.Causal {
			lim = r0 + i + 1
		}
		vecmath.Mul(row[:lim], row[:lim], scale)
		vecmath.SoftmaxRows(row[:lim], row[:lim], lim)
		clear(row[lim:])
	}
}

// groups runs fn(b, kvHead, scratch) for every sequence and key/value
// head, in parallel; scratch holds the given lengths.
func (d Dims) groups(sizes []int, fn func(b, g int, s [][]float32)) {
	n := d.Batch * d.KVHeads
	vecmath.ParallelFor(n, 1, func(lo, hi int) {
		s := pool.Get().(*scratch)
		defer pool.Put(s)
		bufs := s.take(sizes...)
		for t := lo; t < hi; t++ {
			fn(t/d.KVHeads, t%d.KVHeads, bufs)
		}
	})
}

type scratch struct{ buf []float32 }

var pool = sync.Pool{New: func() any { return new(scratch) }}

// take splits the scratch into slices of the given lengths.
func (s *scratch) take(sizes ...int) [][]float32 {
	n := 0
	for _, z := range sizes {
		n += z
	}
	if len(s.buf) < n {
		s.buf = make([]float32, n)
	}
	out := make([][]float32, len(sizes))
	off := 0
	for i, z := range sizes {
		out[i] = s.buf[off : off+z : off+z]
		off += z
	}
	return out
}

// Forward writes out [batch, seq, heads, headDim] = softmax(scale·QKᵀ)·V.
func Forward(out, q, k, v []float32, d Dims) {
	d.check(q, k, v, out)
	if d.Batch*d.Seq*d.HeadDim == 0 {
		clear(out)
		return
	}
	t, hd, rep := d.Seq, d.HeadDim, d.Heads/d.KVHeads
	d.groups([]int{blockRows * t}, func(b, g int, s [][]float32) {
		p := s[0]
		ko, ldk := d.head(b, g, d.KVHeads)
		for h := g * rep; h < (g+1)*rep; h++ {
			qo, ldq := d.head(b, h, d.Heads)
			for r0 := 0; r0 < t; r0 += blockRows {
				rows := min(blockRows, t-r0)
				c := d.visible(r0 + rows)
				at := qo + r0*ldq
				d.probs(p, q[at:], ldq, k[ko:], ldk, r0, rows, c)
				sgemm.MatMulStrided(p, v[ko:], out[at:], sgemm.Strided{M: rows, N: hd, K: c, Lda: c, Ldb: ldk, Ldc: ldq})
			}
		}
	})
}

// Backward writes dq, dk, dv (shaped as q, k, v) for the attention whose
// output is out, given dOut, the gradient of a loss with respect to out.
func Backward(dq, dk, dv, q, k, v, out, dOut []float32, d Dims) {
	d.check(q, k, v, out, dOut, dq, dk, dv)
	if d.Batch*d.Seq*d.HeadDim == 0 {
		clear(dq)
		clear(dk)
		clear(dv)
		return
	}
	t, hd, rep := d.Seq, d.HeadDim, d.Heads/d.KVHeads
	d.groups([]int{blockRows * t, blockRows * t, t}, func(b, g int, s [][]float32) {
		p, dp, dsum := s[0], s[1], s[2]
		ko, ldk := d.head(b, g, d.KVHeads)
		for i := range t {
			clear(dk[ko+i*ldk : ko+i*ldk+hd])
			clear(dv[ko+i*ldk : ko+i*ldk+hd])
		}
		for h := g * rep; h < (g+1)*rep; h++ {
			qo, ldq := d.head(b, h, d.Heads)
			for i := range t {
				var acc float32
				o := out[qo+i*ldq : qo+i*ldq+hd]
				for j, x := range dOut[qo+i*ldq : qo+i*ldq+hd] {
					acc += x * o[j]
				}
				dsum[i] = acc
			}
			for r0 := 0; r0 < t; r0 += blockRows {
				rows := min(blockRows, t-r0)
				c := d.visible(r0 + rows)
				at := qo + r0*ldq
				d.probs(p, q[at:], ldq, k[ko:], ldk, r0, rows, c)
				// dV[:c] += Pᵀ·dO
				sgemm.MatMulStrided(p, dOut[at:], dv[ko:], sgemm.Strided{M: c, N: hd, K: rows, Lda: c, Ldb: ldq, Ldc: ldk, TransA: true, Acc: true})
				// dS = scale·P∘(dO·Vᵀ − D), in place of dP
				sgemm.MatMulStrided(dOut[at:], v[ko:], dp, sgemm.Strided{M: rows, N: c, K: hd, Lda: ldq, Ldb: ldk, Ldc: c, TransB: true})
				for i := range rows {
					vecmath.SoftmaxGrad(dp[i*c:(i+1)*c], p[i*c:(i+1)*c], dsum[r0+i], d.Scale)
				}
				// dQ = dS·K; dK[:c] += dSᵀ·Q
				sgemm.MatMulStrided(dp, k[ko:], dq[at:], sgemm.Strided{M: rows, N: hd, K: c, Lda: c, Ldb: ldk, Ldc: ldq})
				sgemm.MatMulStrided(dp, q[at:], dk[ko:], sgemm.Strided{M: c, N: hd, K: rows, Lda: c, Ldb: ldq, Ldc: ldk, TransA: true, Acc: true})
			}
		}
	})
}
