//go:build !nokernels && goexperiment.simd && amd64 && !race

package kernels

import "simd/archsimd"

// The broadcasting add, sub and div rows and the sqrt and neg kernels were
// scalar Go loops: 9% of a training step's samples. One IEEE single-
// precision add, sub, div or square root gives the same float32 in a
// vector lane as in a scalar register (and float64 √ rounded to float32 is
// the correctly rounded float32 √), so these stay bit-identical to stock.

type f32x8 = archsimd.Float32x8

var rowSIMD = archsimd.X86.AVX2()

func load8(s []float32) f32x8     { return archsimd.LoadFloat32x8((*[8]float32)(s)) }
func store8(v f32x8, s []float32) { v.Store((*[8]float32)(s)) }

func vecOp(op rowOp, x, y f32x8) f32x8 {
	switch op {
	case opAdd:
		return x.Add(y)
	case opSub:
		return x.Sub(y)
	default:
		return x.Div(y)
	}
}

// rowVV sets dst[i] = a[i] op b[i] and reports whether it ran.
func rowVV(op rowOp, dst, a, b []float32) bool {
	if !rowSIMD {
		return false
	}
	n := len(dst)
	a, b = a[:n], b[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		store8(vecOp(op, load8(a[i:i+8]), load8(b[i:i+8])), dst[i:i+8])
	}
	if i < n {
		vecOp(op, archsimd.LoadFloat32x8SlicePart(a[i:]), archsimd.LoadFloat32x8SlicePart(b[i:])).StoreSlicePart(dst[i:])
	}
	archsimd.ClearAVXUpperBits()
	return true
}

// rowVS sets dst[i] = a[i] op c, or c op a[i] when cFirst.
func rowVS(op rowOp, dst, a []float32, c float32, cFirst bool) bool {
	if !rowSIMD {
		return false
	}
	n := len(dst)
	a = a[:n]
	y := archsimd.BroadcastFloat32x8(c)
	apply := func(x f32x8) f32x8 {
		if cFirst {
			return vecOp(op, y, x)
		}
		return vecOp(op, x, y)
	}
	i := 0
	for ; i+8 <= n; i += 8 {
		store8(apply(load8(a[i:i+8])), dst[i:i+8])
	}
	if i < n {
		apply(archsimd.LoadFloat32x8SlicePart(a[i:])).StoreSlicePart(dst[i:])
	}
	archsimd.ClearAVXUpperBits()
	return true
}

// rowUnary sets dst[i] = √src[i] (opSqrt) or -src[i] (opNeg).
func rowUnary(op rowOp, dst, src []float32) bool {
	if !rowSIMD || (op != opSqrt && op != opNeg) {
		return false
	}
	n := len(dst)
	src = src[:n]
	sign := archsimd.BroadcastInt32x8(-1 << 31)
	apply := func(x f32x8) f32x8 {
		if op == opSqrt {
			return x.Sqrt()
		}
		return x.AsInt32x8().Xor(sign).AsFloat32x8()
	}
	i := 0
	for ; i+8 <= n; i += 8 {
		store8(apply(load8(src[i:i+8])), dst[i:i+8])
	}
	if i < n {
		apply(archsimd.LoadFloat32x8SlicePart(src[i:])).StoreSlicePart(dst[i:])
	}
	archsimd.ClearAVXUpperBits()
	return true
}
