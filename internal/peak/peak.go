// Package peak measures the machine's peak fp32 FLOP/s, so performance is
// reported as a fraction of what this CPU can do rather than of a number
// from a datasheet.
package peak

import (
	"runtime"
	"sync"
	"time"
)

// Result is one measurement.
type Result struct {
	FLOPS   float64 // floating-point operations per second, all cores
	Threads int
	Kernel  string // which instruction set was measured
}

// Measure runs independent fused multiply-add chains in registers on every
// core for about d and returns the rate. It measures the arithmetic units
// alone (no memory traffic): the ceiling no real kernel can pass.
func Measure(d time.Duration) Result {
	threads := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	flops := make([]float64, threads)
	start := make(chan struct{})
	for i := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var n float64
			t0 := time.Now()
			for time.Since(t0) < d {
				n += fmaBurst(1 << 20)
			}
			flops[i] = n / time.Since(t0).Seconds()
		}()
	}
	close(start)
	wg.Wait()
	var total float64
	for _, f := range flops {
		total += f
	}
	return Result{FLOPS: total, Threads: threads, Kernel: kernelName}
}
