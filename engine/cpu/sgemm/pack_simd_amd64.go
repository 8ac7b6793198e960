//go:build goexperiment.simd && amd64 && !race

package sgemm

import "simd/archsimd"

type vf = archsimd.Float32x8

var packSIMD = archsimd.X86.AVX2()

// packRows6 writes columns [0, n) of six rows into d as n groups of six
// (d[p*6+r] = rows[r][p]) with 8x8 AVX transposes whose two missing rows
// are zero, and returns n; the caller packs columns [n, kcb). Each column
// is stored as a full vector, its two spare lanes landing on the next
// column's first two slots, which that column's store then overwrites: so
// n stops at least one column short of kcb and nothing past d[:kcb*6] is
// touched. It was 6% of a training step's samples as scalar code.
func packRows6(d, r0, r1, r2, r3, r4, r5 []float32, kcb int) int {
	if !packSIMD {
		return 0
	}
	n := 0
	for ; n+8 < kcb; n += 8 {
		transpose6x8(d[n*mr:(n+8)*mr+2], r0[n:n+8], r1[n:n+8], r2[n:n+8], r3[n:n+8], r4[n:n+8], r5[n:n+8])
	}
	archsimd.ClearAVXUpperBits()
	return n
}

// transpose6x8 is vecmath's 8x8 transpose (two rounds of VSHUFPS within
// 128-bit lanes, then VPERM2F128) with rows 6 and 7 zero, stored at a
// stride of six.
func transpose6x8(d, s0, s1, s2, s3, s4, s5 []float32) {
	ld := func(s []float32) vf { return archsimd.LoadFloat32x8((*[8]float32)(s)) }
	r0, r1, r2, r3, r4, r5 := ld(s0), ld(s1), ld(s2), ld(s3), ld(s4), ld(s5)
	var zero vf
	t0 := r0.SelectFromPairGrouped(0, 1, 4, 5, r1) // a0 a1 b0 b1 | a4 a5 b4 b5
	t1 := r0.SelectFromPairGrouped(2, 3, 6, 7, r1) // a2 a3 b2 b3 | a6 a7 b6 b7
	t2 := r2.SelectFromPairGrouped(0, 1, 4, 5, r3)
	t3 := r2.SelectFromPairGrouped(2, 3, 6, 7, r3)
	t4 := r4.SelectFromPairGrouped(0, 1, 4, 5, r5)
	t5 := r4.SelectFromPairGrouped(2, 3, 6, 7, r5)
	u0 := t0.SelectFromPairGrouped(0, 2, 4, 6, t2) // a0 b0 c0 d0 | a4 b4 c4 d4
	u1 := t0.SelectFromPairGrouped(1, 3, 5, 7, t2) // a1 b1 c1 d1 | a5 ...
	u2 := t1.SelectFromPairGrouped(0, 2, 4, 6, t3)
	u3 := t1.SelectFromPairGrouped(1, 3, 5, 7, t3)
	u4 := t4.SelectFromPairGrouped(0, 2, 4, 6, zero) // e0 f0 0 0 | e4 f4 0 0
	u5 := t4.SelectFromPairGrouped(1, 3, 5, 7, zero)
	u6 := t5.SelectFromPairGrouped(0, 2, 4, 6, zero)
	u7 := t5.SelectFromPairGrouped(1, 3, 5, 7, zero)
	st := func(i int, v vf) { v.Store((*[8]float32)(d[i*mr : i*mr+8])) }
	// In column order: each store's spare lanes are overwritten by the next.
	st(0, u0.Select128FromPair(0, 2, u4))
	st(1, u1.Select128FromPair(0, 2, u5))
	st(2, u2.Select128FromPair(0, 2, u6))
	st(3, u3.Select128FromPair(0, 2, u7))
	st(4, u0.Select128FromPair(1, 3, u4))
	st(5, u1.Select128FromPair(1, 3, u5))
	st(6, u2.Select128FromPair(1, 3, u6))
	st(7, u3.Select128FromPair(1, 3, u7))
}

// packRows16 copies kcb rows of 16 floats, row p from b[p*n:], into d[p*16:]
// with two vector loads and stores per row, and reports whether it did:
// copy's call per 64 bytes made packing [k, n] operands (a weight
// gradient's incoming gradient) cost as much as transposing them.
func packRows16(d, b []float32, n, kcb int) bool {
	if !packSIMD || len(b) < (kcb-1)*n+nr || len(d) < kcb*nr {
		return false
	}
	for p := range kcb {
		s, t := b[p*n:p*n+nr], d[p*nr:p*nr+nr]
		archsimd.LoadFloat32x8((*[8]float32)(s[:8])).Store((*[8]float32)(t[:8]))
		archsimd.LoadFloat32x8((*[8]float32)(s[8:])).Store((*[8]float32)(t[8:]))
	}
	archsimd.ClearAVXUpperBits()
	return true
}
