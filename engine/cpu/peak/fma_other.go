//go:build !amd64

package peak

const kernelName = scalarKernelName

func fmaBurst(iters int) float64 { return scalarBurst(iters) }

// WideFMA is 0: 512-bit FMAs are not measured in this build (see fma_simd.go).
func WideFMA() float64 { return 0 }
