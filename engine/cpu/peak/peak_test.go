package peak

import (
	"testing"
	"time"
)

func TestMeasure(t *testing.T) {
	r := Measure(100 * time.Millisecond)
	if r.FLOPS <= 1e8 || r.Threads < 1 {
		t.Fatalf("implausible peak %+v", r)
	}
	t.Logf("%.1f GFLOP/s on %d threads (%s)", r.FLOPS/1e9, r.Threads, r.Kernel)
}

func TestInterleaved(t *testing.T) {
	calls := 0
	s, err := Interleaved(3, 20*time.Millisecond, func() error { calls++; time.Sleep(time.Millisecond); return nil })
	if err != nil || len(s) != 3 || calls != 3 {
		t.Fatalf("got %d samples, %d calls, %v", len(s), calls, err)
	}
	for _, x := range s {
		if x.Seconds < 1e-3 || x.Peak.FLOPS <= 0 {
			t.Fatalf("implausible sample %+v", x)
		}
	}
	if m := Median([]float64{3, 1, 2}); m != 2 {
		t.Fatalf("median of 3,1,2 = %v", m)
	}
	if m := Median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Fatalf("median of 4,1,2,3 = %v", m)
	}
}

// TestWideFMA: the FMA width the matmul choice follows is one of its two
// regimes (about 1: split; about 2: full width), the same on every call —
// with a second core kept busy, as a loaded machine would — so the choice
// cannot flip between runs.
func TestWideFMA(t *testing.T) {
	first := WideFMA()
	if first == 0 {
		t.Skip("no AVX-512 in this build or on this CPU: nothing to choose")
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // load
		for {
			select {
			case <-stop:
				return
			default:
				fmaBurst(1 << 12)
			}
		}
	}()
	for i := range 5 {
		w := WideFMA()
		if w < 0.6 || w > 2.4 || (w > 1.3 && w < 1.7) {
			t.Fatalf("call %d: 512-bit FMAs at %.2fx the 256-bit rate: neither split (~1) nor full width (~2)", i, w)
		}
		if (w >= 1.5) != (first >= 1.5) {
			t.Fatalf("call %d: %.2fx, first call %.2fx: the choice would flip", i, w, first)
		}
	}
	t.Logf("512-bit FMAs at %.2fx the 256-bit rate", first)
}
