//go:build !amd64

package sgemm

const hasKernel = false

func microKernel(k int, a, b, c []float32, ldc int, acc bool) { kernelGo(k, a, b, c, ldc, acc) }

func axpyTo(alpha float32, x, y []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += alpha * x[i]
	}
}

func dotOf(x, y []float32) float32 {
	y = y[:len(x)]
	var s float32
	for i := range x {
		s += x[i] * y[i]
	}
	return s
}
