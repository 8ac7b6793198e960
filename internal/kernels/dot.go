package kernels

import (
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/glia-dev/glia/internal/sgemm"
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

// stockDot keeps the implementation each layout had, for the shapes glia's
// kernel leaves to it.
var stockDot [2]dotFn

func init() { installers = append(installers, installDot) }

func installDot() (string, error) {
	if !sgemm.Accelerated() {
		return "", errors.New("matmul: no AVX2+FMA on this CPU")
	}
	var regs [2]*dotRegistration
	for layout := range regs {
		reg := findDotImplementation(layout, dtypes.Float32, dtypes.Float32)
		if reg == nil {
			return "", fmt.Errorf("matmul: no float32 DotGeneral registered for layout %d", layout)
		}
		switch reg.name {
		case "simd:avx2", "simd:nosimd":
		case "simd:avx512":
			// compute's AVX-512 kernel runs near its peak; ours is AVX2.
			return "", errors.New("matmul: kept compute's AVX-512 kernel")
		default:
			return "", fmt.Errorf("matmul: unexpected registration %q", reg.name)
		}
		if err := checkDotSignature(reg.implFn); err != nil {
			return "", err
		}
		regs[layout] = reg
	}
	for layout, reg := range regs {
		e := (*eface)(unsafe.Pointer(&reg.implFn))
		*(*unsafe.Pointer)(unsafe.Pointer(&stockDot[layout])) = e.data
		ours := dotFn(gliaDot)
		e.data = *(*unsafe.Pointer)(unsafe.Pointer(&ours))
	}
	return "matmul f32: glia sgemm 6x16 avx2", nil
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

// Shapes with few rows (a generation step, a single position) are
// bandwidth-bound matrix-vector products: packing B would cost as much as
// the product, and compute's small kernel reads B once.
const minRows = 16

func gliaDot(backend unsafe.Pointer, layout int, lhs, rhs []float32, batch, m, n, k int, out []float32) {
	if m < minRows || n < 16 || k < 8 {
		stockDot[layout](backend, layout, lhs, rhs, batch, m, n, k, out)
		return
	}
	sgemm.MatMul(lhs, rhs, out, batch, m, n, k, layout == layoutTransposed)
	handled[compute.OpTypeDotGeneral].Add(1)
}
