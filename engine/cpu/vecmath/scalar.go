package vecmath

import (
	"math"
	"unsafe"
)

// The scalar kernels back builds without GOEXPERIMENT=simd, CPUs without
// AVX2+FMA, and the tests' cross-path checks. They share the SIMD path's
// range reduction, polynomial and sigmoid formulation. Go guarantees no
// float32 fused multiply-add, so where the SIMD path builds extra precision
// from exact FMA residuals (the reduced argument, the GELU argument, the
// last polynomial step, the 1+E denominator) the scalar path simply uses
// float64 and rounds to float32 once at the end.

// expQ evaluates the polynomial shared with the SIMD path up to
// q = (e^r - 1)/r, so e^r ≈ q*r + 1, for |r| ≤ ~ln2/2.
func expQ(r float32) float32 {
	q := float32(expC6)
	q = q*r + expC5
	q = q*r + expC4
	q = q*r + expC3
	q = q*r + expC2
	return q*r + 1
}

// expParts returns p and n with e^y ≈ p*2^n, for finite |y| ≤ ~160. p is
// a float64 so that callers round once, at the end, as the SIMD path's
// fused operations do.
func expParts(y float64) (float64, int) {
	n := math.RoundToEven(y * log2e)
	r := float32(y - n*math.Ln2)
	return float64(expQ(r))*float64(r) + 1, int(n)
}

// pow2 returns 2^n for |n| ≤ 1022.
func pow2(n int) float64 { return math.Float64frombits(uint64(n+1023) << 52) }

func expScalar(x float32) float32 {
	switch {
	case x != x:
		return x
	case x < expLo:
		x = expLo
	case x > expHi:
		x = expHi
	}
	p, n := expParts(float64(x))
	return float32(p * pow2(n))
}

func geluScalar(x float32) float32 {
	if x != x {
		return x
	}
	a := math.Abs(float64(x))
	if a > geluClamp {
		a = geluClamp
	}
	// E = e^-|2u| ∈ (0, 1] never overflows; sigmoid(2u) is 1/(1+E) for
	// x ≥ 0 and E/(1+E) for x < 0. The clamped a keeps -Inf from meeting
	// a zero E.
	p, n := expParts(-a * (geluA + geluB*a*a))
	e := p * pow2(n)
	if x < 0 {
		return float32(-a * e / (1 + e))
	}
	return float32(float64(x) / (1 + e))
}

func geluScalarSlice(dst, src []float32) {
	dst = dst[:len(src)]
	for i, x := range src {
		dst[i] = geluScalar(x)
	}
}

func expScalarSlice(dst, src []float32) {
	dst = dst[:len(src)]
	for i, x := range src {
		dst[i] = expScalar(x)
	}
}

func softmaxScalar(dst, src []float32, rowLen int) {
	for r := 0; r+rowLen <= len(src); r += rowLen {
		in := src[r : r+rowLen]
		out := dst[r : r+rowLen]
		mx := float32(math.Inf(-1))
		for _, x := range in {
			if x > mx {
				mx = x
			}
		}
		if math.IsInf(float64(mx), -1) {
			fillMasked(out, in)
			continue
		}
		var sum float64
		for i, x := range in {
			d := float64(x) - float64(mx)
			var e float32
			switch {
			case d != d:
				e = float32(d)
			case d < expLo:
				e = 0
			default:
				p, n := expParts(d)
				e = float32(p * pow2(n))
			}
			out[i] = e
			sum += float64(e)
		}
		inv := float32(1 / sum)
		for i := range out {
			out[i] *= inv
		}
	}
}

// fillMasked handles a row whose maximum is -Inf: every entry is -Inf or
// NaN. Fully masked rows become uniform; any NaN poisons the row as it would
// in the general path.
func fillMasked(out, in []float32) {
	v := 1 / float32(len(in))
	for _, x := range in {
		if x != x {
			v = x
			break
		}
	}
	for i := range out {
		out[i] = v
	}
}

func addScalar(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

// mulScalar: b has dst's length, or is one value for every element.
func mulScalar(dst, a, b []float32) {
	a = a[:len(dst)]
	if len(b) != len(dst) {
		v := b[0]
		for i := range dst {
			dst[i] = a[i] * v
		}
		return
	}
	b = b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

func sigmoidScalar(x float32) float32 {
	if x != x {
		return x
	}
	a := min(math.Abs(float64(x)), sigmoidClamp)
	p, n := expParts(-a)
	e := p * pow2(n)
	if x < 0 {
		return float32(e / (1 + e))
	}
	return float32(1 / (1 + e))
}

func sigmoidScalarSlice(dst, src []float32) {
	dst = dst[:len(src)]
	for i, x := range src {
		dst[i] = sigmoidScalar(x)
	}
}

func layerNormScalar(y, x, gamma, beta []float32, eps float64) {
	mean, inv := lnStats(x, eps)
	y = y[:len(x)]
	for i, v := range x {
		z := (float64(v) - mean) * inv
		if gamma != nil {
			z *= float64(gamma[i])
		}
		if beta != nil {
			z += float64(beta[i])
		}
		y[i] = float32(z)
	}
}

// transposeScalar transposes rows x cols of src into dst, starting at dst
// column dstCol.
func transposeScalar(dst []float32, dstStride int, src []float32, srcStride int, rows, cols, dstCol int) {
	// Integers rather than floats, so the copies compile to general-purpose
	// moves (no SSE between the SIMD path's vector code).
	d := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst))
	s := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(src))), len(src))
	for r := range rows {
		row := s[r*srcStride : r*srcStride+cols]
		for c, v := range row {
			d[c*dstStride+dstCol+r] = v
		}
	}
}

// selectScalar does Select's elements from i on.
func selectScalar(dst []float32, cond []bool, onTrue, onFalse []float32, i int) {
	n := len(dst)
	cond = cond[:n]
	tv, fv := onTrue[0], onFalse[0]
	tFull, fFull := len(onTrue) == n, len(onFalse) == n
	for ; i < n; i++ {
		if cond[i] {
			if tFull {
				tv = onTrue[i]
			}
			dst[i] = tv
		} else {
			if fFull {
				fv = onFalse[i]
			}
			dst[i] = fv
		}
	}
}

// adamWScalar is AdamW one element at a time; the float32 conversions keep
// Go from fusing a multiply and an add.
func adamWScalar(w, g, m, v []float32, c *AdamWCoef) {
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for i := range w {
		gi := g[i]
		nm := float32(m[i]*c.B1) + float32(gi*c.C1)
		nv := float32(v[i]*c.B2) + float32(float32(gi*gi)*c.C2)
		den := float32(float32(math.Sqrt(float64(nv))) + c.EpsB)
		step := float32(float32(nm/den) * c.StepScale)
		wi := w[i]
		if c.Decay != 0 {
			wi = float32(wi * c.Decay)
		}
		w[i], m[i], v[i] = wi-step, nm, nv
	}
}

func softmaxGradScalar(g, p []float32, d, s float32) {
	p = p[:len(g)]
	for i, x := range g {
		g[i] = ((x - d) * p[i]) * s
	}
}

func geluGradScalar(dst, x, y, v []float32) {
	x, y, v = x[:len(dst)], y[:len(dst)], v[:len(dst)]
	for i, xi := range x {
		s := float32(0.5)
		if xi > geluGradTiny || xi < -geluGradTiny {
			s = y[i] / xi
		}
		w := xi * (xi*xi*(3*geluB) + geluA)
		dst[i] = v[i] * (s * (w*(1-s) + 1))
	}
}

// lnStats is a row's mean and 1/√(σ²+eps), in float64.
func lnStats(x []float32, eps float64) (mean, r float64) {
	n := float64(len(x))
	for _, v := range x {
		mean += float64(v)
	}
	mean /= n
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	return mean, 1 / math.Sqrt(ss/n+eps)
}

func layerNormGradScalar(dx, x, gamma, dy []float32, eps float64) {
	mean, r := lnStats(x, eps)
	g := func(i int) float64 {
		if gamma == nil {
			return float64(dy[i])
		}
		return float64(dy[i]) * float64(gamma[i])
	}
	var m1, m2 float64
	for i, v := range x {
		gi := g(i)
		m1 += gi
		m2 += gi * (float64(v) - mean) * r
	}
	n := float64(len(x))
	m1, m2 = m1/n, m2/n
	for i, v := range x {
		dx[i] = float32(r * (g(i) - m1 - (float64(v)-mean)*r*m2))
	}
}

func layerNormParamGradScalar(dgamma, dbeta, x, dy []float32, eps float64) {
	mean, r := lnStats(x, eps)
	for i, v := range x {
		dgamma[i] += float32(float64(dy[i]) * (float64(v) - mean) * r)
		dbeta[i] += dy[i]
	}
}
