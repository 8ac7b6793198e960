package train

import (
	"os"
	"testing"
)

// TestMain runs the CPU backend one op at a time, as glia train does: with
// parallel ops, the backward pass's stock-kernel matmuls can deadlock.
func TestMain(m *testing.M) {
	if os.Getenv("GOMLX_BACKEND") == "" {
		os.Setenv("GOMLX_BACKEND", "go:ops_sequential")
	}
	os.Exit(m.Run())
}
