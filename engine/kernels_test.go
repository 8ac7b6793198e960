package engine_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/engine/cpu/kernels"
	"github.com/glia-dev/glia/internal/testenv"
	"github.com/gomlx/compute"
)

// libraryDefaultEnv makes TestMain leave the kernels at a library's
// default.
const libraryDefaultEnv = "GLIA_TEST_LIBRARY_DEFAULT"

// TestCPUKernelsOptIn: a program that does not call UseCPUKernels runs
// none of glia's element-wise kernels (a race build still gets glia's
// matmul alone); one that does gets them, and cannot take them back once
// the backend exists. The default is checked in a child process, since the
// backend is made once per process.
func TestCPUKernelsOptIn(t *testing.T) {
	// run does a forward and says whether glia's element-wise kernels are
	// installed and ran, and whether its matmul is.
	run := func() (elementwise bool, ran int64, matmul bool) {
		m, err := engine.LoadDefault()
		if err != nil {
			t.Fatal(err)
		}
		before := kernels.Handled(compute.OpTypeAdd)
		if _, err := m.Run(engine.Request{IDs: [][]int32{{1, 2, 3, 4}}}); err != nil {
			t.Fatal(err)
		}
		r := engine.CPUKernels()
		return strings.Contains(r.String(), "gelu"), kernels.Handled(compute.OpTypeAdd) - before, r.Matmul
	}
	if os.Getenv(libraryDefaultEnv) != "" {
		e, ran, mm := run()
		fmt.Printf("CHILD: element-wise %v, ran %d; matmul %v (%s)\n", e, ran, mm, engine.CPUKernels())
		return
	}
	out := testenv.Child(t, "TestCPUKernelsOptIn", libraryDefaultEnv+"=1")
	if !strings.Contains(out, "CHILD: element-wise false, ran 0;") {
		t.Fatalf("library default:\n%s", out)
	}
	t.Logf("library default: %s", out[strings.Index(out, "CHILD:"):])
	r := engine.CPUKernels()
	if strings.HasPrefix(r.Skipped, "off:") {
		t.Errorf("UseCPUKernels(true) before the backend: %s", r)
	}
	if e, ran, _ := run(); e && ran == 0 {
		t.Errorf("glia's add is installed but did not run (%s)", r)
	}
	if err := engine.UseCPUKernels(false); !errors.Is(err, engine.ErrBackendStarted) {
		t.Errorf("UseCPUKernels(false) after the backend exists: %v, want ErrBackendStarted", err)
	}
	if err := engine.UseCPUKernels(true); err != nil {
		t.Errorf("UseCPUKernels(true) again: %v", err)
	}
}
