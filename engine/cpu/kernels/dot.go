//go:build !nokernels

package kernels

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"unsafe"

	"github.com/glia-dev/glia/engine/cpu/peak"
	"github.com/glia-dev/glia/engine/cpu/sgemm"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
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

func installDot() (string, error) {
	kernel := "6x16 avx2"
	if !sgemm.Accelerated() {
		if !raceBuild {
			return "", errors.New("matmul: no AVX2+FMA on this CPU")
		}
		kernel = "portable Go" // compute's kernels fail checkptr
	}
	var regs [2]*dotRegistration
	avx512 := false
	for layout := range regs {
		reg := findDotImplementation(layout, dtypes.Float32, dtypes.Float32)
		if reg == nil {
			return "", fmt.Errorf("matmul: no float32 DotGeneral registered for layout %d", layout)
		}
		switch reg.name {
		case "simd:avx2", "simd:nosimd":
		case "simd:avx512":
			avx512 = true
		default:
			return "", fmt.Errorf("matmul: unexpected registration %q", reg.name)
		}
		if err := checkDotSignature(reg.implFn, reflect.TypeFor[[]float32]()); err != nil {
			return "", err
		}
		regs[layout] = reg
	}
	note := ""
	// Where 512-bit FMAs run at full width (most Intel server cores)
	// compute's AVX-512 kernel has twice the peak of our AVX2 one; where
	// they are split over the 256-bit pipes (AMD Zen 4) ours has the same
	// peak and wins. The choice follows the FMA width measured on the core
	// (peak.WideFMA: about 2 or about 1, whatever the load), not a timing
	// of the two matmuls, which are within 15% of each other here and
	// which the machine's load used to decide: one run could multiply with
	// one kernel and the next with the other, and get other bits. Race
	// builds skip it (compute's kernel fails checkptr); GLIA_KERNELS=glia
	// forces ours.
	if avx512 && !raceBuild && os.Getenv("GLIA_KERNELS") != "glia" {
		if w := peak.WideFMA(); w >= 1.5 {
			return "", fmt.Errorf("matmul: kept compute's AVX-512 kernel (512-bit FMAs run at %.2fx the 256-bit rate here: full width)", w)
		} else if w > 0 {
			note = fmt.Sprintf(" (512-bit FMAs at %.2fx the 256-bit rate here: split, so no faster than AVX2)", w)
		}
	}
	if raceBuild {
		if err := installDotBF16(); err != nil {
			return "", err
		}
		note += " (and bf16: a race build)"
	}
	ours := dotFn(gliaDot)
	for _, reg := range regs {
		swapImpl(reg, unsafe.Pointer(&ours))
	}
	// The DotGeneral builder writes the backend's nodes through the mirrors.
	if err := mirrorsChecked("DotGeneral builder"); err != nil {
		note += " (" + err.Error() + ")"
	} else {
		installDotGeneral()
	}
	return "matmul f32: glia sgemm " + kernel + note, nil
}

// swapImpl points a registration at the function value *fn, of the type
// the registration's own function has (checked by checkDotSignature).
func swapImpl(reg *dotRegistration, fn unsafe.Pointer) {
	(*eface)(unsafe.Pointer(&reg.implFn)).data = *(*unsafe.Pointer)(fn)
}

// dotFnBF16 is DotGeneralExecFn[bfloat16, float32].
type dotFnBF16 func(backend unsafe.Pointer, layout int, lhs, rhs []bfloat16.BFloat16, batch, lhsCross, rhsCross, contracting int, out []float32)

// installDotBF16 routes bfloat16 products to sgemm too. Only race builds
// need it: every bfloat16 kernel of compute fails checkptr.
func installDotBF16() error {
	var regs [2]*dotRegistration
	for layout := range regs {
		reg := findDotImplementation(layout, dtypes.BFloat16, dtypes.Float32)
		if reg == nil {
			return fmt.Errorf("matmul: no bfloat16 DotGeneral registered for layout %d", layout)
		}
		if err := checkDotSignature(reg.implFn, reflect.TypeFor[[]bfloat16.BFloat16]()); err != nil {
			return err
		}
		regs[layout] = reg
	}
	ours := dotFnBF16(gliaDotBF16)
	for _, reg := range regs {
		swapImpl(reg, unsafe.Pointer(&ours))
	}
	return nil
}

// gliaDotBF16 widens both operands to float32 (exactly) and accumulates
// in float32, as compute's bfloat16 kernels do.
func gliaDotBF16(backend unsafe.Pointer, layout int, lhs, rhs []bfloat16.BFloat16, batch, m, n, k int, out []float32) {
	widen := func(x []bfloat16.BFloat16) []float32 {
		y := make([]float32, len(x))
		for i, v := range x {
			y[i] = v.Float32()
		}
		return y
	}
	sgemm.MatMul(widen(lhs), widen(rhs), out, batch, m, n, k, layout == layoutTransposed)
	handled[compute.OpTypeDotGeneral].Add(1)
}

// eface is the layout of an interface{} value.
type eface struct{ typ, data unsafe.Pointer }

// checkDotSignature makes sure the registered function has exactly the
// parameters dotFn (in: []float32) or dotFnBF16 (in: []bfloat16) assumes,
// so the swap cannot misread arguments.
func checkDotSignature(fn any, in reflect.Type) error {
	t := reflect.TypeOf(fn)
	f32s, i := reflect.TypeFor[[]float32](), reflect.Int
	ok := t != nil && t.Kind() == reflect.Func && t.NumIn() == 9 && t.NumOut() == 0 &&
		t.In(0).Kind() == reflect.Pointer && t.In(1).Kind() == i &&
		t.In(2) == in && t.In(3) == in && t.In(8) == f32s
	for k := 4; ok && k < 8; k++ {
		ok = t.In(k).Kind() == i
	}
	if !ok {
		return fmt.Errorf("matmul: registered function has type %v, not the DotGeneralExecFn[%v, float32] this was written for", t, in.Elem())
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
