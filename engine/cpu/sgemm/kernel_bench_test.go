package sgemm

import (
	"fmt"
	"testing"
	"time"

	"github.com/glia-dev/glia/engine/cpu/peak"
)

// BenchmarkKernel runs the micro-kernel alone on L1-resident panels: the
// ceiling for MatMul on one core.
func BenchmarkKernel(b *testing.B) {
	pk := peak.Measure(300 * time.Millisecond)
	const k = 256
	a, bp, c := make([]float32, k*mr), make([]float32, k*nr), make([]float32, mr*nr)
	for b.Loop() {
		microKernel(k, a, bp, c, nr, true)
	}
	flops := 2 * float64(mr*nr*k) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(flops/1e9, "GFLOP/s")
	b.ReportMetric(100*flops/(pk.FLOPS/float64(pk.Threads)), "%core-peak")
}

// BenchmarkStridedSmall times MatMulStrided at attention-sized products
// with the plain loops and with the packed kernel, to place tinyProduct.
func BenchmarkStridedSmall(b *testing.B) {
	for _, sz := range [][3]int{{3, 3, 16}, {8, 8, 16}, {16, 16, 16}, {16, 16, 32}, {32, 32, 16}, {32, 32, 64}} {
		m, n, k := sz[0], sz[1], sz[2]
		a, bb, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		p := Strided{M: m, N: n, K: k, Lda: k, Ldb: k, Ldc: n, TransB: true}
		for _, limit := range []int{0, 1 << 30} {
			name := fmt.Sprintf("%dx%dx%d/packed", m, n, k)
			if limit > 0 {
				name = fmt.Sprintf("%dx%dx%d/loops", m, n, k)
			}
			b.Run(name, func(b *testing.B) {
				defer func(v int) { tinyProduct = v }(tinyProduct)
				tinyProduct = limit
				for b.Loop() {
					MatMulStrided(a, bb, c, p)
				}
			})
		}
	}
}
