package peak

import (
	"math"
	"sync/atomic"
)

// Where no vector FMA can be issued, the scalar FMA rate is measured: a
// lower bound on the real peak, labelled as such.
const scalarKernelName = "scalar fma (lower bound: build with GOEXPERIMENT=simd on amd64)"

// scalarSink keeps the chains live; bursts run on every core at once.
var scalarSink atomic.Uint64

func scalarBurst(iters int) float64 {
	a0, a1, a2, a3, a4, a5, a6, a7 := 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0
	for range iters {
		a0, a1, a2, a3 = math.FMA(a0, 0.999999, 1e-7), math.FMA(a1, 0.999999, 1e-7), math.FMA(a2, 0.999999, 1e-7), math.FMA(a3, 0.999999, 1e-7)
		a4, a5, a6, a7 = math.FMA(a4, 0.999999, 1e-7), math.FMA(a5, 0.999999, 1e-7), math.FMA(a6, 0.999999, 1e-7), math.FMA(a7, 0.999999, 1e-7)
	}
	scalarSink.Store(math.Float64bits(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7))
	return float64(iters) * 8 * 2
}
