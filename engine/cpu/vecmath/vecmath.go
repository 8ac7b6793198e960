package vecmath

import (
	"math"
	"runtime"
	"sync"
)

// useSIMD selects the archsimd kernels. It is a variable rather than a
// constant so the tests can force the scalar path on machines that have
// AVX2+FMA.
var useSIMD = simdSupported

// GeluTanh sets dst[i] = 0.5*x*(1+tanh(sqrt(2/π)*(x+0.044715x³))) for
// x = src[i]. dst and src must have the same length; they may be the same
// slice. GeluTanh(+Inf) = +Inf, GeluTanh(-Inf) = -0 and NaN propagates.
func GeluTanh(dst, src []float32) { unary("GeluTanh", dst, src, geluSIMD, geluScalarSlice) }

// Exp sets dst[i] = e^src[i] in float32: results below the smallest
// subnormal round to 0, those above math.MaxFloat32 become +Inf, and NaN
// propagates. dst and src must have the same length; they may be the same
// slice.
func Exp(dst, src []float32) { unary("Exp", dst, src, expSIMD, expScalarSlice) }

// SoftmaxRows applies a numerically stable softmax to each consecutive row of
// rowLen elements of src, writing dst. len(src) must be a multiple of rowLen
// and len(dst) must equal len(src); dst may be the same slice as src.
//
// Masked entries (-Inf, or a very negative finite value such as -3.4e38)
// get probability 0; a row in which every entry is masked the same way comes
// out uniform, 1/rowLen per entry, instead of NaN. A NaN anywhere in a row,
// or a +Inf, makes the whole row NaN.
func SoftmaxRows(dst, src []float32, rowLen int) {
	if len(dst) != len(src) {
		panic("vecmath.SoftmaxRows: len(dst) != len(src)")
	}
	if len(src) == 0 {
		return
	}
	if rowLen <= 0 || len(src)%rowLen != 0 {
		panic("vecmath.SoftmaxRows: len(src) is not a positive multiple of rowLen")
	}
	if useSIMD {
		softmaxSIMD(dst, src, rowLen)
		return
	}
	softmaxScalar(dst, src, rowLen)
}

// unary checks an element-wise kernel's lengths and runs its SIMD or its
// scalar form.
func unary(name string, dst, src []float32, simd, scalar func(dst, src []float32)) {
	if len(dst) != len(src) {
		panic("vecmath." + name + ": len(dst) != len(src)")
	}
	if useSIMD {
		simd(dst, src)
		return
	}
	scalar(dst, src)
}

// ParallelFor calls fn over contiguous chunks that exactly cover [0, n):
// at most runtime.GOMAXPROCS(0) chunks, each of at least minChunk elements
// (minChunk < 1 counts as 1). Chunks run concurrently on new goroutines
// except one, which runs on the calling goroutine; ParallelFor returns once
// all have finished. When n < 2*minChunk there is nothing to gain, and
// fn(0, n) runs inline. Nothing runs when n ≤ 0.
//
// A panic in any chunk is re-raised on the calling goroutine after every
// chunk has returned, so callers can recover it as if fn had run inline.
func ParallelFor(n, minChunk int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if minChunk < 1 {
		minChunk = 1
	}
	chunks := min(runtime.GOMAXPROCS(0), n/minChunk)
	if n < 2*minChunk || chunks < 2 {
		fn(0, n)
		return
	}
	// Spread the remainder one element at a time over the first chunks so
	// sizes differ by at most one.
	size, extra := n/chunks, n%chunks
	bounds := func(c int) (int, int) {
		lo := c*size + min(c, extra)
		hi := lo + size
		if c < extra {
			hi++
		}
		return lo, hi
	}

	var (
		wg       sync.WaitGroup
		panicMu  sync.Mutex
		panicVal any
		panicked bool
	)
	run := func(lo, hi int) {
		defer func() {
			if r := recover(); r != nil {
				panicMu.Lock()
				if !panicked {
					panicked, panicVal = true, r
				}
				panicMu.Unlock()
			}
		}()
		fn(lo, hi)
	}
	wg.Add(chunks - 1)
	for c := 1; c < chunks; c++ {
		lo, hi := bounds(c)
		go func() {
			defer wg.Done()
			run(lo, hi)
		}()
	}
	run(bounds(0))
	wg.Wait()
	if panicked {
		panic(panicVal)
	}
}

// Add sets dst[i] = a[i] + b[i]. All three slices must have the same
// length; dst may be the same slice as a or b.
func Add(dst, a, b []float32) {
	if len(a) != len(dst) || len(b) != len(dst) {
		panic("vecmath.Add: slices of different lengths")
	}
	if useSIMD {
		addSIMD(dst, a, b)
		return
	}
	addScalar(dst, a, b)
}

// Mul sets dst[i] = a[i] * b[i]. a must have dst's length; b that length,
// or length 1 for one value multiplying every element. dst may be the same
// slice as a, or as a full-length b.
func Mul(dst, a, b []float32) {
	if len(a) != len(dst) || (len(b) != len(dst) && len(b) != 1) {
		panic("vecmath.Mul: slices of different lengths")
	}
	if len(dst) == 0 {
		return
	}
	if useSIMD {
		mulSIMD(dst, a, b)
		return
	}
	mulScalar(dst, a, b)
}

// GeluTanhGrad sets dst[i] = v[i]·GELU'(x[i]) for GELU's tanh form, the
// gradient of a loss through GeluTanh given its output y = GeluTanh(x) and
// v, the loss's gradient with respect to y. With s = σ(2u), 2u = x(A +
// Bx²) (A = 2√(2/π), B = 0.044715·A), GELU = x·s and GELU' = s·(1 +
// (1−s)·x(A + 3Bx²)); s is read back as y/x (½ for |x| ≤ 1e-30), a
// division where the sigmoid would cost an exponential (eight times
// faster; within 4e-6 of the float64 derivative relative to max(1, GELU'),
// against 1e-6 through the sigmoid: y's rounding limits 1−s near x ≈ 4.5).
// The slices must have dst's length; dst may be any of them.
func GeluTanhGrad(dst, x, y, v []float32) {
	if len(x) != len(dst) || len(y) != len(dst) || len(v) != len(dst) {
		panic("vecmath.GeluTanhGrad: slices of different lengths")
	}
	if useSIMD {
		geluGradSIMD(dst, x, y, v)
		return
	}
	geluGradScalar(dst, x, y, v)
}

// LayerNormGradRow sets dx to the gradient of a loss through one row of
// LayerNormRow(x, gamma, ·, eps), given dy, the loss's gradient with
// respect to that row's output: with x̂ = (x−μ)·r, r = 1/√(σ²+eps) and g =
// dy·γ (γ = 1 when gamma is nil), dx = r·(g − mean(g) − x̂·mean(g·x̂)). The
// slices must have x's length; dx may be dy.
func LayerNormGradRow(dx, x, gamma, dy []float32, eps float64) {
	if len(dx) != len(x) || len(dy) != len(x) || (gamma != nil && len(gamma) != len(x)) {
		panic("vecmath.LayerNormGradRow: slices of different lengths")
	}
	if len(x) == 0 {
		return
	}
	if useSIMD {
		layerNormGradSIMD(dx, x, gamma, dy, float32(eps))
		return
	}
	layerNormGradScalar(dx, x, gamma, dy, eps)
}

// LayerNormParamGradRow adds one row's share of the layer norm's gain and
// bias gradients: dgamma += dy·x̂ and dbeta += dy (x̂ as in
// LayerNormGradRow). The slices must have x's length.
func LayerNormParamGradRow(dgamma, dbeta, x, dy []float32, eps float64) {
	if len(dgamma) != len(x) || len(dbeta) != len(x) || len(dy) != len(x) {
		panic("vecmath.LayerNormParamGradRow: slices of different lengths")
	}
	if len(x) == 0 {
		return
	}
	if useSIMD {
		layerNormParamGradSIMD(dgamma, dbeta, x, dy, float32(eps))
		return
	}
	layerNormParamGradScalar(dgamma, dbeta, x, dy, eps)
}

// CrossEntropyRow returns −log softmax(x)[target] over a non-empty row,
// as (m − x[target]) + log Σ exp(x[i] − m) with m the row's largest entry,
// so that a row far from zero keeps its precision; tmp, of x's length (it
// may be x when x may be overwritten), receives the exponentials.
func CrossEntropyRow(x, tmp []float32, target int) float32 {
	m, sum := expShifted(tmp, x, target)
	return float32(float64(m-x[target]) + math.Log(float64(sum)))
}

// CrossEntropyGradRow sets dx to s·(softmax(x) − onehot(target)), the
// gradient of s·CrossEntropyRow(x, ·, target). dx may be x.
func CrossEntropyGradRow(dx, x []float32, s float32, target int) {
	_, sum := expShifted(dx, x, target)
	scale := []float32{s / sum}
	if useSIMD {
		mulSIMD(dx, dx, scale)
	} else {
		mulScalar(dx, dx, scale)
	}
	dx[target] -= s
}

// expShifted sets dst[i] = exp(x[i] − m), m the row's largest entry, and
// returns m and the sum of dst.
func expShifted(dst, x []float32, target int) (m, sum float32) {
	if len(x) == 0 || len(dst) != len(x) || target < 0 || target >= len(x) {
		panic("vecmath: cross-entropy row empty, of another length than its output, or target outside it")
	}
	if useSIMD {
		m = maxSIMD(x)
		addConstSIMD(dst, x, -m)
		expSIMD(dst, dst)
		return m, sumSIMD(dst)
	}
	m = x[0]
	for _, v := range x {
		m = max(m, v)
	}
	for i, v := range x {
		dst[i] = v - m
	}
	expScalarSlice(dst, dst)
	for _, v := range dst {
		sum += v
	}
	return m, sum
}

// SoftmaxGrad sets g[i] = ((g[i] − d)·p[i])·s: with p a softmax row, g
// the loss gradient with respect to it and d = Σ p·g, the gradient with
// respect to the softmax's input, times s. p must have g's length.
func SoftmaxGrad(g, p []float32, d, s float32) {
	if len(p) != len(g) {
		panic("vecmath.SoftmaxGrad: slices of different lengths")
	}
	if useSIMD {
		softmaxGradSIMD(g, p, d, s)
		return
	}
	softmaxGradScalar(g, p, d, s)
}

// AdamWCoef are one AdamW step's scalars, already rounded to float32 (the
// caller, package train, says how they are formed): moments m' = m·B1 +
// g·C1 and v' = v·B2 + (g·g)·C2, then w' = w·Decay - (m'/(√v' + EpsB))·
// StepScale, with Decay 0 meaning no weight decay.
type AdamWCoef struct{ B1, B2, C1, C2, EpsB, StepScale, Decay float32 }

// AdamW updates w, m and v in place from the gradient g, every operation
// rounded to float32 in the order of AdamWCoef's formula (no fused
// multiply-adds; √ correctly rounded), so the SIMD and scalar paths, and
// the same formula as graph ops, give the same bits.
func AdamW(w, g, m, v []float32, c AdamWCoef) {
	if len(g) != len(w) || len(m) != len(w) || len(v) != len(w) {
		panic("vecmath.AdamW: slices of different lengths")
	}
	if useSIMD {
		adamWSIMD(w, g, m, v, &c)
		return
	}
	adamWScalar(w, g, m, v, &c)
}

// Sigmoid sets dst[i] = 1/(1+e^-src[i]) in float32, within 3e-7 relative
// of the exact value wherever that is a normal float32 (results for
// x < -87 are subnormal and round to 0 below about -104). Sigmoid(+Inf) =
// 1, Sigmoid(-Inf) = 0 and NaN propagates. dst and src must have the same
// length; they may be the same slice.
func Sigmoid(dst, src []float32) { unary("Sigmoid", dst, src, sigmoidSIMD, sigmoidScalarSlice) }

// LayerNormRow sets y = (x - mean(x)) / sqrt(var(x) + eps) * gamma + beta
// over one row, where var is the population variance and a nil gamma or
// beta leaves out that step. y and x must have the same length (y may be
// x), and a non-nil gamma or beta that length too.
//
// The mean and the sum of squared deviations from it are two passes, so
// rows with a large mean keep their accuracy. The SIMD path accumulates
// them in float32 across several vector lanes and the scalar path in
// float64; both stay within a few float32 ulps of a float64 reference for
// rows the size of a transformer's hidden state. An empty row is a no-op.
func LayerNormRow(y, x, gamma, beta []float32, eps float64) {
	if len(y) != len(x) || (gamma != nil && len(gamma) != len(x)) || (beta != nil && len(beta) != len(x)) {
		panic("vecmath.LayerNormRow: slices of different lengths")
	}
	if len(x) == 0 {
		return
	}
	if useSIMD {
		layerNormSIMD(y, x, gamma, beta, float32(eps))
		return
	}
	layerNormScalar(y, x, gamma, beta, eps)
}

// Transpose sets dst[c*dstStride+r] = src[r*srcStride+c] for every
// r < rows and c < cols: it writes the transpose of a rows x cols block of
// src (row stride srcStride) into dst (row stride dstStride). The blocks
// must not overlap. Nothing happens when rows or cols is 0.
func Transpose(dst []float32, dstStride int, src []float32, srcStride int, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	if srcStride < cols || dstStride < rows || len(src) < (rows-1)*srcStride+cols || len(dst) < (cols-1)*dstStride+rows {
		panic("vecmath.Transpose: block does not fit its slice")
	}
	r0, c0 := 0, 0
	if useSIMD && rows >= 8 && cols >= 8 {
		r0, c0 = transposeSIMD(dst, dstStride, src, srcStride, rows, cols)
	}
	// What the SIMD path left: the bottom rows [r0, rows) across every
	// column, and the right columns [c0, cols) of rows [0, r0).
	if r0 < rows {
		transposeScalar(dst, dstStride, src[r0*srcStride:], srcStride, rows-r0, cols, r0)
	}
	if c0 < cols && r0 > 0 {
		transposeScalar(dst[c0*dstStride:], dstStride, src[c0:], srcStride, r0, cols-c0, 0)
	}
}

// Select sets dst[i] = onTrue[i] where cond[i] and onFalse[i] elsewhere.
// cond must have dst's length; onTrue and onFalse either that length or
// length 1, a scalar used for every element. dst may be the same slice as
// a full-length onTrue or onFalse.
func Select(dst []float32, cond []bool, onTrue, onFalse []float32) {
	n := len(dst)
	if len(cond) != n || (len(onTrue) != n && len(onTrue) != 1) || (len(onFalse) != n && len(onFalse) != 1) {
		panic("vecmath.Select: slices of different lengths")
	}
	if n == 0 {
		return
	}
	if useSIMD {
		selectSIMD(dst, cond, onTrue, onFalse)
		return
	}
	selectScalar(dst, cond, onTrue, onFalse, 0)
}
