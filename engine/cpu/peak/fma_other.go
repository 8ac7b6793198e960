//go:build !amd64

package peak

const kernelName = scalarKernelName

func fmaBurst(iters int) float64 { return scalarBurst(iters) }
