package train

import (
	"os"
	"testing"
)

// TestMain runs the CPU backend one op at a time and with glia's matmul
// whatever the AVX-512 start-up race says, as glia train does: with
// parallel ops, the backward pass's stock-kernel matmuls can deadlock.
func TestMain(m *testing.M) {
	if os.Getenv("GOMLX_BACKEND") == "" {
		os.Setenv("GOMLX_BACKEND", "go:ops_sequential")
	}
	if os.Getenv("GLIA_KERNELS") == "" {
		os.Setenv("GLIA_KERNELS", "glia")
	}
	os.Exit(m.Run())
}
