package sgemm

import "golang.org/x/sys/cpu"

//go:generate go run gen_kernel.go

// kernel6x16 computes the 6x16 tile C += A·B (acc) or C = A·B (!acc) from
// packed micro-panels: a holds k columns of 6 rows, b k rows of 16 columns.
//
//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int, acc bool)

// hasKernel reports whether this CPU runs the assembly micro-kernel.
var hasKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

func microKernel(k int, a, b, c []float32, ldc int, acc bool) {
	if useAsm {
		kernel6x16(k, &a[0], &b[0], &c[0], ldc, acc)
		return
	}
	kernelGo(k, a, b, c, ldc, acc)
}

//go:noescape
func axpy(n int, alpha float32, x, y *float32)

//go:noescape
func dot(n int, x, y *float32) float32

// axpyTo sets y += alpha·x.
func axpyTo(alpha float32, x, y []float32) {
	n := len(y)
	x = x[:n]
	v := n &^ 7
	if useAsm && v > 0 {
		axpy(v, alpha, &x[0], &y[0])
	} else {
		v = 0
	}
	for i := v; i < n; i++ {
		y[i] += alpha * x[i]
	}
}

// dotOf returns Σ x·y.
func dotOf(x, y []float32) float32 {
	n := len(x)
	y = y[:n]
	v := n &^ 7
	var s float32
	if useAsm && v > 0 {
		s = dot(v, &x[0], &y[0])
	} else {
		v = 0
	}
	for i := v; i < n; i++ {
		s += x[i] * y[i]
	}
	return s
}
