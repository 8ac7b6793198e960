package kernels_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/glia-dev/glia/engine/cpu/kernels"
	"github.com/glia-dev/glia/internal/testenv"
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
	if out := testenv.Child(t, test, env); !strings.Contains(out, want) {
		t.Fatalf("child:\n%s\nwant %q", out, want)
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

// TestDotGeneralLayouts runs the products glia's DotGeneral builder takes
// as they lie (contracting axes leading on the left, several contracting
// axes) and some it leaves to compute's, against a float64 reference.
func TestDotGeneralLayouts(t *testing.T) {
	be, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	if r := kernels.Install(be); !r.Matmul {
		t.Skipf("glia's matmul is not installed: %s", r)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		name           string
		lhs, rhs       []int
		lc, lb, rc, rb []int
	}{
		{"xᵀ·dy", []int{4, 6, 5}, []int{4, 6, 7}, []int{0, 1}, nil, []int{0, 1}, nil},
		{"dyᵀ·x into [n, k]", []int{4, 6, 7}, []int{4, 6, 5}, []int{0, 1}, nil, []int{0, 1}, nil},
		{"transposed both", []int{4, 6, 5}, []int{7, 4, 6}, []int{0, 1}, nil, []int{1, 2}, nil},
		{"two contracting axes last", []int{5, 4, 6}, []int{4, 6, 7}, []int{1, 2}, nil, []int{0, 1}, nil},
		{"batched, transposed left", []int{2, 9, 5}, []int{2, 9, 7}, []int{1}, []int{0}, []int{1}, []int{0}},
		{"big transposed left", []int{8, 128, 64}, []int{8, 128, 96}, []int{0, 1}, nil, []int{0, 1}, nil},
		{"plain (compute's builder)", []int{3, 5, 4}, []int{4, 6}, []int{2}, nil, []int{0}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			mk := func(dims []int) (*tensors.Tensor, []float32) {
				v := make([]float32, shapes.Make(dtypes.Float32, dims...).Size())
				for i := range v {
					v[i] = float32(rng.NormFloat64())
				}
				return tensors.FromFlatDataAndDimensions(v, dims...), v
			}
			x, xv := mk(c.lhs)
			y, yv := mk(c.rhs)
			e := MustNewExec(be, func(x, y *Node) *Node { return DotGeneral(x, c.lc, c.lb, y, c.rc, c.rb) })
			out := e.MustExec(x, y)[0]
			got := tensors.MustCopyFlatData[float32](out)
			want := refDot(xv, c.lhs, c.lc, c.lb, yv, c.rhs, c.rc, c.rb)
			if len(got) != len(want) {
				t.Fatalf("%d outputs (%s), want %d", len(got), out.Shape(), len(want))
			}
			var worst float64
			for i := range want {
				worst = max(worst, math.Abs(float64(got[i])-want[i]))
			}
			if worst > 1e-4 {
				t.Errorf("max |diff| %.3g against float64", worst)
			}
		})
	}
}

// refDot is DotGeneral in float64 by enumeration: output axes are the
// batch axes, then the left's free axes, then the right's, in order.
func refDot(x []float32, xd, lc, lb []int, y []float32, yd, rc, rb []int) []float64 {
	free := func(dims, c, b []int) []int {
		var f []int
		for a := range dims {
			if !slicesContains(c, a) && !slicesContains(b, a) {
				f = append(f, a)
			}
		}
		return f
	}
	lf, rf := free(xd, lc, lb), free(yd, rc, rb)
	var outDims, cDims []int
	for _, a := range lb {
		outDims = append(outDims, xd[a])
	}
	for _, a := range lf {
		outDims = append(outDims, xd[a])
	}
	for _, a := range rf {
		outDims = append(outDims, yd[a])
	}
	for _, a := range lc {
		cDims = append(cDims, xd[a])
	}
	size := func(d []int) int {
		n := 1
		for _, v := range d {
			n *= v
		}
		return n
	}
	decode := func(i int, d []int) []int {
		idx := make([]int, len(d))
		for a := len(d) - 1; a >= 0; a-- {
			idx[a], i = i%d[a], i/d[a]
		}
		return idx
	}
	flat := func(idx, d []int) int {
		f := 0
		for a := range d {
			f = f*d[a] + idx[a]
		}
		return f
	}
	out := make([]float64, size(outDims))
	for o := range out {
		oi := decode(o, outDims)
		for ci := range size(cDims) {
			cidx := decode(ci, cDims)
			xi, yi := make([]int, len(xd)), make([]int, len(yd))
			for j, a := range lb {
				xi[a], yi[rb[j]] = oi[j], oi[j]
			}
			for j, a := range lf {
				xi[a] = oi[len(lb)+j]
			}
			for j, a := range rf {
				yi[a] = oi[len(lb)+len(lf)+j]
			}
			for j := range lc {
				xi[lc[j]], yi[rc[j]] = cidx[j], cidx[j]
			}
			out[o] += float64(x[flat(xi, xd)]) * float64(y[flat(yi, yd)])
		}
	}
	return out
}

func slicesContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
