package kernels_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/glia-dev/glia/engine/cpu/kernels"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	_ "github.com/gomlx/gomlx/backends/default"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestMain asks for glia's matmul whatever the CPU's FMA width says: these
// tests check glia's kernel, which a CPU with full-width AVX-512 would
// otherwise leave to compute's (peak.TestWideFMA checks the width test).
// Child processes of TestStockSwitch keep the value they are given.
func TestMain(m *testing.M) {
	if _, set := os.LookupEnv("GLIA_KERNELS"); !set {
		os.Setenv("GLIA_KERNELS", "glia")
	}
	os.Exit(m.Run())
}

func TestInstall(t *testing.T) {
	be, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	r := kernels.Install(be)
	t.Logf("kernels: %s", r)
	if len(r.Installed) == 0 {
		t.Skipf("nothing installed: %s", r.Skipped)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rnd := func(dims ...int) (*tensors.Tensor, []float32) {
		s := shapes.Make(dtypes.Float32, dims...)
		v := make([]float32, s.Size())
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(v, dims...), v
	}
	for _, c := range []struct {
		name       string
		b, m, n, k int
		transB     bool
	}{
		{"rows", 1, 100, 70, 50, false},
		{"transposed", 1, 100, 70, 50, true},
		{"batched", 5, 33, 40, 17, false},
		{"few rows", 1, 3, 70, 50, false},
		{"few rows transposed", 2, 3, 70, 50, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			x, xv := rnd(c.b, c.m, c.k)
			var w *tensors.Tensor
			var wv []float32
			if c.transB {
				w, wv = rnd(c.b, c.n, c.k)
			} else {
				w, wv = rnd(c.b, c.k, c.n)
			}
			before := kernels.Handled(compute.OpTypeDotGeneral)
			e := MustNewExec(be, func(x, w *Node) *Node {
				if c.transB {
					return DotGeneral(x, []int{2}, []int{0}, w, []int{2}, []int{0})
				}
				return DotGeneral(x, []int{2}, []int{0}, w, []int{1}, []int{0})
			})
			got := e.MustExec(x, w)[0].Value().([][][]float32)
			var maxDiff float64
			for b := range c.b {
				for i := range c.m {
					for j := range c.n {
						var s float64
						for p := range c.k {
							wij := wv[b*c.k*c.n+p*c.n+j]
							if c.transB {
								wij = wv[b*c.k*c.n+j*c.k+p]
							}
							s += float64(xv[b*c.m*c.k+i*c.k+p]) * float64(wij)
						}
						maxDiff = max(maxDiff, math.Abs(s-float64(got[b][i][j])))
					}
				}
			}
			t.Logf("max |diff| vs float64: %.3g", maxDiff)
			if kernels.Handled(compute.OpTypeDotGeneral) == before {
				t.Errorf("glia's matmul did not run")
			}
			if maxDiff > 1e-4 {
				t.Errorf("max |diff| %.3g", maxDiff)
			}
		})
	}
}

func TestComputeVersionPinned(t *testing.T) {
	mod, err := os.ReadFile("../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if want := "github.com/gomlx/compute " + kernels.ComputeVersion; !strings.Contains(string(mod), want) {
		t.Fatalf("go.mod does not pin %q: the kernels reach into that version's internals", want)
	}
}

// TestStockSwitch: GLIA_KERNELS=stock leaves the backend untouched, but
// for glia's matmul in race builds (compute's fails checkptr); built with
// -tags nokernels nothing is installed either way. Run in a child process,
// since Install acts once per process.
func TestStockSwitch(t *testing.T) {
	if os.Getenv("GLIA_KERNELS") == "stock" {
		be, err := compute.NewWithConfig("go")
		if err != nil {
			t.Fatal(err)
		}
		r := kernels.Install(be)
		fmt.Printf("REPORT: %s\nINSTALLED: %d, ran %d\n", r, len(r.Installed), kernels.Handled(compute.OpTypeDotGeneral))
		return
	}
	want := "REPORT: stock GoMLX kernels (GLIA_KERNELS=stock)\nINSTALLED: 0, ran 0"
	switch {
	case kernels.NotLinked() != "":
		want = "REPORT: stock GoMLX kernels (" + kernels.NotLinked() + ")\nINSTALLED: 0, ran 0"
	case kernels.RaceBuild():
		want = " (GLIA_KERNELS=stock but a race build keeps glia's matmul: compute's fails checkptr)\nINSTALLED: 1, ran 0"
	}
	inChild(t, "TestStockSwitch", "GLIA_KERNELS=stock", want)
}

// inChild runs test alone in a child process with env added and checks its
// output contains want.
func inChild(t *testing.T, test, env, want string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		t.Fatalf("child: %v\n%s\nwant %q", err, out, want)
	}
}

// TestRequired: a program that did not ask for glia's kernels gets none,
// but for glia's matmul in race builds. Run in a child process, since
// Install acts once per process.
func TestRequired(t *testing.T) {
	if os.Getenv("GLIA_KERNELS_REQUIRED") != "" {
		be, err := compute.NewWithConfig("go")
		if err != nil {
			t.Fatal(err)
		}
		r := kernels.InstallRequired(be)
		fmt.Printf("INSTALLED: %d, matmul %v\n", len(r.Installed), r.Matmul)
		return
	}
	want := "INSTALLED: 0, matmul false"
	if kernels.RaceBuild() && kernels.NotLinked() == "" {
		want = "INSTALLED: 1, matmul true"
	}
	inChild(t, "TestRequired", "GLIA_KERNELS_REQUIRED=1", want)
}
