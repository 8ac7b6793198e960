//go:build goexperiment.simd && amd64

package peak

import (
	"math"
	"simd/archsimd"
	"sync/atomic"
	"time"
)

var kernelName = func() string {
	if archsimd.X86.AVX512() {
		return "avx512 fma"
	}
	return "avx2 fma"
}()

// sink keeps the FMA chains live; Measure runs bursts on every core at
// once, so it is stored atomically.
var sink atomic.Uint32

// fmaBurst runs iters rounds of 12 independent vector FMAs (enough chains
// to hide FMA latency on two ports) and returns the FLOPs done.
func fmaBurst(iters int) float64 {
	if archsimd.X86.AVX512() {
		return fma16(iters)
	}
	return fma8(iters)
}

func fma8(iters int) float64 {
	m, c := archsimd.BroadcastFloat32x8(0.999999), archsimd.BroadcastFloat32x8(1e-7)
	a0, a1, a2, a3 := archsimd.BroadcastFloat32x8(1), archsimd.BroadcastFloat32x8(2), archsimd.BroadcastFloat32x8(3), archsimd.BroadcastFloat32x8(4)
	a4, a5, a6, a7 := archsimd.BroadcastFloat32x8(5), archsimd.BroadcastFloat32x8(6), archsimd.BroadcastFloat32x8(7), archsimd.BroadcastFloat32x8(8)
	a8, a9, a10, a11 := archsimd.BroadcastFloat32x8(9), archsimd.BroadcastFloat32x8(10), archsimd.BroadcastFloat32x8(11), archsimd.BroadcastFloat32x8(12)
	for range iters {
		a0, a1, a2, a3 = a0.MulAdd(m, c), a1.MulAdd(m, c), a2.MulAdd(m, c), a3.MulAdd(m, c)
		a4, a5, a6, a7 = a4.MulAdd(m, c), a5.MulAdd(m, c), a6.MulAdd(m, c), a7.MulAdd(m, c)
		a8, a9, a10, a11 = a8.MulAdd(m, c), a9.MulAdd(m, c), a10.MulAdd(m, c), a11.MulAdd(m, c)
	}
	s := a0.Add(a1).Add(a2).Add(a3).Add(a4).Add(a5).Add(a6).Add(a7).Add(a8).Add(a9).Add(a10).Add(a11)
	var out [8]float32
	s.Store(&out)
	sink.Store(math.Float32bits(out[0]))
	return float64(iters) * 12 * 8 * 2
}

func fma16(iters int) float64 {
	m, c := archsimd.BroadcastFloat32x16(0.999999), archsimd.BroadcastFloat32x16(1e-7)
	a0, a1, a2, a3 := archsimd.BroadcastFloat32x16(1), archsimd.BroadcastFloat32x16(2), archsimd.BroadcastFloat32x16(3), archsimd.BroadcastFloat32x16(4)
	a4, a5, a6, a7 := archsimd.BroadcastFloat32x16(5), archsimd.BroadcastFloat32x16(6), archsimd.BroadcastFloat32x16(7), archsimd.BroadcastFloat32x16(8)
	a8, a9, a10, a11 := archsimd.BroadcastFloat32x16(9), archsimd.BroadcastFloat32x16(10), archsimd.BroadcastFloat32x16(11), archsimd.BroadcastFloat32x16(12)
	for range iters {
		a0, a1, a2, a3 = a0.MulAdd(m, c), a1.MulAdd(m, c), a2.MulAdd(m, c), a3.MulAdd(m, c)
		a4, a5, a6, a7 = a4.MulAdd(m, c), a5.MulAdd(m, c), a6.MulAdd(m, c), a7.MulAdd(m, c)
		a8, a9, a10, a11 = a8.MulAdd(m, c), a9.MulAdd(m, c), a10.MulAdd(m, c), a11.MulAdd(m, c)
	}
	s := a0.Add(a1).Add(a2).Add(a3).Add(a4).Add(a5).Add(a6).Add(a7).Add(a8).Add(a9).Add(a10).Add(a11)
	var out [16]float32
	s.Store(&out)
	sink.Store(math.Float32bits(out[0]))
	return float64(iters) * 12 * 16 * 2
}

// WideFMA is how many times one core's 256-bit FMA rate its 512-bit FMAs
// reach: about 2 where AVX-512 units are full width (most Intel server
// cores), about 1 where a 512-bit op is split over the 256-bit pipes (AMD
// Zen 4; Intel cores with one 512-bit FMA unit); 0 without AVX-512. It is
// the median of fifteen short alternating bursts of each width, so another
// process that takes the core for some of them does not move it, and its
// two possible answers are far apart.
func WideFMA() float64 {
	if !archsimd.X86.AVX512() {
		return 0
	}
	const iters = 1 << 15 // ~0.1 ms a burst
	rate := func(f func(int) float64) float64 {
		t0 := time.Now()
		n := f(iters)
		return n / max(time.Since(t0).Seconds(), 1e-9)
	}
	rate(fma16) // warm the 512-bit units up (some cores power them on demand)
	ratios := make([]float64, 15)
	for i := range ratios {
		ratios[i] = rate(fma16) / rate(fma8)
	}
	return Median(ratios)
}
