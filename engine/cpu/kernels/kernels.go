// Package kernels puts glia's CPU kernels under GoMLX's pure-Go backend.
//
// compute v0.1.2's Go backend reaches about 18% of an AVX2 machine's peak
// FLOP/s in its matmul and computes tanh-GELU with float64 math.Tanh, so a
// GPT-2-small forward ran at 14% of peak. The backend offers no public way
// to plug in a kernel, but it does keep registries: a table of DotGeneral
// implementations per (layout, dtype) and a table of node executors per op.
// Install swaps glia's kernels into those tables through go:linkname.
//
// That reaches into another module's internals, so it is fenced in: it
// runs only against the exact compute version it was written for (the one
// go.mod pins), checks every signature it relies on with reflect before
// touching anything, keeps the stock implementation for every case it
// does not handle, and can be switched off with GLIA_KERNELS=stock. When
// any check fails the backend is left exactly as it was. Building with
// -tags nokernels leaves out every go:linkname: Install then reports stock
// kernels and changes nothing.
//
// In race builds (go build -race) the element-wise kernels run vecmath's
// scalar path, and compute's own float32 and bfloat16 matmuls, which fail
// checkptr, are never left in place: InstallRequired installs glia's even
// when nothing else is wanted, and GLIA_KERNELS=stock keeps it.
package kernels

import (
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gomlx/compute"
)

// ComputeVersion is the github.com/gomlx/compute release whose internals
// this package was written against.
const ComputeVersion = "v0.1.2"

// Report says what Install did.
type Report struct {
	Installed []string // e.g. "matmul f32: glia sgemm avx2 6x16"
	Skipped   string   // why nothing (more) was installed, if so
	Matmul    bool     // glia's sgemm takes every float32 DotGeneral
	Attention bool     // the fused attention op (forward and backward) is glia's
}

func (r Report) String() string {
	s := "stock GoMLX kernels"
	if len(r.Installed) > 0 {
		s = strings.Join(r.Installed, "; ")
	}
	if r.Skipped != "" {
		s += " (" + r.Skipped + ")"
	}
	return s
}

const goBackendPkg = "github.com/gomlx/compute/internal/gobackend"

var installed Report

var once sync.Once

// Install swaps glia's kernels into the Go backend be, once per process
// (the first of Install and InstallRequired decides). Call it before
// building any graph: a DotGeneral picks its implementation when it is
// built. Other backends (XLA) are left alone.
func Install(be compute.Backend) Report { return installOnce(be, false) }

// InstallRequired installs only what this build cannot run without: in a
// race build glia's float32 matmul (compute's fails checkptr), elsewhere
// nothing. It is what a program that did not ask for glia's kernels gets.
func InstallRequired(be compute.Backend) Report {
	if !raceBuild {
		return Report{Skipped: "not requested"}
	}
	return installOnce(be, true)
}

func installOnce(be compute.Backend, matmulOnly bool) Report {
	if !IsGoBackend(be) {
		return Report{Skipped: "not the Go backend"}
	}
	once.Do(func() {
		backendForCheck = be
		installed = install(matmulOnly)
		backendForCheck = nil
	})
	return installed
}

// raceBuild is set in race builds (race.go); notLinked says why, in builds
// without the go:linkname half (nokernels.go).
var (
	raceBuild bool
	notLinked string
)

// backendForCheck is the backend Install was given, for the installers
// that check their mirrors of its types against it.
var backendForCheck compute.Backend

// handled counts, per op, the runs glia's kernels took (not the stock
// fallbacks), so tests can see them work.
var handled [compute.OpTypeLast]atomic.Int64

// Handled returns how many times glia's kernel ran op in this process.
func Handled(op compute.OpType) int64 {
	if op < 0 || op >= compute.OpTypeLast {
		return 0
	}
	return handled[op].Load()
}

// IsGoBackend reports whether be is compute's pure-Go backend.
func IsGoBackend(be compute.Backend) bool {
	t := reflect.TypeOf(be)
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().PkgPath() == goBackendPkg
}

// Installed returns what Install did, or a zero Report before it ran.
func Installed() Report { return installed }

func install(matmulOnly bool) (r Report) {
	if notLinked != "" {
		return Report{Skipped: notLinked}
	}
	note := ""
	if v := os.Getenv("GLIA_KERNELS"); v == "stock" || v == "off" {
		if !raceBuild {
			return Report{Skipped: "GLIA_KERNELS=" + v}
		}
		matmulOnly, note = true, "GLIA_KERNELS="+v+" but a race build keeps glia's matmul: compute's fails checkptr"
	}
	if v := computeVersion(); v != ComputeVersion && v != "" {
		return Report{Skipped: fmt.Sprintf("github.com/gomlx/compute is %s, kernels are written for %s", v, ComputeVersion)}
	}
	defer func() {
		// A failed check must leave the backend usable: report and stop.
		if p := recover(); p != nil {
			r.Skipped = fmt.Sprint("install stopped: ", p)
		}
	}()
	why := []string{}
	if note != "" {
		why = append(why, note)
	}
	installers := []func() (string, error){installDot, installOps, installAttention}
	if matmulOnly {
		installers = installers[:1]
	}
	for _, k := range installers {
		name, err := k()
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		r.Installed = append(r.Installed, name)
		r.Matmul = r.Matmul || strings.HasPrefix(name, "matmul")
		r.Attention = r.Attention || strings.HasPrefix(name, "attention")
	}
	r.Skipped = strings.Join(why, "; ")
	return r
}

// computeVersion returns the linked compute version, or "" where the
// binary does not record its modules (test binaries): there go.mod's pin,
// checked by TestComputeVersionPinned, is the guarantee.
func computeVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/gomlx/compute" {
			if d.Replace != nil {
				return d.Replace.Version + " (replaced)"
			}
			return d.Version
		}
	}
	return ""
}
