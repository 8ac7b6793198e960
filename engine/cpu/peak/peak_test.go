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
