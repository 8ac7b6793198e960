//go:build !nokernels

package kernels

import (
	"reflect"
	"slices"
	"sync"
	"unsafe"

	"github.com/glia-dev/glia/engine/cpu/vecmath"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
)

// The stock executors, kept for every case glia's kernels leave alone.

//go:linkname stockGelu github.com/gomlx/compute/internal/gobackend/fusedops.execFusedGelu
func stockGelu(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockSoftmax github.com/gomlx/compute/internal/gobackend/fusedops.execFusedSoftmax
func stockSoftmax(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockAdd github.com/gomlx/compute/internal/gobackend/ops.execAdd
func stockAdd(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockLogistic github.com/gomlx/compute/internal/gobackend/ops.execLogistic
func stockLogistic(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockMul github.com/gomlx/compute/internal/gobackend/ops.execMul
func stockMul(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockLayerNorm github.com/gomlx/compute/internal/gobackend/fusedops.execFusedLayerNorm
func stockLayerNorm(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockSlice github.com/gomlx/compute/internal/gobackend/ops.execSlice
func stockSlice(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockTranspose github.com/gomlx/compute/internal/gobackend/ops.execTranspose
func stockTranspose(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockWhere github.com/gomlx/compute/internal/gobackend/ops.execWhere
func stockWhere(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

// installOps needs a backend to check the mirrors against; Install passes
// it through backendForCheck.
func installOps() (string, error) {
	if err := mirrorsChecked("element-wise ops"); err != nil {
		return "", err
	}
	for op, fn := range ours {
		setNodeExecutor(op, priorityUser, fn)
	}
	return "gelu-tanh, sigmoid, softmax, layer norm, add, sub, mul, div, exp, log, tanh, sqrt, rsqrt, neg, reduce-sum, reduce-max, transpose, slice, where f32: glia", nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

var ours = map[compute.OpType]executor{
	compute.OpTypeFusedGelu:      gelu,
	compute.OpTypeFusedSoftmax:   softmax,
	compute.OpTypeAdd:            add,
	compute.OpTypeMul:            mul,
	compute.OpTypeLogistic:       sigmoid,
	compute.OpTypeTranspose:      transpose,
	compute.OpTypeFusedLayerNorm: layerNorm,
	compute.OpTypeSlice:          slice,
	compute.OpTypeWhere:          where,
}

// elementsPerTask keeps a goroutine's share of an element-wise op well
// above the cost of starting it.
const elementsPerTask = 32 << 10

// gelu: tanh-GELU on float32 with vecmath's SIMD tanh (the stock one calls
// float64 math.Tanh per element).
func gelu(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	if d, ok := dataAs[geluData](n.Data, "*fusedops.nodeFusedGelu", &geluType); !ok || d.exact {
		return stockGelu(backend, n, inputs, owned)
	}
	return elementwise(backend, n, inputs, owned, stockGelu, vecmath.GeluTanh)
}

// sigmoid (the backend's Logistic, half of every SiLU) on float32 with
// vecmath's SIMD exp; the stock one calls float64 math.Exp per element.
func sigmoid(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	return elementwise(backend, n, inputs, owned, stockLogistic, vecmath.Sigmoid)
}

// elementwise runs f over a float32 tensor of the output's shape in
// parallel chunks, in place when the backend lets it; anything else goes to
// stock.
func elementwise(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool, stock executor, f func(dst, src []float32)) (*buffer, error) {
	if n.Shape.DType != dtypes.Float32 || len(inputs) != 1 {
		return stock(backend, n, inputs, owned)
	}
	x, ok := float32s(inputs[0])
	if !ok || !inputs[0].RawShape.Equal(n.Shape) {
		return stock(backend, n, inputs, owned)
	}
	out, err := output(backend, n, inputs, owned, 0)
	if err != nil {
		return nil, err
	}
	y, _ := float32s(out)
	vecmath.ParallelFor(len(x), elementsPerTask, func(lo, hi int) { f(y[lo:hi], x[lo:hi]) })
	handled[n.OpType].Add(1)
	return out, nil
}

// softmax over the last axis of a float32 tensor, rows in parallel.
func softmax(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	d, ok := dataAs[softmaxData](n.Data, "*fusedops.nodeFusedSoftmax", &softmaxType)
	if !ok {
		return stockSoftmax(backend, n, inputs, owned)
	}
	axis := d.axis
	if n.Shape.DType != dtypes.Float32 || axis != n.Shape.Rank()-1 || n.Shape.Dimensions[axis] == 0 {
		return stockSoftmax(backend, n, inputs, owned)
	}
	x, ok := float32s(inputs[0])
	if !ok {
		return stockSoftmax(backend, n, inputs, owned)
	}
	out, err := output(backend, n, inputs, owned, 0)
	if err != nil {
		return nil, err
	}
	y, _ := float32s(out)
	row := n.Shape.Dimensions[axis]
	rows := len(x) / row
	vecmath.ParallelFor(rows, max(1, elementsPerTask/row), func(lo, hi int) {
		vecmath.SoftmaxRows(y[lo*row:hi*row], x[lo*row:hi*row], row)
	})
	handled[n.OpType].Add(1)
	return out, nil
}

// add of two float32 tensors of the output's shape, or of one and a
// bias broadcast along its last axis ([1, ..., 1, n] — every Linear's
// bias), in parallel. The stock executor walks a broadcasting index
// iterator per element, 3x slower and on one core.
func add(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	return binary(backend, n, inputs, owned, stockAdd, vecmath.Add, false, addOp)
}

// mul: add's cases for a product (RMSNorm's scale, rotary embeddings,
// SiLU's x*sigmoid(x)), and a scalar factor of any tensor.
func mul(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	return binary(backend, n, inputs, owned, stockMul, vecmath.Mul, true, mulOp)
}

// binary runs a commutative element-wise op f (vecmath.Add or .Mul) on two
// float32 operands: both of the output's shape, or one of it and the other
// a row broadcast along the last axis, or (when scalarOK: f accepts a
// length-1 operand) of size 1. Other broadcasts go to broadcastBinary
// (op), the rest to stock. The output reuses an owned input of the
// output's shape, as the stock executors do.
func binary(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool, stock executor, f func(dst, a, b []float32), scalarOK bool, op binOp) (*buffer, error) {
	if n.Shape.DType != dtypes.Float32 || len(inputs) != 2 || n.Shape.Size() == 0 {
		return stock(backend, n, inputs, owned)
	}
	a, okA := float32s(inputs[0])
	b, okB := float32s(inputs[1])
	if !okA || !okB {
		return stock(backend, n, inputs, owned)
	}
	full, other := -1, -1 // other: the broadcast operand, if any
	isFull := func(i int) bool { return inputs[i].RawShape.Equal(n.Shape) }
	isSmall := func(i int) bool {
		return isRowBroadcast(inputs[i], n) || (scalarOK && inputs[i].RawShape.DType == dtypes.Float32 && inputs[i].RawShape.Size() == 1)
	}
	switch {
	case isFull(0) && isFull(1):
		full = 0
	case isFull(0) && isSmall(1):
		full, other = 0, 1
	case isFull(1) && isSmall(0):
		full, other = 1, 0
	default:
		return broadcastBinary(backend, n, inputs, owned, stock, op)
	}
	out, err := output(backend, n, inputs, owned, 0, 1)
	if err != nil {
		return nil, err
	}
	y, _ := float32s(out)
	x, v := a, b
	if full == 1 {
		x, v = b, a
	}
	if other < 0 || (scalarOK && len(v) == 1) {
		part := func(lo, hi int) []float32 {
			if len(v) == 1 {
				return v
			}
			return v[lo:hi]
		}
		vecmath.ParallelFor(len(y), elementsPerTask, func(lo, hi int) { f(y[lo:hi], x[lo:hi], part(lo, hi)) })
		handled[n.OpType].Add(1)
		return out, nil
	}
	row := len(v)
	rows := len(y) / row
	vecmath.ParallelFor(rows, max(1, elementsPerTask/row), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			f(y[r*row:(r+1)*row], x[r*row:(r+1)*row], v)
		}
	})
	handled[n.OpType].Add(1)
	return out, nil
}

// where(condition, onTrue, onFalse) for float32, with a bool condition of
// the output's shape and each value either of that shape or a scalar (the
// attention mask's Where(mask, scores, -big)), blended 8 lanes at a time
// in parallel. The output buffer is chosen as the stock executor does.
func where(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	if n.Shape.DType != dtypes.Float32 || len(inputs) != 3 || n.Shape.Rank() == 0 || n.Shape.Size() == 0 {
		return stockWhere(backend, n, inputs, owned)
	}
	c := inputs[0].RawShape
	cond, ok := inputs[0].Flat.([]bool)
	if !ok || c.DType != dtypes.Bool || !slices.Equal(c.Dimensions, n.Shape.Dimensions) || len(cond) < n.Shape.Size() {
		return stockWhere(backend, n, inputs, owned)
	}
	vals := [2][]float32{}
	for k, in := range inputs[1:] {
		v, ok := float32s(in)
		if !ok || in.RawShape.DType != dtypes.Float32 || !(in.RawShape.Equal(n.Shape) || (in.RawShape.IsScalar() && len(v) == 1)) {
			return stockWhere(backend, n, inputs, owned)
		}
		vals[k] = v
	}
	out, err := output(backend, n, inputs, owned, 1, 2)
	if err != nil {
		return nil, err
	}
	y, _ := float32s(out)
	cond = cond[:len(y)]
	part := func(v []float32, lo, hi int) []float32 {
		if len(v) == 1 {
			return v
		}
		return v[lo:hi]
	}
	vecmath.ParallelFor(len(y), elementsPerTask, func(lo, hi int) {
		vecmath.Select(y[lo:hi], cond[lo:hi], part(vals[0], lo, hi), part(vals[1], lo, hi))
	})
	handled[n.OpType].Add(1)
	return out, nil
}

// isRowBroadcast: b has n's rank, ones everywhere but the last axis, and
// n's last dimension there.
func isRowBroadcast(b *buffer, n *node) bool {
	d, o := b.RawShape.Dimensions, n.Shape.Dimensions
	if len(d) != len(o) || len(d) == 0 || d[len(d)-1] != o[len(o)-1] || b.RawShape.DType != n.Shape.DType {
		return false
	}
	for _, x := range d[:len(d)-1] {
		if x != 1 {
			return false
		}
	}
	return true
}

// transpose of a float32 tensor. When the last axis stays last: copies of
// whole rows instead of the stock per-element index iterator (the
// attention heads' [batch, pos, head, d_head] <-> [batch, head, pos,
// d_head] moves). When it moves (the keys' [b, t, h, d] -> [b, h, d, t]):
// blocked 2-D transposes, see transposeMoving.
func transpose(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	perm, ok := n.Data.([]int)
	in := inputs[0].RawShape.Dimensions
	if !ok || n.Shape.DType != dtypes.Float32 || len(perm) != len(in) || len(perm) < 2 || n.Shape.Size() == 0 || !isPermutation(perm) {
		return stockTranspose(backend, n, inputs, owned)
	}
	x, ok := float32s(inputs[0])
	if !ok {
		return stockTranspose(backend, n, inputs, owned)
	}
	out, err := getBuffer(backend, n.Shape)
	if err != nil {
		return nil, err
	}
	y, _ := float32s(out)
	rank := len(in)
	// Input strides, in elements, of the output's axes.
	inStride := make([]int, rank)
	s := 1
	for ax := rank - 1; ax >= 0; ax-- {
		inStride[ax] = s
		s *= in[ax]
	}
	outDims := n.Shape.Dimensions
	strides := make([]int, rank)
	for ax, p := range perm {
		strides[ax] = inStride[p]
	}
	if perm[rank-1] == rank-1 {
		copyRows(y, x, outDims, strides, make([]int, rank), in[rank-1])
	} else {
		transposeMoving(y, x, outDims, strides, perm)
	}
	handled[n.OpType].Add(1)
	return out, nil
}

func isPermutation(perm []int) bool {
	seen := make([]bool, len(perm))
	for _, p := range perm {
		if p < 0 || p >= len(perm) || seen[p] {
			return false
		}
		seen[p] = true
	}
	return true
}

// transposeMoving fills y (dims outDims) from x when the input's last axis
// moves, to output axis q. Fixing every output axis but q and the last
// leaves a 2-D slab: a matrix whose rows run along the output's last axis
// in x (stride strides[rank-1]) and whose columns are contiguous in x, to
// be written transposed, rows of y contiguous along the last axis. Each
// slab is cut into column blocks, and those blocks are transposed in
// parallel 8x8 tiles at a time by vecmath.Transpose.
func transposeMoving(y, x []float32, outDims, strides, perm []int) {
	rank := len(outDims)
	q := 0
	for ax, p := range perm {
		if p == rank-1 {
			q = ax
		}
	}
	outStride := make([]int, rank)
	s := 1
	for ax := rank - 1; ax >= 0; ax-- {
		outStride[ax] = s
		s *= outDims[ax]
	}
	rows, cols := outDims[rank-1], outDims[q] // of the slab, as read from x
	srcStride, dstStride := strides[rank-1], outStride[q]
	// The other axes, outermost first, enumerate the slabs.
	var dims, inS, outS []int
	for ax := 0; ax < rank-1; ax++ {
		if ax != q {
			dims = append(dims, outDims[ax])
			inS = append(inS, strides[ax])
			outS = append(outS, outStride[ax])
		}
	}
	slabs := len(y) / (rows * cols)
	const colBlock = 64
	blocks := (cols + colBlock - 1) / colBlock
	vecmath.ParallelFor(slabs*blocks, max(1, elementsPerTask/(rows*min(cols, colBlock))), func(lo, hi int) {
		for u := lo; u < hi; u++ {
			slab, c0 := u/blocks, (u%blocks)*colBlock
			src, dst := c0, c0*dstStride
			for k := len(dims) - 1; k >= 0; k-- {
				i := slab % dims[k]
				slab /= dims[k]
				src += i * inS[k]
				dst += i * outS[k]
			}
			vecmath.Transpose(y[dst:], dstStride, x[src:], srcStride, rows, min(colBlock, cols-c0))
		}
	})
}

// Mirrors of the backend's node data for the ops handled here.
type (
	geluData      struct{ exact bool }
	softmaxData   struct{ axis int }
	layerNormData struct {
		axes    []int
		epsilon float64
	}
	sliceData struct{ starts, limits, strides []int }
)

// dataType caches, per op, the backend's node-data type once its layout
// was found equal to the mirror's.
type dataType struct {
	once sync.Once
	typ  reflect.Type
}

var geluType, softmaxType, layerNormType, sliceType dataType

// dataAs views a node's data (a pointer to an unexported struct of the
// backend) as *M, after checking, once per op, that the struct is the
// named type with exactly M's fields, types and offsets.
func dataAs[M any](data any, typeName string, dt *dataType) (*M, bool) {
	t := reflect.TypeOf(data)
	dt.once.Do(func() {
		if t == nil || t.String() != typeName || t.Kind() != reflect.Pointer {
			return
		}
		r, m := t.Elem(), reflect.TypeFor[M]()
		if r.Kind() != reflect.Struct || r.NumField() != m.NumField() || r.Size() != m.Size() {
			return
		}
		for i := range r.NumField() {
			a, b := r.Field(i), m.Field(i)
			if a.Name != b.Name || a.Type != b.Type || a.Offset != b.Offset {
				return
			}
		}
		dt.typ = t
	})
	if t == nil || t != dt.typ {
		return nil, false
	}
	return (*M)((*eface)(unsafe.Pointer(&data)).data), true
}

// layerNorm over trailing axes, rows in parallel, with vecmath's SIMD
// LayerNormRow. The stock kernel sums each row with one sequential float32
// chain; the lanes here sum in a different order (and correct the mean), so
// results are not bit-equal to it, but stay within a few float32 ulps of a
// float64 reference (TestOps checks 2e-6).
func layerNorm(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	d, ok := dataAs[layerNormData](n.Data, "*fusedops.nodeFusedLayerNorm", &layerNormType)
	if !ok || n.Shape.DType != dtypes.Float32 || len(inputs) == 0 {
		return stockLayerNorm(backend, n, inputs, owned)
	}
	dims, size := n.Shape.Dimensions, 1
	for i, a := range d.axes {
		if a != len(dims)-len(d.axes)+i {
			return stockLayerNorm(backend, n, inputs, owned)
		}
		size *= dims[a]
	}
	x, ok := float32s(inputs[0])
	var gamma, beta []float32
	if ok && len(inputs) > 1 {
		gamma, ok = float32s(inputs[1])
	}
	if ok && len(inputs) > 2 {
		beta, ok = float32s(inputs[2])
	}
	if !ok || size == 0 || (gamma != nil && len(gamma) != size) || (beta != nil && len(beta) != size) {
		return stockLayerNorm(backend, n, inputs, owned)
	}
	out, err := getBuffer(backend, n.Shape)
	if err != nil {
		return nil, err
	}
	y, _ := float32s(out)
	eps := d.epsilon
	vecmath.ParallelFor(len(x)/size, max(1, elementsPerTask/size), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			vecmath.LayerNormRow(y[r*size:(r+1)*size], x[r*size:(r+1)*size], gamma, beta, eps)
		}
	})
	handled[n.OpType].Add(1)
	return out, nil
}

// slice of a float32 tensor with unit strides: one copy per output row.
// The fused q/k/v projections are split this way on every layer.
func slice(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	d, ok := dataAs[sliceData](n.Data, "*ops.sliceNode", &sliceType)
	in := inputs[0].RawShape.Dimensions
	rank := len(in)
	if !ok || n.Shape.DType != dtypes.Float32 || rank == 0 || len(d.starts) != rank || len(d.strides) != rank || n.Shape.Size() == 0 {
		return stockSlice(backend, n, inputs, owned)
	}
	for _, s := range d.strides {
		if s != 1 {
			return stockSlice(backend, n, inputs, owned)
		}
	}
	x, ok := float32s(inputs[0])
	if !ok {
		return stockSlice(backend, n, inputs, owned)
	}
	out, err := getBuffer(backend, n.Shape)
	if err != nil {
		return nil, err
	}
	y, _ := float32s(out)
	outDims := n.Shape.Dimensions
	row := outDims[rank-1]
	inStride := make([]int, rank)
	s := 1
	for ax := rank - 1; ax >= 0; ax-- {
		inStride[ax] = s
		s *= in[ax]
	}
	copyRows(y, x, outDims, inStride, d.starts, row)
	handled[n.OpType].Add(1)
	return out, nil
}

// copyRows fills y (dims outDims, row-major) row by row from x, where
// output row idx starts at x offset Σ (start[ax]+idx[ax])·stride[ax].
func copyRows(y, x []float32, outDims, stride, start []int, row int) {
	rank := len(outDims)
	eachRow(outDims[:rank-1], len(y)/row, row, func(r int, idx []int) {
		src := start[rank-1] * stride[rank-1]
		for ax, i := range idx {
			src += (start[ax] + i) * stride[ax]
		}
		copy(y[r*row:(r+1)*row], x[src:src+row])
	})
}

// eachRow calls fn for rows [0, rows) of a tensor whose axes before the
// row are dims, with each row's index along them, rows in parallel chunks
// of about elementsPerTask elements (row is the row's length).
func eachRow(dims []int, rows, row int, fn func(r int, idx []int)) {
	vecmath.ParallelFor(rows, max(1, elementsPerTask/row), func(lo, hi int) {
		idx := make([]int, len(dims))
		rem := lo
		for ax := len(dims) - 1; ax >= 0; ax-- {
			idx[ax] = rem % dims[ax]
			rem /= dims[ax]
		}
		for r := lo; r < hi; r++ {
			fn(r, idx)
			for ax := len(dims) - 1; ax >= 0; ax-- {
				idx[ax]++
				if idx[ax] < dims[ax] {
					break
				}
				idx[ax] = 0
			}
		}
	})
}
