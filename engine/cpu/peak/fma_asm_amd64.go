//go:build amd64 && !goexperiment.simd

package peak

import "golang.org/x/sys/cpu"

// Without GOEXPERIMENT=simd, Go code cannot issue vector FMAs, but
// assembly can: glia's matmul runs in assembly either way, so the peak is
// measured the same way. AVX-512 machines are measured at their AVX2 rate
// here (a lower bound), at full width with GOEXPERIMENT=simd.

//go:noescape
func fmaAVX2(iters int, mc *[2]float32)

var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

var kernelName = func() string {
	if hasAVX2 {
		return "avx2 fma (assembly)"
	}
	return scalarKernelName
}()

func fmaBurst(iters int) float64 {
	if !hasAVX2 {
		return scalarBurst(iters)
	}
	mc := [2]float32{0.999999, 1e-7}
	fmaAVX2(iters, &mc)
	return float64(iters) * 12 * 8 * 2
}

// WideFMA is 0: 512-bit FMAs are not measured in this build (see fma_simd.go).
func WideFMA() float64 { return 0 }
