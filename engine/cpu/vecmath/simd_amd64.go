//go:build goexperiment.simd && amd64 && !race

package vecmath

import (
	"math"
	"simd/archsimd"
	"unsafe"
)

// The kernels use FMA for exact residuals and AVX2 for the integer
// exponent arithmetic; anything less takes the scalar path.
var simdSupported = archsimd.X86.AVX2() && archsimd.X86.FMA()

// Two rules keep these kernels fast:
//
//   - No scalar float code between vector instructions. Go compiles scalar
//     float32/float64 arithmetic to legacy (non-VEX) SSE, and mixing that
//     with dirty 256-bit registers stalls: one scalar float64 add per vector
//     made a loop 12x slower on the Zen 3 machine this was tuned on (it is
//     what made a first softmax slower than the scalar one). Reductions
//     therefore stay in vector registers, and constant structs are filled in
//     place (a struct returned by value is copied with legacy MOVUPS).
//   - archsimd.ClearAVXUpperBits (VZEROUPPER) before returning, so the
//     caller's scalar code does not pay the same penalty; the compiler does
//     not insert it.

type vf = archsimd.Float32x8
type vi = archsimd.Int32x8

func bcast(v float32) vf { return archsimd.BroadcastFloat32x8(v) }

// expVec holds the exp constants as vectors; Go does not hoist broadcasts
// out of loops.
type expVec struct {
	log2e, magic, nLn2Hi, nLn2Lo  vf
	c6, c5, c4, c3, c2, one, zero vf
	twoM100                       vf
	magicBits, bias, bias100      vi
}

func (k *expVec) init() {
	k.log2e = bcast(log2e)
	k.magic = bcast(roundMagic)
	k.nLn2Hi = bcast(-ln2Hi)
	k.nLn2Lo = bcast(-ln2Lo)
	k.c6 = bcast(expC6)
	k.c5 = bcast(expC5)
	k.c4 = bcast(expC4)
	k.c3 = bcast(expC3)
	k.c2 = bcast(expC2)
	k.one = bcast(1)
	k.zero = bcast(0)
	k.twoM100 = bcast(0x1p-100)
	k.magicBits = archsimd.BroadcastInt32x8(roundMagicBits)
	k.bias = archsimd.BroadcastInt32x8(127)
	k.bias100 = archsimd.BroadcastInt32x8((127 + 100) << 23)
}

// reduce writes e^(y+yl), |y| ≤ 160 and |yl| tiny, as e^r*2^n with
// |r| ≤ ~ln2/2. It returns r, q = (e^r - 1)/r as the polynomial has it (so
// e^r ≈ q*r + 1, letting callers fold a factor into that last FMA), and t,
// whose low mantissa bits hold n for the scale helpers below.
func (k *expVec) reduce(y, yl vf) (r, q, t vf) {
	t = y.MulAdd(k.log2e, k.magic)
	n := t.Sub(k.magic)
	r = n.MulAdd(k.nLn2Hi, y) // exact: |r| < 0.5
	// The two small corrections are combined first so r is rounded once.
	r = r.Add(n.MulAdd(k.nLn2Lo, yl))
	q = k.c6.MulAdd(r, k.c5)
	q = q.MulAdd(r, k.c4)
	q = q.MulAdd(r, k.c3)
	q = q.MulAdd(r, k.c2)
	q = q.MulAdd(r, k.one)
	return r, q, t
}

// scaleSplit returns s1, s2 with s1*s2 = 2^n and both normal for any
// |n| ≤ 252. Multiplying by s1 and then s2 keeps every intermediate normal,
// so overflow and gradual underflow happen, correctly rounded, in the last
// multiply.
func (k *expVec) scaleSplit(t vf) (s1, s2 vf) {
	n := t.AsInt32x8().Sub(k.magicBits)
	n1 := n.ShiftAllRight(1)
	n2 := n.Sub(n1)
	s1 = n1.Add(k.bias).ShiftAllLeft(23).AsFloat32x8()
	s2 = n2.Add(k.bias).ShiftAllLeft(23).AsFloat32x8()
	return s1, s2
}

// scaleNonPos returns 2^(n+100); the caller finishes with k.twoM100. Valid
// for -226 ≤ n ≤ 27, which covers every non-positive argument down to the
// clamp at expLo; cheaper than scaleSplit because t's bits shifted left by
// 23 are already n<<23 (the magic constant's bits shift out).
func (k *expVec) scaleNonPos(t vf) vf {
	return t.AsInt32x8().ShiftAllLeft(23).Add(k.bias100).AsFloat32x8()
}

type geluVec struct {
	absMask         vi
	clamp, aHi, aLo vf
	bHi, bLo        vf
}

func (g *geluVec) init() {
	g.absMask = archsimd.BroadcastInt32x8(0x7fffffff)
	g.clamp = bcast(geluClamp)
	g.aHi = bcast(geluAHi)
	g.aLo = bcast(geluALo)
	g.bHi = bcast(geluBHi)
	g.bLo = bcast(geluBLo)
}

// geluArg returns -a, a = min(|x|, geluClamp), and -|2u| = -a*(geluA +
// geluB*a²) as a float32 pair y+yl accurate to ~2^-45. The pair matters:
// for x < 0 the result is ~x*e^-|2u|, whose relative error is |2u| (up to
// ~100 before the result underflows) times the relative error of the
// argument.
func geluArg(x vf, g *geluVec, k *expVec) (na, y, yl vf) {
	a := x.AsInt32x8().And(g.absMask).AsFloat32x8().Min(g.clamp)
	na = k.zero.Sub(a)
	// Negations are subtractions from zero rather than multiplications:
	// the FMA/multiply pipes are the bottleneck, the add pipes are not.
	a2 := a.Mul(a)
	a2l := a.MulAdd(a, k.zero.Sub(a2)) // a² = a2 + a2l exactly
	// aHi + bHi*a2 = t + rho up to rho's rounding: aHi - t is exact by
	// the choice of aHi. tl gathers every low-order term.
	t := g.bHi.MulAdd(a2, g.aHi)
	rho := g.bHi.MulAdd(a2, g.aHi.Sub(t))
	tl := g.bHi.MulAdd(a2l, g.bLo.MulAdd(a2, rho.Add(g.aLo)))
	y = na.Mul(t)
	yl = na.MulAdd(tl, na.MulAdd(t, k.zero.Sub(y)))
	return na, y, yl
}

// geluFinish computes x*sigmoid(2u) from E = e^-|2u| = (q*r+1)*s*2^-100:
// x/(1+E) for x ≥ 0 and -a*E/(1+E) for x < 0.
//
// For x < 0 all of E/(1+E) shows in the result, and two plain float32
// roundings (numerator, quotient) would already use most of a 2e-7 budget.
// So the negative branch divides the unscaled numerator P = -a*(q*r+1) by
// d = fl(1+E), then corrects the quotient with the exact remainder of both
// the numerator and the denominator: with Q0 = fl(P/d), dl = 1+E-d (exact)
// and P - Q0*d formed from FMA residuals, Q0 + (P - Q0*d - Q0*dl)/d is the
// quotient by 1+E up to second-order terms. Scaling comes last so a
// subnormal E does not cost precision in a result that is still normal;
// the clamped a (not x) keeps -Inf from meeting a zero E. Positive x need
// none of this (the error is at most half as large), and +Inf would turn
// the correction into Inf*0.
func geluFinish(x, na, r, q, s vf, k *expVec) vf {
	e := q.MulAdd(r, k.one).Mul(s).Mul(k.twoM100)
	d := e.Add(k.one)
	dl := k.one.Sub(d).Add(e)
	naq := na.Mul(q)
	isNeg := x.Less(k.zero)
	q0 := naq.MulAdd(r, na).Merge(x, isNeg).Div(d)
	nq0 := k.zero.Sub(q0)
	rem := nq0.MulAdd(d, na).Add(naq.Mul(r))
	rem = nq0.MulAdd(dl, rem)
	neg := rem.MulAdd(d.Reciprocal(), q0).Mul(s).Mul(k.twoM100)
	return neg.Merge(q0, isNeg)
}

func gelu8(x vf, g *geluVec, k *expVec) vf {
	na, y, yl := geluArg(x, g, k)
	r, q, t := k.reduce(y, yl)
	return geluFinish(x, na, r, q, k.scaleNonPos(t), k)
}

func geluSIMD(dst, src []float32) {
	var k expVec
	var g geluVec
	k.init()
	g.init()
	n := len(src)
	dst = dst[:n]
	i := 0
	// Four independent vectors per iteration, stage by stage: one vector's
	// dependency chain is over 100 cycles long, too long for the
	// out-of-order window to overlap consecutive iterations well on its
	// own. Interleaving measured ~25% faster than one vector at a time.
	for ; i+32 <= n; i += 32 {
		x0 := archsimd.LoadFloat32x8Slice(src[i:])
		x1 := archsimd.LoadFloat32x8Slice(src[i+8:])
		x2 := archsimd.LoadFloat32x8Slice(src[i+16:])
		x3 := archsimd.LoadFloat32x8Slice(src[i+24:])
		na0, y0, yl0 := geluArg(x0, &g, &k)
		na1, y1, yl1 := geluArg(x1, &g, &k)
		na2, y2, yl2 := geluArg(x2, &g, &k)
		na3, y3, yl3 := geluArg(x3, &g, &k)
		r0, q0, t0 := k.reduce(y0, yl0)
		r1, q1, t1 := k.reduce(y1, yl1)
		r2, q2, t2 := k.reduce(y2, yl2)
		r3, q3, t3 := k.reduce(y3, yl3)
		geluFinish(x0, na0, r0, q0, k.scaleNonPos(t0), &k).StoreSlice(dst[i:])
		geluFinish(x1, na1, r1, q1, k.scaleNonPos(t1), &k).StoreSlice(dst[i+8:])
		geluFinish(x2, na2, r2, q2, k.scaleNonPos(t2), &k).StoreSlice(dst[i+16:])
		geluFinish(x3, na3, r3, q3, k.scaleNonPos(t3), &k).StoreSlice(dst[i+24:])
	}
	for ; i < n; i += 8 {
		if n-i >= 8 {
			gelu8(archsimd.LoadFloat32x8Slice(src[i:]), &g, &k).StoreSlice(dst[i:])
		} else {
			gelu8(archsimd.LoadFloat32x8SlicePart(src[i:]), &g, &k).StoreSlicePart(dst[i:])
		}
	}
	archsimd.ClearAVXUpperBits()
}

// exp8 clamps with compare-and-blend rather than Min/Max so that NaN passes
// through without depending on which operand VMINPS/VMAXPS returns.
func exp8(x, lo, hi vf, k *expVec) vf {
	y := lo.Merge(x, x.Less(lo))
	y = hi.Merge(y, y.Greater(hi))
	r, q, t := k.reduce(y, k.zero)
	s1, s2 := k.scaleSplit(t)
	return q.MulAdd(r, k.one).Mul(s1).Mul(s2)
}

func expSIMD(dst, src []float32) {
	var k expVec
	k.init()
	lo, hi := bcast(expLo), bcast(expHi)
	n := len(src)
	dst = dst[:n]
	i := 0
	for ; i+32 <= n; i += 32 {
		e0 := exp8(archsimd.LoadFloat32x8Slice(src[i:]), lo, hi, &k)
		e1 := exp8(archsimd.LoadFloat32x8Slice(src[i+8:]), lo, hi, &k)
		e2 := exp8(archsimd.LoadFloat32x8Slice(src[i+16:]), lo, hi, &k)
		e3 := exp8(archsimd.LoadFloat32x8Slice(src[i+24:]), lo, hi, &k)
		e0.StoreSlice(dst[i:])
		e1.StoreSlice(dst[i+8:])
		e2.StoreSlice(dst[i+16:])
		e3.StoreSlice(dst[i+24:])
	}
	for ; i < n; i += 8 {
		if n-i >= 8 {
			exp8(archsimd.LoadFloat32x8Slice(src[i:]), lo, hi, &k).StoreSlice(dst[i:])
		} else {
			exp8(archsimd.LoadFloat32x8SlicePart(src[i:]), lo, hi, &k).StoreSlicePart(dst[i:])
		}
	}
	archsimd.ClearAVXUpperBits()
}

// softExp returns e^(x+nm), nm = -(row max). The difference is formed as
// an exact pair (TwoSum) so small probabilities keep full relative
// accuracy. Differences below lo (including -Inf and overflow) are clamped
// to lo, where the result is 0; NaN passes through.
func softExp(x, nm, lo vf, k *expVec) vf {
	d := x.Add(nm)
	bb := d.Sub(x)
	dl := x.Sub(d.Sub(bb)).Add(nm.Sub(bb))
	small := d.Less(lo)
	r, q, t := k.reduce(lo.Merge(d, small), k.zero.Merge(dl, small))
	return q.MulAdd(r, k.one).Mul(k.scaleNonPos(t)).Mul(k.twoM100)
}

// hmax and hsum reduce across lanes without leaving vector registers and
// return the result in every lane.
func hmax(v vf) vf {
	h := v.GetLo().Max(v.GetHi())
	h = h.Max(h.SelectFromPair(2, 3, 0, 1, h))
	h = h.Max(h.SelectFromPair(1, 0, 3, 2, h))
	return h.Broadcast1To8()
}

func hsum(v vf) vf {
	h := v.GetLo().Add(v.GetHi())
	h = h.Add(h.SelectFromPair(2, 3, 0, 1, h))
	h = h.Add(h.SelectFromPair(1, 0, 3, 2, h))
	return h.Broadcast1To8()
}

var laneIndex = [8]int32{0, 1, 2, 3, 4, 5, 6, 7}

func softmaxSIMD(dst, src []float32, rowLen int) {
	var k expVec
	k.init()
	lo := bcast(expLo)
	negInf := bcast(float32(math.Inf(-1)))
	full := rowLen &^ 7
	tail := rowLen - full
	tailMask := archsimd.LoadInt32x8(&laneIndex).Less(archsimd.BroadcastInt32x8(int32(tail)))
	dst = dst[:len(src)]

	for r := 0; r+rowLen <= len(src); r += rowLen {
		in := src[r : r+rowLen]
		out := dst[r : r+rowLen]

		m0, m1 := negInf, negInf
		i := 0
		for ; i+16 <= full; i += 16 {
			p := (*[16]float32)(in[i : i+16])
			m0 = m0.Max(archsimd.LoadFloat32x8((*[8]float32)(p[0:8])))
			m1 = m1.Max(archsimd.LoadFloat32x8((*[8]float32)(p[8:16])))
		}
		if i < full {
			m0 = m0.Max(archsimd.LoadFloat32x8((*[8]float32)(in[i : i+8])))
		}
		if tail > 0 {
			m1 = m1.Max(archsimd.LoadFloat32x8SlicePart(in[full:]).Merge(negInf, tailMask))
		}
		mx := hmax(m0.Max(m1))
		if mx.Equal(negInf).Or(mx.IsNaN()).ToBits() != 0 {
			// Only -Inf and NaN entries: rare, and the scalar rules decide
			// between uniform and NaN.
			archsimd.ClearAVXUpperBits()
			fillMasked(out, in)
			continue
		}

		nm := k.zero.Sub(mx)
		s0, s1 := k.zero, k.zero
		i = 0
		for ; i+32 <= full; i += 32 {
			p := (*[32]float32)(in[i : i+32])
			po := (*[32]float32)(out[i : i+32])
			e0 := softExp(archsimd.LoadFloat32x8((*[8]float32)(p[0:8])), nm, lo, &k)
			e1 := softExp(archsimd.LoadFloat32x8((*[8]float32)(p[8:16])), nm, lo, &k)
			e2 := softExp(archsimd.LoadFloat32x8((*[8]float32)(p[16:24])), nm, lo, &k)
			e3 := softExp(archsimd.LoadFloat32x8((*[8]float32)(p[24:32])), nm, lo, &k)
			e0.Store((*[8]float32)(po[0:8]))
			e1.Store((*[8]float32)(po[8:16]))
			e2.Store((*[8]float32)(po[16:24]))
			e3.Store((*[8]float32)(po[24:32]))
			s0, s1 = s0.Add(e0).Add(e2), s1.Add(e1).Add(e3)
		}
		for ; i < full; i += 8 {
			e0 := softExp(archsimd.LoadFloat32x8((*[8]float32)(in[i:i+8])), nm, lo, &k)
			e0.Store((*[8]float32)(out[i : i+8]))
			s0 = s0.Add(e0)
		}
		if tail > 0 {
			e := softExp(archsimd.LoadFloat32x8SlicePart(in[full:]), nm, lo, &k).Masked(tailMask)
			e.StoreSlicePart(out[full:])
			s1 = s1.Add(e)
		}

		inv := k.one.Div(hsum(s0.Add(s1)))
		for i = 0; i < full; i += 8 {
			p := (*[8]float32)(out[i : i+8])
			archsimd.LoadFloat32x8(p).Mul(inv).Store(p)
		}
		if tail > 0 {
			archsimd.LoadFloat32x8SlicePart(out[full:]).Mul(inv).StoreSlicePart(out[full:])
		}
	}
	archsimd.ClearAVXUpperBits()
}

func addSIMD(dst, a, b []float32) {
	n := len(dst)
	a, b = a[:n], b[:n]
	i := 0
	// Array pointers rather than LoadFloat32x8Slice: one bounds check per
	// block instead of a reslice per vector, which otherwise costs more
	// instructions than the adds.
	for ; i+32 <= n; i += 32 {
		pa := (*[32]float32)(a[i : i+32])
		pb := (*[32]float32)(b[i : i+32])
		pd := (*[32]float32)(dst[i : i+32])
		a0 := archsimd.LoadFloat32x8((*[8]float32)(pa[0:8]))
		a1 := archsimd.LoadFloat32x8((*[8]float32)(pa[8:16]))
		a2 := archsimd.LoadFloat32x8((*[8]float32)(pa[16:24]))
		a3 := archsimd.LoadFloat32x8((*[8]float32)(pa[24:32]))
		a0.Add(archsimd.LoadFloat32x8((*[8]float32)(pb[0:8]))).Store((*[8]float32)(pd[0:8]))
		a1.Add(archsimd.LoadFloat32x8((*[8]float32)(pb[8:16]))).Store((*[8]float32)(pd[8:16]))
		a2.Add(archsimd.LoadFloat32x8((*[8]float32)(pb[16:24]))).Store((*[8]float32)(pd[16:24]))
		a3.Add(archsimd.LoadFloat32x8((*[8]float32)(pb[24:32]))).Store((*[8]float32)(pd[24:32]))
	}
	for ; i+8 <= n; i += 8 {
		archsimd.LoadFloat32x8((*[8]float32)(a[i : i+8])).Add(archsimd.LoadFloat32x8((*[8]float32)(b[i : i+8]))).Store((*[8]float32)(dst[i : i+8]))
	}
	if i < n {
		archsimd.LoadFloat32x8SlicePart(a[i:]).Add(archsimd.LoadFloat32x8SlicePart(b[i:])).StoreSlicePart(dst[i:])
	}
	archsimd.ClearAVXUpperBits()
}

// mulSIMD is addSIMD with multiplies, plus b of length 1: one value for
// every element.
func mulSIMD(dst, a, b []float32) {
	n := len(dst)
	a = a[:n]
	if len(b) != n {
		bv := archsimd.BroadcastFloat32x8(b[0])
		for i := 0; i < n; i += 8 {
			archsimd.LoadFloat32x8SlicePart(a[i:]).Mul(bv).StoreSlicePart(dst[i:])
		}
		archsimd.ClearAVXUpperBits()
		return
	}
	i := 0
	for ; i+32 <= n; i += 32 {
		pa := (*[32]float32)(a[i : i+32])
		pb := (*[32]float32)(b[i : i+32])
		pd := (*[32]float32)(dst[i : i+32])
		for j := 0; j < 32; j += 8 {
			archsimd.LoadFloat32x8((*[8]float32)(pa[j : j+8])).Mul(archsimd.LoadFloat32x8((*[8]float32)(pb[j : j+8]))).Store((*[8]float32)(pd[j : j+8]))
		}
	}
	for ; i < n; i += 8 {
		archsimd.LoadFloat32x8SlicePart(a[i:]).Mul(archsimd.LoadFloat32x8SlicePart(b[i:])).StoreSlicePart(dst[i:])
	}
	archsimd.ClearAVXUpperBits()
}

// sigmoidFinish computes sigmoid(x) from E = e^-a = p*s*2^-100, a =
// min(|x|, sigmoidClamp), p = q*r+1: 1/(1+E) for x ≥ 0 and E/(1+E) for
// x < 0. As in geluFinish, the quotient of the unscaled numerator (1, or
// p) by d = fl(1+E) is corrected with the exact remainders of numerator
// and denominator (dl = 1+E-d), and the negative lanes are scaled last so
// a subnormal E costs no precision in a normal result. NaN is put back at
// the end: the numerators here are finite.
func sigmoidFinish(x, r, q, s vf, k *expVec) vf {
	p := q.MulAdd(r, k.one)
	e := p.Mul(s).Mul(k.twoM100)
	d := e.Add(k.one)
	dl := k.one.Sub(d).Add(e)
	isNeg := x.Less(k.zero)
	q0 := p.Merge(k.one, isNeg).Div(d)
	nq0 := k.zero.Sub(q0)
	rem := nq0.MulAdd(d, k.one).Add(q.Mul(r).Masked(isNeg))
	rem = nq0.MulAdd(dl, rem)
	y := rem.MulAdd(d.Reciprocal(), q0)
	y = y.Mul(s).Mul(k.twoM100).Merge(y, isNeg)
	return x.Merge(y, x.IsNaN())
}

// sigmoidArg returns -min(|x|, sigmoidClamp).
func sigmoidArg(x vf, absMask vi, clamp vf, k *expVec) vf {
	return k.zero.Sub(x.AsInt32x8().And(absMask).AsFloat32x8().Min(clamp))
}

func sigmoid8(x vf, absMask vi, clamp vf, k *expVec) vf {
	r, q, t := k.reduce(sigmoidArg(x, absMask, clamp, k), k.zero)
	return sigmoidFinish(x, r, q, k.scaleNonPos(t), k)
}

func sigmoidSIMD(dst, src []float32) {
	var k expVec
	k.init()
	absMask := archsimd.BroadcastInt32x8(0x7fffffff)
	clamp := bcast(sigmoidClamp)
	n := len(src)
	dst = dst[:n]
	i := 0
	// Four vectors per iteration, stage by stage, as in geluSIMD.
	for ; i+32 <= n; i += 32 {
		ps := (*[32]float32)(src[i : i+32])
		pd := (*[32]float32)(dst[i : i+32])
		x0 := archsimd.LoadFloat32x8((*[8]float32)(ps[0:8]))
		x1 := archsimd.LoadFloat32x8((*[8]float32)(ps[8:16]))
		x2 := archsimd.LoadFloat32x8((*[8]float32)(ps[16:24]))
		x3 := archsimd.LoadFloat32x8((*[8]float32)(ps[24:32]))
		r0, q0, t0 := k.reduce(sigmoidArg(x0, absMask, clamp, &k), k.zero)
		r1, q1, t1 := k.reduce(sigmoidArg(x1, absMask, clamp, &k), k.zero)
		r2, q2, t2 := k.reduce(sigmoidArg(x2, absMask, clamp, &k), k.zero)
		r3, q3, t3 := k.reduce(sigmoidArg(x3, absMask, clamp, &k), k.zero)
		sigmoidFinish(x0, r0, q0, k.scaleNonPos(t0), &k).Store((*[8]float32)(pd[0:8]))
		sigmoidFinish(x1, r1, q1, k.scaleNonPos(t1), &k).Store((*[8]float32)(pd[8:16]))
		sigmoidFinish(x2, r2, q2, k.scaleNonPos(t2), &k).Store((*[8]float32)(pd[16:24]))
		sigmoidFinish(x3, r3, q3, k.scaleNonPos(t3), &k).Store((*[8]float32)(pd[24:32]))
	}
	for ; i < n; i += 8 {
		if n-i >= 8 {
			sigmoid8(archsimd.LoadFloat32x8((*[8]float32)(src[i:i+8])), absMask, clamp, &k).Store((*[8]float32)(dst[i : i+8]))
		} else {
			sigmoid8(archsimd.LoadFloat32x8SlicePart(src[i:]), absMask, clamp, &k).StoreSlicePart(dst[i:])
		}
	}
	archsimd.ClearAVXUpperBits()
}

// layerNormStats is a row's mean, as m0 + corr, and 1/√(σ²+eps), each in
// every lane: two passes (sum, deviations), each with independent
// accumulators so the adds overlap. The layer norm and its gradients share
// it, so they normalise with the same statistics.
func layerNormStats(x []float32, eps float32) (m0, corr, inv vf) {
	n := len(x)
	// No scalar float conversions here: the compiler may sink them past
	// the first vector loop, where a legacy-SSE CVTSQ2SS or XORPS stalls.
	nv := archsimd.BroadcastInt32x8(int32(n)).ConvertToFloat32()
	epsv := bcast(eps)
	one, zero := bcast(1), vf{}
	full := n &^ 7
	tail := n - full
	tailMask := archsimd.LoadInt32x8(&laneIndex).Less(archsimd.BroadcastInt32x8(int32(tail)))
	ld := func(s []float32, i int) vf { return archsimd.LoadFloat32x8((*[8]float32)(s[i : i+8])) }

	var s0, s1, s2, s3 vf
	i := 0
	for ; i+32 <= full; i += 32 {
		p := (*[32]float32)(x[i : i+32])
		s0 = s0.Add(archsimd.LoadFloat32x8((*[8]float32)(p[0:8])))
		s1 = s1.Add(archsimd.LoadFloat32x8((*[8]float32)(p[8:16])))
		s2 = s2.Add(archsimd.LoadFloat32x8((*[8]float32)(p[16:24])))
		s3 = s3.Add(archsimd.LoadFloat32x8((*[8]float32)(p[24:32])))
	}
	for ; i < full; i += 8 {
		s0 = s0.Add(ld(x, i))
	}
	if tail > 0 {
		s1 = s1.Add(archsimd.LoadFloat32x8SlicePart(x[full:]))
	}
	m0 = hsum(s0.Add(s1).Add(s2.Add(s3))).Div(nv)

	// Second pass: the squared deviations from m0, and the deviations
	// themselves, whose mean c corrects m0's rounding (the corrected
	// two-pass algorithm of Chan, Golub and LeVeque): the mean is m0 + c,
	// kept as that pair, and the sum of squares about it is ss - Σd·c.
	// That keeps the result accurate relative to the row's spread even
	// when its mean is large.
	var c0, c1 vf
	s0, s1, s2, s3 = vf{}, vf{}, vf{}, vf{}
	i = 0
	for ; i+32 <= full; i += 32 {
		p := (*[32]float32)(x[i : i+32])
		d0 := archsimd.LoadFloat32x8((*[8]float32)(p[0:8])).Sub(m0)
		d1 := archsimd.LoadFloat32x8((*[8]float32)(p[8:16])).Sub(m0)
		d2 := archsimd.LoadFloat32x8((*[8]float32)(p[16:24])).Sub(m0)
		d3 := archsimd.LoadFloat32x8((*[8]float32)(p[24:32])).Sub(m0)
		c0 = c0.Add(d0).Add(d2)
		c1 = c1.Add(d1).Add(d3)
		s0 = d0.MulAdd(d0, s0)
		s1 = d1.MulAdd(d1, s1)
		s2 = d2.MulAdd(d2, s2)
		s3 = d3.MulAdd(d3, s3)
	}
	for ; i < full; i += 8 {
		d0 := ld(x, i).Sub(m0)
		c0 = c0.Add(d0)
		s0 = d0.MulAdd(d0, s0)
	}
	if tail > 0 {
		d := archsimd.LoadFloat32x8SlicePart(x[full:]).Sub(m0).Masked(tailMask)
		c1 = c1.Add(d)
		s1 = d.MulAdd(d, s1)
	}
	sd := hsum(c0.Add(c1))
	corr = sd.Div(nv)
	ss := hsum(s0.Add(s1).Add(s2.Add(s3)))
	ss = zero.Sub(sd).MulAdd(corr, ss).Max(zero)
	inv = one.Div(ss.Div(nv).Add(epsv).Sqrt())
	return m0, corr, inv
}

// layerNormSIMD: the statistics (layerNormStats), then the output; a row
// is small enough to stay in L1 between passes, and the statistics stay in
// vector registers throughout.
func layerNormSIMD(y, x, gamma, beta []float32, eps float32) {
	n := len(x)
	y = y[:n]
	full := n &^ 7
	tail := n - full
	ld := func(s []float32, i int) vf { return archsimd.LoadFloat32x8((*[8]float32)(s[i : i+8])) }
	m0, corr, inv := layerNormStats(x, eps)
	var i int
	switch {
	case gamma != nil && beta != nil:
		gamma, beta = gamma[:n], beta[:n]
		for i = 0; i < full; i += 8 {
			d := ld(x, i).Sub(m0).Sub(corr).Mul(inv)
			d.MulAdd(ld(gamma, i), ld(beta, i)).Store((*[8]float32)(y[i : i+8]))
		}
		if tail > 0 {
			d := archsimd.LoadFloat32x8SlicePart(x[full:]).Sub(m0).Sub(corr).Mul(inv)
			d.MulAdd(archsimd.LoadFloat32x8SlicePart(gamma[full:]), archsimd.LoadFloat32x8SlicePart(beta[full:])).StoreSlicePart(y[full:])
		}
	default:
		for i = 0; i < n; i += 8 {
			d := archsimd.LoadFloat32x8SlicePart(x[i:]).Sub(m0).Sub(corr).Mul(inv)
			if gamma != nil {
				d = d.Mul(archsimd.LoadFloat32x8SlicePart(gamma[i:]))
			}
			if beta != nil {
				d = d.Add(archsimd.LoadFloat32x8SlicePart(beta[i:]))
			}
			d.StoreSlicePart(y[i:])
		}
	}
	archsimd.ClearAVXUpperBits()
}

// transposeSIMD transposes the 8x8 blocks of the rows&^7 x cols&^7 corner
// and returns that corner's size; the caller does the edges.
func transposeSIMD(dst []float32, dstStride int, src []float32, srcStride int, rows, cols int) (int, int) {
	R, C := rows&^7, cols&^7
	for c := 0; c < C; c += 8 {
		for r := 0; r < R; r += 8 {
			transpose8x8(dst[c*dstStride+r:], dstStride, src[r*srcStride+c:], srcStride)
		}
	}
	archsimd.ClearAVXUpperBits()
	return R, C
}

// transpose8x8: two rounds of VSHUFPS within 128-bit lanes, then
// VPERM2F128 across them.
func transpose8x8(dst []float32, ds int, src []float32, ss int) {
	ld := func(i int) vf { return archsimd.LoadFloat32x8((*[8]float32)(src[i*ss : i*ss+8])) }
	r0, r1, r2, r3 := ld(0), ld(1), ld(2), ld(3)
	r4, r5, r6, r7 := ld(4), ld(5), ld(6), ld(7)
	t0 := r0.SelectFromPairGrouped(0, 1, 4, 5, r1) // a0 a1 b0 b1 | a4 a5 b4 b5
	t1 := r0.SelectFromPairGrouped(2, 3, 6, 7, r1) // a2 a3 b2 b3 | a6 a7 b6 b7
	t2 := r2.SelectFromPairGrouped(0, 1, 4, 5, r3)
	t3 := r2.SelectFromPairGrouped(2, 3, 6, 7, r3)
	t4 := r4.SelectFromPairGrouped(0, 1, 4, 5, r5)
	t5 := r4.SelectFromPairGrouped(2, 3, 6, 7, r5)
	t6 := r6.SelectFromPairGrouped(0, 1, 4, 5, r7)
	t7 := r6.SelectFromPairGrouped(2, 3, 6, 7, r7)
	u0 := t0.SelectFromPairGrouped(0, 2, 4, 6, t2) // a0 b0 c0 d0 | a4 b4 c4 d4
	u1 := t0.SelectFromPairGrouped(1, 3, 5, 7, t2) // a1 b1 c1 d1 | a5 ...
	u2 := t1.SelectFromPairGrouped(0, 2, 4, 6, t3)
	u3 := t1.SelectFromPairGrouped(1, 3, 5, 7, t3)
	u4 := t4.SelectFromPairGrouped(0, 2, 4, 6, t6) // e0 f0 g0 h0 | e4 ...
	u5 := t4.SelectFromPairGrouped(1, 3, 5, 7, t6)
	u6 := t5.SelectFromPairGrouped(0, 2, 4, 6, t7)
	u7 := t5.SelectFromPairGrouped(1, 3, 5, 7, t7)
	st := func(i int, v vf) { v.Store((*[8]float32)(dst[i*ds : i*ds+8])) }
	st(0, u0.Select128FromPair(0, 2, u4))
	st(1, u1.Select128FromPair(0, 2, u5))
	st(2, u2.Select128FromPair(0, 2, u6))
	st(3, u3.Select128FromPair(0, 2, u7))
	st(4, u0.Select128FromPair(1, 3, u4))
	st(5, u1.Select128FromPair(1, 3, u5))
	st(6, u2.Select128FromPair(1, 3, u6))
	st(7, u3.Select128FromPair(1, 3, u7))
}

// selectSIMD widens eight condition bytes at a time to a lane mask
// (VPMOVSXBD) and blends; the last len%8 elements go to selectScalar.
func selectSIMD(dst []float32, cond []bool, onTrue, onFalse []float32) {
	n := len(dst)
	c8 := unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(cond))), len(cond))[:n]
	tFull, fFull := len(onTrue) == n, len(onFalse) == n
	tv := archsimd.BroadcastFloat32x8(onTrue[0])
	fv := archsimd.BroadcastFloat32x8(onFalse[0])
	var zero vi
	i := 0
	for ; i+8 <= n; i += 8 {
		var c archsimd.Int8x16
		if i+16 <= n {
			c = archsimd.LoadInt8x16((*[16]int8)(c8[i : i+16]))
		} else {
			c = archsimd.LoadInt8x16SlicePart(c8[i : i+8])
		}
		m := c.ExtendLo8ToInt32().NotEqual(zero)
		t, f := tv, fv
		if tFull {
			t = archsimd.LoadFloat32x8((*[8]float32)(onTrue[i : i+8]))
		}
		if fFull {
			f = archsimd.LoadFloat32x8((*[8]float32)(onFalse[i : i+8]))
		}
		t.Merge(f, m).Store((*[8]float32)(dst[i : i+8]))
	}
	archsimd.ClearAVXUpperBits()
	if i < n {
		selectScalar(dst, cond, onTrue, onFalse, i)
	}
}

// adamWSIMD is AdamW eight lanes at a time: Mul, Add, Sqrt (VSQRTPS,
// correctly rounded) and Div are one IEEE float32 operation per lane, so
// the lanes equal adamWScalar; the tail goes through it after
// VZEROUPPER.
func adamWSIMD(w, g, m, v []float32, c *AdamWCoef) {
	n := len(w) &^ 7
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	b1, b2, c1, c2 := bcast(c.B1), bcast(c.B2), bcast(c.C1), bcast(c.C2)
	eps, scale, decay := bcast(c.EpsB), bcast(c.StepScale), bcast(c.Decay)
	ld := func(s []float32) vf { return archsimd.LoadFloat32x8((*[8]float32)(s)) }
	for i := 0; i < n; i += 8 {
		gi := ld(g[i : i+8])
		nm := ld(m[i : i+8]).Mul(b1).Add(gi.Mul(c1))
		nv := ld(v[i : i+8]).Mul(b2).Add(gi.Mul(gi).Mul(c2))
		step := nm.Div(nv.Sqrt().Add(eps)).Mul(scale)
		wi := ld(w[i : i+8])
		if c.Decay != 0 {
			wi = wi.Mul(decay)
		}
		wi.Sub(step).Store((*[8]float32)(w[i : i+8]))
		nm.Store((*[8]float32)(m[i : i+8]))
		nv.Store((*[8]float32)(v[i : i+8]))
	}
	archsimd.ClearAVXUpperBits()
	if n < len(w) {
		adamWScalar(w[n:], g[n:], m[n:], v[n:], c)
	}
}

func softmaxGradSIMD(g, p []float32, d, s float32) {
	n := len(g)
	p = p[:n]
	dv, sv := archsimd.BroadcastFloat32x8(d), archsimd.BroadcastFloat32x8(s)
	for i := 0; i < n; i += 8 {
		archsimd.LoadFloat32x8SlicePart(g[i:]).Sub(dv).Mul(archsimd.LoadFloat32x8SlicePart(p[i:])).Mul(sv).StoreSlicePart(g[i:])
	}
	archsimd.ClearAVXUpperBits()
}

func geluGradSIMD(dst, x, y, v []float32) {
	a3, b3 := bcast(geluA), bcast(3*geluB)
	one, half, tiny := bcast(1), bcast(0.5), bcast(geluGradTiny)
	absMask := archsimd.BroadcastInt32x8(0x7fffffff)
	grad := func(xv, yv, vv vf) vf {
		s := yv.Div(xv).Merge(half, xv.AsInt32x8().And(absMask).AsFloat32x8().Greater(tiny))
		w := xv.Mul(xv.Mul(xv).MulAdd(b3, a3))
		return vv.Mul(s.Mul(w.MulAdd(one.Sub(s), one)))
	}
	n := len(dst)
	x, y, v = x[:n], y[:n], v[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		grad(archsimd.LoadFloat32x8((*[8]float32)(x[i:i+8])), archsimd.LoadFloat32x8((*[8]float32)(y[i:i+8])),
			archsimd.LoadFloat32x8((*[8]float32)(v[i:i+8]))).Store((*[8]float32)(dst[i : i+8]))
	}
	if i < n {
		grad(archsimd.LoadFloat32x8SlicePart(x[i:]), archsimd.LoadFloat32x8SlicePart(y[i:]), archsimd.LoadFloat32x8SlicePart(v[i:])).StoreSlicePart(dst[i:])
	}
	archsimd.ClearAVXUpperBits()
}

// lane0 is a vector's first lane (hsum and hmax leave their result in
// every lane).
func lane0(v vf) float32 { return v.GetLo().GetElem(0) }

// layerNormGradSIMD normalises with the forward's statistics
// (layerNormStats): x̂ = (x − m0 − corr)·inv.
func layerNormGradSIMD(dx, x, gamma, dy []float32, eps float32) {
	n := len(x)
	full := n &^ 7
	m0, corr, inv := layerNormStats(x, eps)
	ld := func(s []float32, i int) vf { return archsimd.LoadFloat32x8((*[8]float32)(s[i : i+8])) }
	xhat := func(i int) vf { return ld(x, i).Sub(m0).Sub(corr).Mul(inv) }
	g := func(i int) vf {
		if gamma == nil {
			return ld(dy, i)
		}
		return ld(dy, i).Mul(ld(gamma, i))
	}
	gs := func(i int) float32 {
		if gamma == nil {
			return dy[i]
		}
		return dy[i] * gamma[i]
	}
	mean, cr, r := lane0(m0), lane0(corr), lane0(inv)
	xhs := func(i int) float32 { return (x[i] - mean - cr) * r }
	var a1, a2 vf
	for i := 0; i < full; i += 8 {
		gi := g(i)
		a1 = a1.Add(gi)
		a2 = gi.MulAdd(xhat(i), a2)
	}
	m1, m2 := lane0(hsum(a1)), lane0(hsum(a2))
	for i := full; i < n; i++ {
		m1 += gs(i)
		m2 += gs(i) * xhs(i)
	}
	m1, m2 = m1/float32(n), m2/float32(n)
	m1v, m2v := bcast(m1), bcast(m2)
	for i := 0; i < full; i += 8 {
		g(i).Sub(m1v).Sub(xhat(i).Mul(m2v)).Mul(inv).Store((*[8]float32)(dx[i : i+8]))
	}
	for i := full; i < n; i++ {
		dx[i] = (gs(i) - m1 - xhs(i)*m2) * r
	}
	archsimd.ClearAVXUpperBits()
}

func layerNormParamGradSIMD(dgamma, dbeta, x, dy []float32, eps float32) {
	n := len(x)
	full := n &^ 7
	m0, corr, inv := layerNormStats(x, eps)
	ld := func(s []float32, i int) vf { return archsimd.LoadFloat32x8((*[8]float32)(s[i : i+8])) }
	for i := 0; i < full; i += 8 {
		d := ld(dy, i)
		d.MulAdd(ld(x, i).Sub(m0).Sub(corr).Mul(inv), ld(dgamma, i)).Store((*[8]float32)(dgamma[i : i+8]))
		ld(dbeta, i).Add(d).Store((*[8]float32)(dbeta[i : i+8]))
	}
	mean, cr, r := lane0(m0), lane0(corr), lane0(inv)
	for i := full; i < n; i++ {
		dgamma[i] += dy[i] * ((x[i] - mean - cr) * r)
		dbeta[i] += dy[i]
	}
	archsimd.ClearAVXUpperBits()
}

// maxSIMD is the largest entry of a non-empty row (NaNs are not ordered:
// whichever the comparisons keep).
func maxSIMD(x []float32) float32 {
	n := len(x)
	m := x[0]
	i := 0
	if n >= 8 {
		acc := archsimd.LoadFloat32x8((*[8]float32)(x[0:8]))
		for i = 8; i+8 <= n; i += 8 {
			acc = acc.Max(archsimd.LoadFloat32x8((*[8]float32)(x[i : i+8])))
		}
		m = lane0(hmax(acc))
		archsimd.ClearAVXUpperBits()
	}
	for _, v := range x[i:] {
		m = max(m, v)
	}
	return m
}

func addConstSIMD(dst, x []float32, c float32) {
	n := len(dst)
	x = x[:n]
	cv := bcast(c)
	for i := 0; i < n; i += 8 {
		archsimd.LoadFloat32x8SlicePart(x[i:]).Add(cv).StoreSlicePart(dst[i:])
	}
	archsimd.ClearAVXUpperBits()
}

func sumSIMD(x []float32) float32 {
	n := len(x)
	var s0, s1 vf
	i := 0
	for ; i+16 <= n; i += 16 {
		s0 = s0.Add(archsimd.LoadFloat32x8((*[8]float32)(x[i : i+8])))
		s1 = s1.Add(archsimd.LoadFloat32x8((*[8]float32)(x[i+8 : i+16])))
	}
	s := lane0(hsum(s0.Add(s1)))
	for ; i < n; i++ {
		s += x[i]
	}
	archsimd.ClearAVXUpperBits()
	return s
}
