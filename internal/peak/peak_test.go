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
