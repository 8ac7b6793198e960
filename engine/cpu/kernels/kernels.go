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
// any check fails the backend is left exactly as it was.
package kernels

import (
	"fmt"
	"github.com/gomlx/compute"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
)

// ComputeVersion is the github.com/gomlx/compute release whose internals
// this package was written against.
const ComputeVersion = "v0.1.2"

// Report says what Install did.
type Report struct {
	Installed []string // e.g. "matmul f32: glia sgemm avx2 6x16"
	Skipped   string   // why nothing (more) was installed, if so
	Matmul    bool     // glia's sgemm takes every float32 DotGeneral
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

// Install swaps glia's kernels into the Go backend be, once per process.
// Call it before building any graph: a DotGeneral picks its
// implementation when it is built. Other backends (XLA) are left alone.
func Install(be compute.Backend) Report {
	if !IsGoBackend(be) {
		return Report{Skipped: "not the Go backend"}
	}
	once.Do(func() {
		backendForCheck = be
		installed = install()
		backendForCheck = nil
	})
	return installed
}

// IsGoBackend reports whether be is compute's pure-Go backend.
func IsGoBackend(be compute.Backend) bool {
	t := reflect.TypeOf(be)
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().PkgPath() == goBackendPkg
}

// Installed returns what Install did, or a zero Report before it ran.
func Installed() Report { return installed }

func install() (r Report) {
	if v := os.Getenv("GLIA_KERNELS"); v == "stock" || v == "off" {
		return Report{Skipped: "GLIA_KERNELS=" + v}
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
	var why []string
	for _, k := range installers {
		name, err := k()
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		r.Installed = append(r.Installed, name)
		r.Matmul = r.Matmul || strings.HasPrefix(name, "matmul")
	}
	r.Skipped = strings.Join(why, "; ")
	return r
}

// installers run in order; each returns what it installed or why not.
var installers []func() (string, error)

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
