//go:build !nokernels

package kernels

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"
	"unsafe"

	"github.com/glia-dev/glia/engine/cpu/sgemm"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
)

// Mirrors of compute v0.1.2 internal/gobackend/dot: ImplementationRegistration
// and the DotGeneralExecFn[float32, float32] calling convention (the
// backend pointer is opaque to us; Layout is an int).
type dotRegistration struct {
	name     string
	implFn   any
	priority int
}

type dotFn func(backend unsafe.Pointer, layout int, lhs, rhs []float32, batch, lhsCross, rhsCross, contracting int, out []float32)

//go:linkname findDotImplementation github.com/gomlx/compute/internal/gobackend/dot.FindRegisteredImplementation
func findDotImplementation(layout int, in, out dtypes.DType) *dotRegistration

const (
	layoutNonTransposed = 0 // lhs [b, m, k], rhs [b, k, n]
	layoutTransposed    = 1 // lhs [b, m, k], rhs [b, n, k]
)

// stockDot is the float32 DotGeneral compute had registered (the same
// router serves both layouts), kept for the start-up race on AVX-512
// machines.
var stockDot dotFn

func installDot() (string, error) {
	if !sgemm.Accelerated() {
		return "", errors.New("matmul: no AVX2+FMA on this CPU")
	}
	var regs [2]*dotRegistration
	timeIt := false
	for layout := range regs {
		reg := findDotImplementation(layout, dtypes.Float32, dtypes.Float32)
		if reg == nil {
			return "", fmt.Errorf("matmul: no float32 DotGeneral registered for layout %d", layout)
		}
		switch reg.name {
		case "simd:avx2", "simd:nosimd":
		case "simd:avx512":
			// Where 512-bit FMAs are double-pumped (AMD Zen 4) our AVX2
			// kernel has the same peak and wins; where they are native
			// (Intel) compute's kernel has twice ours. Measure, below,
			// except in race builds, where compute's fails checkptr.
			timeIt = !raceBuild
		default:
			return "", fmt.Errorf("matmul: unexpected registration %q", reg.name)
		}
		if err := checkDotSignature(reg.implFn); err != nil {
			return "", err
		}
		regs[layout] = reg
	}
	*(*unsafe.Pointer)(unsafe.Pointer(&stockDot)) = (*eface)(unsafe.Pointer(&regs[0].implFn)).data
	note := ""
	if timeIt {
		be := backendForCheck
		ours, theirs := raceDot(stockDot, (*eface)(unsafe.Pointer(&be)).data) // an interface's second word is its pointer
		if ours >= theirs {
			return "", fmt.Errorf("matmul: kept compute's AVX-512 kernel (glia's AVX2 one took %.2fx its time here)", float64(ours)/float64(theirs))
		}
		note = fmt.Sprintf(" (%.2fx the speed of compute's AVX-512 kernel here)", float64(theirs)/float64(ours))
	}
	for _, reg := range regs {
		e := (*eface)(unsafe.Pointer(&reg.implFn))
		ours := dotFn(gliaDot)
		e.data = *(*unsafe.Pointer)(unsafe.Pointer(&ours))
	}
	return "matmul f32: glia sgemm 6x16 avx2" + note, nil
}

// raceDot times glia's sgemm and stock on a mid-sized product, best of
// three each.
func raceDot(stock dotFn, backend unsafe.Pointer) (ours, theirs time.Duration) {
	const m, n, k = 256, 512, 512
	lhs, rhs, out := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range lhs {
		lhs[i] = float32(i%7) / 7
	}
	for i := range rhs {
		rhs[i] = float32(i%5) / 5
	}
	best := func(f func()) time.Duration {
		b := time.Duration(math.MaxInt64)
		for range 3 {
			t0 := time.Now()
			f()
			b = min(b, time.Since(t0))
		}
		return b
	}
	theirs = best(func() { stock(backend, layoutNonTransposed, lhs, rhs, 1, m, n, k, out) })
	ours = best(func() { sgemm.MatMul(lhs, rhs, out, 1, m, n, k, false) })
	return ours, theirs
}

// eface is the layout of an interface{} value.
type eface struct{ typ, data unsafe.Pointer }

// checkDotSignature makes sure the registered function has exactly the
// parameters dotFn assumes, so the swap cannot misread arguments.
func checkDotSignature(fn any) error {
	t := reflect.TypeOf(fn)
	f32s, i := reflect.TypeFor[[]float32](), reflect.Int
	ok := t != nil && t.Kind() == reflect.Func && t.NumIn() == 9 && t.NumOut() == 0 &&
		t.In(0).Kind() == reflect.Pointer && t.In(1).Kind() == i &&
		t.In(2) == f32s && t.In(3) == f32s && t.In(8) == f32s
	for k := 4; ok && k < 8; k++ {
		ok = t.In(k).Kind() == i
	}
	if !ok {
		return fmt.Errorf("matmul: registered function has type %v, not the DotGeneralExecFn[float32, float32] this was written for", t)
	}
	return nil
}

// gliaDot takes every float32 product: besides being faster, it keeps
// compute's own kernels, which wait for the backend's worker pool from
// inside a pool worker, off the graph's parallel branches, where they can
// deadlock once every worker waits.
func gliaDot(backend unsafe.Pointer, layout int, lhs, rhs []float32, batch, m, n, k int, out []float32) {
	sgemm.MatMul(lhs, rhs, out, batch, m, n, k, layout == layoutTransposed)
	handled[compute.OpTypeDotGeneral].Add(1)
}
