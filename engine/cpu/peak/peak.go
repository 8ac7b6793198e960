// Package peak measures the machine's peak fp32 FLOP/s, so performance is
// reported as a fraction of what this CPU can do rather than of a number
// from a datasheet.
package peak

import (
	"runtime"
	"slices"
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

// Sample is one timed run next to the peak measured just before it.
type Sample struct {
	Seconds float64
	Peak    Result
}

// Ratio is the fraction of its own peak a run of flop operations reached.
func (s Sample) Ratio(flop float64) float64 { return flop / s.Seconds / s.Peak.FLOPS }

// Interleaved times n runs of fn, measuring the peak for d right before
// each (d = 0: no peak, as on a GPU). Shared machines change clock speed
// from second to second; a run compared with the peak of its own moment
// gives a ratio that a single peak measurement at the start would not.
func Interleaved(n int, d time.Duration, fn func() error) ([]Sample, error) {
	out := make([]Sample, 0, n)
	for range n {
		var pk Result
		if d > 0 {
			pk = Measure(d)
		}
		t0 := time.Now()
		if err := fn(); err != nil {
			return out, err
		}
		out = append(out, Sample{Seconds: time.Since(t0).Seconds(), Peak: pk})
	}
	return out, nil
}

// Median of x (0 for none).
func Median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(x))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
