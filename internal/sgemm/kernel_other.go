//go:build !amd64

package sgemm

const hasKernel = false

func microKernel(k int, a, b, c []float32, ldc int, acc bool) { kernelGo(k, a, b, c, ldc, acc) }
