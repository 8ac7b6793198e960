package train

import (
	"fmt"
	"os"
	"testing"

	"github.com/glia-dev/glia/engine"
)

// TestMain runs the CPU backend as glia train does: glia's kernels (its
// matmul even on a CPU with full-width AVX-512), and a graph's
// independent ops side by side (engine.ParallelOps) unless
// $GOMLX_BACKEND says otherwise.
func TestMain(m *testing.M) {
	if os.Getenv("GLIA_KERNELS") == "" {
		os.Setenv("GLIA_KERNELS", "glia")
	}
	_ = engine.UseCPUKernels(true)
	be, err := engine.Backend()
	if err == nil && os.Getenv("GOMLX_BACKEND") == "" {
		err = engine.ParallelOps(be)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
