package engine_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/gomlx/compute/dtypes"
)

// TestHFParity runs every fixture saved by transformers and compares logits,
// residuals, attention patterns, MLP neurons, their gradients and greedy ids
// (engine.Parity, which glia parity also runs on a GPU).
func TestHFParity(t *testing.T) {
	dirs, _ := filepath.Glob("../testdata/hf-tiny/*")
	if len(dirs) == 0 {
		t.Fatal("no fixtures in testdata/hf-tiny")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r, err := engine.Parity(dir, dtypes.Float32)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range r.Checks {
				switch {
				case c.Err != "":
					t.Errorf("%s: %s", c.What, c.Err)
				case c.Failed():
					t.Errorf("%s: maxdiff %.3g at %d (got %g want %g)", c.What, c.MaxDiff, c.At, c.Got, c.Want)
				default:
					t.Logf("%-28s maxdiff %.2g", c.What, c.MaxDiff)
				}
			}
			if r.GreedyEqual != r.GreedyTotal {
				t.Errorf("greedy ids differ at new token %d of %d", r.GreedyEqual, r.GreedyTotal)
			}
		})
	}
}

// TestMain runs the tests on glia's CPU kernels, as the CLI does
// (chunk_test.go needs their matmul), except in the child process of
// TestCPUKernelsOptIn, which checks a library's default.
func TestMain(m *testing.M) {
	if os.Getenv(libraryDefaultEnv) == "" {
		engine.UseCPUKernels(true)
	}
	os.Exit(m.Run())
}

// Shorthands the other engine tests share.
var maxDiff = engine.MaxDiff

const tolerance = engine.ParityTolerance
