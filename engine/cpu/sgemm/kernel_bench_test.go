package sgemm

import (
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
