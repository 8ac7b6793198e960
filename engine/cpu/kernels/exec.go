//go:build !nokernels

package kernels

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"

	// The go:linkname targets live in compute's Go backend and its op
	// packages: a program that imports this package (package arch does,
	// for the custom ops) links them even where nothing else builds that
	// backend.
	_ "github.com/gomlx/compute/gobackend"
)

// Mirrors of compute v0.1.2 internal/gobackend.Node and .Buffer. Every
// field is listed so the offsets match; checkMirrors compares them with
// the real types, by reflection, before any executor is installed.
type node struct {
	Index              int
	Inputs             []unsafe.Pointer
	CapturedInputs     [][]unsafe.Pointer
	OpType             compute.OpType
	Shape              shapes.Shape
	Builder            unsafe.Pointer
	Function           unsafe.Pointer
	MultiOutputsShapes []shapes.Shape
	MultiOutputsNodes  []unsafe.Pointer
	IsNodeSelectOutput bool
	SelectOutputIdx    int
	Data               any
}

type buffer struct {
	RawBackend unsafe.Pointer
	RawShape   shapes.Shape
	InUse      bool
	isUserFed  bool
	RawBytes   []byte
	Flat       any
}

// executor is gobackend.NodeExecutor. Contract (from the backend's
// executeNode): an executor that reuses inputs[i] as its output sets
// inputs[i] to nil; it may only do so when owned[i].
type executor func(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname setNodeExecutor github.com/gomlx/compute/internal/gobackend.SetNodeExecutor
func setNodeExecutor(op compute.OpType, priority int, fn executor)

//go:linkname getBuffer github.com/gomlx/compute/internal/gobackend.(*Backend).GetBuffer
func getBuffer(backend unsafe.Pointer, shape shapes.Shape) (*buffer, error)

// priorityUser is gobackend.PriorityUser: above every built-in executor.
const priorityUser = 100

// mirrorsChecked is nil once checkMirrors has passed against the backend
// Install was given (checked once; the installers that read or write the
// backend's nodes and buffers through the mirrors call it first), else an
// error naming what for.
func mirrorsChecked(what string) error {
	if backendForCheck == nil {
		return errorString(what + ": no Go backend given")
	}
	mirrorOnce.Do(func() { mirrorErr = checkMirrors(backendForCheck) })
	if mirrorErr != nil {
		return errorString(what + ": " + mirrorErr.Error())
	}
	return nil
}

var (
	mirrorOnce sync.Once
	mirrorErr  error
)

// checkMirrors compares node and buffer with the backend's own types,
// reached through values it hands out: a Buffer, and a parameter Node.
func checkMirrors(be compute.Backend) error {
	buf, err := be.BufferFromFlatData(0, []float32{1, 2}, shapes.Make(dtypes.Float32, 2))
	if err != nil {
		return err
	}
	defer buf.Finalize()
	if err := sameLayout(reflect.TypeOf(buf), reflect.TypeFor[buffer]()); err != nil {
		return fmt.Errorf("Buffer: %w", err)
	}
	fn := be.Builder("glia-kernels-check").Main()
	v, err := fn.Parameter("x", shapes.Make(dtypes.Float32, 2), nil)
	if err != nil {
		return err
	}
	if err := sameLayout(reflect.TypeOf(v), reflect.TypeFor[node]()); err != nil {
		return fmt.Errorf("Node: %w", err)
	}
	return nil
}

// sameLayout checks that real (a pointer to a struct) and mirror have the
// same fields, in order, at the same offsets, of the same size and kind.
func sameLayout(real, mirror reflect.Type) error {
	if real == nil || real.Kind() != reflect.Pointer || real.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("got %v, want a pointer to a struct", real)
	}
	r := real.Elem()
	if r.NumField() != mirror.NumField() || r.Size() != mirror.Size() {
		return fmt.Errorf("%v has %d fields, %d bytes; mirror %d, %d", r, r.NumField(), r.Size(), mirror.NumField(), mirror.Size())
	}
	for i := range r.NumField() {
		a, b := r.Field(i), mirror.Field(i)
		if a.Name != b.Name || a.Offset != b.Offset || a.Type.Size() != b.Type.Size() || kindOf(a.Type) != kindOf(b.Type) {
			return fmt.Errorf("%v field %d is %s %v at %d, mirror has %s %v at %d", r, i, a.Name, a.Type, a.Offset, b.Name, b.Type, b.Offset)
		}
		if a.Type.PkgPath() == "" && b.Type.PkgPath() == "" && a.Type.Kind() != reflect.Pointer && a.Type.Kind() != reflect.Slice && a.Type != b.Type {
			return fmt.Errorf("%v field %s is %v, mirror %v", r, a.Name, a.Type, b.Type)
		}
		if a.Type.PkgPath() != "" && (a.Type.PkgPath() == "github.com/gomlx/compute/shapes" || a.Type.PkgPath() == "github.com/gomlx/compute") && a.Type != b.Type {
			return fmt.Errorf("%v field %s is %v, mirror %v", r, a.Name, a.Type, b.Type)
		}
	}
	return nil
}

// kindOf treats every pointer-shaped field alike: the mirror uses
// unsafe.Pointer for the backend's internal types.
func kindOf(t reflect.Type) reflect.Kind {
	switch t.Kind() {
	case reflect.Pointer, reflect.UnsafePointer:
		return reflect.Pointer
	case reflect.Slice:
		return reflect.Slice
	}
	return t.Kind()
}

// output returns the buffer to write n's result to: inputs[i] itself when
// the backend lets us overwrite it and it has the output's shape, else a
// fresh one.
func output(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool, candidates ...int) (*buffer, error) {
	for _, i := range candidates {
		if owned[i] && inputs[i].RawShape.Equal(n.Shape) {
			b := inputs[i]
			inputs[i] = nil
			return b, nil
		}
	}
	return getBuffer(backend, n.Shape)
}

func float32s(b *buffer) ([]float32, bool) {
	f, ok := b.Flat.([]float32)
	if !ok || len(f) < b.RawShape.Size() {
		return nil, false
	}
	return f[:b.RawShape.Size()], true
}
