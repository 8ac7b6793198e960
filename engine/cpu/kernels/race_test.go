//go:build !nokernels

package kernels

import (
	"testing"
	"unsafe"

	"github.com/gomlx/compute"
)

// TestRaceDot runs the timing race an AVX-512 machine uses to choose
// between compute's matmul and glia's, here against whatever stock kernel
// this machine has.
func TestRaceDot(t *testing.T) {
	be, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	if raceBuild {
		t.Skip("compute's matmul fails checkptr in race builds")
	}
	if r := Install(be); stockDot == nil {
		t.Skipf("glia's matmul not installed: %s", r)
	}
	ours, theirs := raceDot(stockDot, (*eface)(unsafe.Pointer(&be)).data)
	if ours <= 0 || theirs <= 0 {
		t.Fatalf("implausible times %v %v", ours, theirs)
	}
	t.Logf("256x512x512: glia %v, stock %v (%.2fx)", ours, theirs, float64(theirs)/float64(ours))
}
