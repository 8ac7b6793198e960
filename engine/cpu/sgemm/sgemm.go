// Package sgemm multiplies float32 matrices the way BLIS and GotoBLAS do:
// both operands are copied into cache-sized packed blocks so the inner
// micro-kernel streams contiguous memory, and a 6x16 register tile keeps
// twelve independent FMA chains in flight. GoMLX's Go backend (compute
// v0.1.2) reaches ~18% of an AVX2 machine's peak with its 4x16 kernel; a
// transformer forward is almost all matmul, so this is where glia's CPU
// speed comes from.
package sgemm

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/glia-dev/glia/engine/cpu/vecmath"
)

const (
	mr = 6 // micro-tile rows: 6 rows x 2 vectors = 12 accumulators
	nr = 16
	// kc is the depth of a packed block: a kc x 16 B micro-panel (16 KB)
	// stays in L1 while the kernel sweeps the A block.
	kc = 256
	// mcMax rows of A per packed block: 144 x 256 x 4 B = 144 KB, in L2.
	mcMax = 144
	// packMax floats of packed B at a time (16 MB): a whole weight matrix
	// of a 7B model's layer does not fit, so wide B is packed in column
	// chunks.
	packMax = 4 << 20
	// Below this many multiply-adds a call runs on one goroutine: the
	// handoff would cost more than the work.
	minParallel = 1 << 18
)

// useAsm selects the assembly micro-kernel; tests turn it off to check it
// against the portable one.
var useAsm = hasKernel

// Accelerated reports whether the SIMD micro-kernel runs on this CPU.
func Accelerated() bool { return useAsm }

// MatMul sets out[i] = lhs[i]·rhs[i] for i < batch, all row-major: lhs is
// [batch, m, k]; rhs is [batch, k, n], or [batch, n, k] when transB; out is
// [batch, m, n] and is overwritten. It uses up to GOMAXPROCS goroutines.
func MatMul(lhs, rhs, out []float32, batch, m, n, k int, transB bool) {
	if !nonEmpty(lhs, rhs, out, batch, m, n, k) {
		return
	}
	if m < smallRows {
		for i := range batch {
			matmulSmall(lhs[i*m*k:], rhs[i*k*n:], out[i*m*n:], m, n, k, transB)
		}
		return
	}
	matmulBatch(lhs, rhs, out, batch, Strided{M: m, N: n, K: k, TransB: transB}.dense())
}

// MatMulTransA is MatMul with each left operand stored transposed: out[i]
// = lhs[i]ᵀ·rhs[i] with lhs [batch, k, m] (a weight gradient Xᵀ·dY with X
// as the forward pass left it), rhs [batch, k, n] or [batch, n, k] when
// transB, out [batch, m, n]. The transposition happens while A is packed,
// where every product packs it anyway.
func MatMulTransA(lhs, rhs, out []float32, batch, m, n, k int, transB bool) {
	if nonEmpty(lhs, rhs, out, batch, m, n, k) {
		matmulBatch(lhs, rhs, out, batch, Strided{M: m, N: n, K: k, TransA: true, TransB: transB}.dense())
	}
}

// nonEmpty checks a batch of dense products' sizes (panicking on a
// mismatch) and reports whether there is anything to multiply; with k = 0
// it clears out instead.
func nonEmpty(lhs, rhs, out []float32, batch, m, n, k int) bool {
	if batch < 0 || m < 0 || n < 0 || k < 0 || len(lhs) < batch*m*k || len(rhs) < batch*k*n || len(out) < batch*m*n {
		panic(fmt.Sprintf("sgemm: sizes batch=%d m=%d n=%d k=%d do not fit lhs %d, rhs %d, out %d",
			batch, m, n, k, len(lhs), len(rhs), len(out)))
	}
	if k == 0 {
		clear(out[:batch*m*n])
	}
	return batch*m*n > 0 && k > 0
}

// matmulBatch runs batch dense products of layout l on up to GOMAXPROCS
// goroutines: whole matrices per goroutine when there are enough of them
// (nothing shared, nothing to wait for), else each on all of them.
func matmulBatch(lhs, rhs, out []float32, batch int, l Strided) {
	m, n, k := l.M, l.N, l.K
	workers := runtime.GOMAXPROCS(0)
	if batch*m*n*k < minParallel {
		workers = 1
	}
	if batch >= workers {
		parallel(workers, func(w int) {
			s := getScratch()
			defer putScratch(s)
			for i := w * batch / workers; i < (w+1)*batch/workers; i++ {
				matmul1(lhs[i*m*k:], rhs[i*k*n:], out[i*m*n:], l, 1, s)
			}
		})
		return
	}
	s := getScratch()
	defer putScratch(s)
	for i := range batch {
		matmul1(lhs[i*m*k:], rhs[i*k*n:], out[i*m*n:], l, workers, s)
	}
}

// Strided describes one product for MatMulStrided: out [M, N] = lhs ([M,
// K], or [K, M] when TransA) · rhs ([K, N], or [N, K] when TransB), each a
// row-major view with its own row stride (Lda, Ldb, Ldc: at least the
// row's length), so the operands may be heads interleaved in a [batch,
// seq, heads, d_head] tensor. With Acc the product is added to out instead
// of overwriting it.
type Strided struct {
	M, N, K, Lda, Ldb, Ldc int
	TransA, TransB, Acc    bool
}

// dense fills in the strides of contiguous operands.
func (l Strided) dense() Strided {
	l.Lda, l.Ldb, l.Ldc = l.K, l.N, l.N
	if l.TransA {
		l.Lda = l.M
	}
	if l.TransB {
		l.Ldb = l.K
	}
	return l
}

// MatMulStrided is one product on the calling goroutine, for callers that
// already run a task per core (attention's heads); see Strided.
func MatMulStrided(lhs, rhs, out []float32, l Strided) {
	rowsA, colsA := l.M, l.K
	if l.TransA {
		rowsA, colsA = l.K, l.M
	}
	rowsB, colsB := l.K, l.N
	if l.TransB {
		rowsB, colsB = l.N, l.K
	}
	need := func(rows, cols, ld int) int { return max(0, (rows-1)*ld+cols) }
	if l.M < 0 || l.N < 0 || l.K < 0 || l.Lda < colsA || l.Ldb < colsB || l.Ldc < l.N ||
		len(lhs) < need(rowsA, colsA, l.Lda) || len(rhs) < need(rowsB, colsB, l.Ldb) || len(out) < need(l.M, l.N, l.Ldc) {
		panic(fmt.Sprintf("sgemm: product %+v does not fit lhs %d, rhs %d, out %d", l, len(lhs), len(rhs), len(out)))
	}
	if l.M*l.N == 0 {
		return
	}
	if l.K == 0 {
		if !l.Acc {
			for i := range l.M {
				clear(out[i*l.Ldc : i*l.Ldc+l.N])
			}
		}
		return
	}
	if l.M*l.N*l.K <= tinyProduct {
		tiny(lhs, rhs, out, l)
		return
	}
	s := getScratch()
	defer putScratch(s)
	matmul1(lhs, rhs, out, l, 1, s)
}

// tinyProduct is the size (m·n·k) up to which MatMulStrided multiplies
// with plain loops: packing both operands and padding to 6x16 tiles costs
// more than the product itself (attention over a handful of positions;
// BenchmarkStridedSmall: 3x3x16 four times faster in loops, 8x8x16 1.4x
// slower).
var tinyProduct = 512

// tiny is MatMulStrided's product as dot products, in float32.
func tiny(a, b, c []float32, l Strided) {
	// Steps between consecutive k of A's row i and B's column j.
	sa, sb := 1, l.Ldb
	if l.TransA {
		sa = l.Lda
	}
	if l.TransB {
		sb = 1
	}
	for i := range l.M {
		for j := range l.N {
			ia, ib := i*l.Lda, j
			if l.TransA {
				ia = i
			}
			if l.TransB {
				ib = j * l.Ldb
			}
			var s float32
			for range l.K {
				s += a[ia] * b[ib]
				ia += sa
				ib += sb
			}
			if l.Acc {
				s += c[i*l.Ldc+j]
			}
			c[i*l.Ldc+j] = s
		}
	}
}

// matmul1 multiplies one matrix pair on up to workers goroutines. B is
// packed whole (in column chunks of at most packMax floats) by all of
// them, or taken packed from a pin (pinned.go); then each takes blocks of rows of C from a shared counter, so a
// worker that the scheduler delays (GoMLX runs independent ops side by
// side) holds no one up.
func matmul1(a, b, c []float32, l Strided, workers int, s *scratch) {
	m, n, k, transB := l.M, l.N, l.K, l.TransB
	kBlocks := (k + kc - 1) / kc
	nc := max(nr, min(roundUp(n, nr), packMax/(kBlocks*kc)/nr*nr))
	rowsPerTask := min(mcMax, max(mr, roundUp((m+8*workers-1)/(8*workers), mr)))
	tasks := (m + rowsPerTask - 1) / rowsPerTask
	workers = min(workers, tasks)
	panel := nc * kBlocks * kc
	var pinned []float32
	if l.Ldb == l.dense().Ldb {
		pinned = pinnedPanels(b, n, k, transB, nc, panel)
	}
	bp := pinned
	if bp == nil {
		bp = s.panel(panel)
	}
	for jc := 0; jc < n; jc += nc {
		ncb := min(nc, n-jc)
		if pinned != nil {
			bp = pinned[jc/nc*panel:]
		} else {
			packPanel(bp, b, l.Ldb, k, transB, jc, ncb, nc, workers)
		}
		var next atomic.Int64
		parallel(workers, func(w int) {
			ws := s
			if w > 0 {
				ws = getScratch()
				defer putScratch(ws)
			}
			ap := ws.block()
			for {
				t := int(next.Add(1)) - 1
				if t >= tasks {
					return
				}
				ic := t * rowsPerTask
				mcb := min(rowsPerTask, m-ic)
				for pb := range kBlocks {
					pc := pb * kc
					kcb := min(kc, k-pc)
					if l.TransA {
						packAT(ap, a, l.Lda, ic, mcb, pc, kcb)
					} else {
						packA(ap, a, l.Lda, ic, mcb, pc, kcb)
					}
					macroKernel(ap, bp[pb*kc*nc:], c, l.Ldc, ic, mcb, jc, ncb, kcb, l.Acc || pb > 0)
				}
			}
		})
	}
}

// packPanel packs columns [jc, jc+ncb) of b (row stride ldb), every k
// block, into bp: for each k block, strips of kcb x nr, on up to workers
// goroutines.
// Each k block's strips start nc columns' worth apart (nc the chunk width).
func packPanel(bp, b []float32, ldb, k int, transB bool, jc, ncb, nc, workers int) {
	kBlocks := (k + kc - 1) / kc
	strips := (ncb + nr - 1) / nr
	var next atomic.Int64
	parallel(min(workers, kBlocks*strips), func(int) {
		for {
			t := int(next.Add(1)) - 1
			if t >= kBlocks*strips {
				return
			}
			pb, st := t/strips, t%strips
			pc := pb * kc
			kcb := min(kc, k-pc)
			packB(bp[pb*kc*nc+st*kcb*nr:], b, ldb, transB, jc+st*nr, min(nr, ncb-st*nr), pc, kcb)
		}
	})
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// packA copies rows [ic, ic+mcb) x columns [pc, pc+kcb) of a (row stride
// lda) into micro-panels of mr rows, column-major within each panel, the
// last one zero-padded.
func packA(dst, a []float32, lda, ic, mcb, pc, kcb int) {
	for ir := 0; ir < mcb; ir += mr {
		d := dst[ir/mr*kcb*mr : (ir/mr+1)*kcb*mr]
		if mcb-ir >= mr {
			base := (ic+ir)*lda + pc
			r0, r1, r2 := a[base:base+kcb], a[base+lda:base+lda+kcb], a[base+2*lda:base+2*lda+kcb]
			r3, r4, r5 := a[base+3*lda:base+3*lda+kcb], a[base+4*lda:base+4*lda+kcb], a[base+5*lda:base+5*lda+kcb]
			for p := packRows6(d, r0, r1, r2, r3, r4, r5, kcb); p < kcb; p++ {
				q := d[p*mr : p*mr+mr : p*mr+mr]
				q[0], q[1], q[2], q[3], q[4], q[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
			}
			continue
		}
		rows := mcb - ir
		for r := range mr {
			if r >= rows {
				for p := range kcb {
					d[p*mr+r] = 0
				}
				continue
			}
			src := a[(ic+ir+r)*lda+pc : (ic+ir+r)*lda+pc+kcb]
			for p, v := range src {
				d[p*mr+r] = v
			}
		}
	}
}

// packAT is packA for a stored transposed ([k, m], row stride lda): a
// panel's column p is mr consecutive floats of a's row pc+p. Each row's
// run of mcb floats is read once, front to back, and dealt out to the
// panels (reading a panel at a time would stride through kcb rows, a page
// apart for a wide m, once per panel).
func packAT(dst, a []float32, lda, ic, mcb, pc, kcb int) {
	full := mcb / mr
	for p := range kcb {
		src := a[(pc+p)*lda+ic : (pc+p)*lda+ic+mcb]
		for q := range full {
			s := src[q*mr : q*mr+mr : q*mr+mr]
			d := dst[q*kcb*mr+p*mr : q*kcb*mr+p*mr+mr : q*kcb*mr+p*mr+mr]
			d[0], d[1], d[2], d[3], d[4], d[5] = s[0], s[1], s[2], s[3], s[4], s[5]
		}
		if rest := mcb - full*mr; rest > 0 {
			d := dst[full*kcb*mr+p*mr : full*kcb*mr+p*mr+mr]
			copy(d, src[full*mr:])
			clear(d[rest:])
		}
	}
}

// packB copies cols columns from c0 (zero-padded to nr) x rows [pc,
// pc+kcb) of b (row stride ldb: b is [k, n], or [n, k] when transB) into
// one row-major kcb x nr micro-panel at dst.
func packB(dst, b []float32, ldb int, transB bool, c0, cols, pc, kcb int) {
	d := dst[:kcb*nr]
	if transB && cols == nr { // the panel is a 16 x kcb block of b, transposed
		vecmath.Transpose(d, nr, b[c0*ldb+pc:], ldb, nr, kcb)
		return
	}
	if transB {
		for c := range cols {
			src := b[(c0+c)*ldb+pc : (c0+c)*ldb+pc+kcb]
			for p, v := range src {
				d[p*nr+c] = v
			}
		}
	} else if cols < nr || !packRows16(d, b[pc*ldb+c0:], ldb, kcb) {
		for p := range kcb {
			copy(d[p*nr:p*nr+cols], b[(pc+p)*ldb+c0:])
		}
	}
	if cols < nr {
		for p := range kcb {
			clear(d[p*nr+cols : p*nr+nr])
		}
	}
}

// macroKernel runs the micro-kernel over a packed A block and the packed
// B panel of one k block (strips of kcb x nr), each B micro-panel
// outermost so it stays in L1 across the A micro-panels. Edge tiles go
// through a scratch tile, their padding discarded.
func macroKernel(ap, bp, c []float32, ldc, ic, mcb, jc, ncb, kcb int, acc bool) {
	var tmp [mr * nr]float32
	for jr := 0; jr < ncb; jr += nr {
		bpan := bp[jr/nr*kcb*nr : (jr/nr+1)*kcb*nr]
		nrb := min(nr, ncb-jr)
		for ir := 0; ir < mcb; ir += mr {
			apan := ap[ir/mr*kcb*mr : (ir/mr+1)*kcb*mr]
			mrb := min(mr, mcb-ir)
			off := (ic+ir)*ldc + jc + jr
			if mrb == mr && nrb == nr {
				microKernel(kcb, apan, bpan, c[off:off+(mr-1)*ldc+nr], ldc, acc)
				continue
			}
			microKernel(kcb, apan, bpan, tmp[:], nr, false)
			for i := range mrb {
				row, t := c[off+i*ldc:off+i*ldc+nrb], tmp[i*nr:i*nr+nrb]
				if acc {
					for x := range row {
						row[x] += t[x]
					}
				} else {
					copy(row, t)
				}
			}
		}
	}
}

// parallel runs fn(0..n-1) on n goroutines, the caller running fn(0).
func parallel(n int, fn func(w int)) {
	if n == 1 {
		fn(0)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < n; w++ {
		wg.Go(func() { fn(w) })
	}
	fn(0)
	wg.Wait()
}

// scratch is one worker's packing memory, reused across calls.
type scratch struct{ a, b []float32 }

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch  { return scratchPool.Get().(*scratch) }
func putScratch(s *scratch) { scratchPool.Put(s) }

func (s *scratch) block() []float32 {
	if need := (mcMax + mr) * kc; len(s.a) < need {
		s.a = make([]float32, need)
	}
	return s.a
}

func (s *scratch) panel(size int) []float32 {
	if len(s.b) < size {
		s.b = make([]float32, size)
	}
	return s.b
}
