//go:build !nokernels

package kernels

import (
	"math"
	"unsafe"

	"github.com/glia-dev/glia/engine/cpu/vecmath"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

// The ops a backward pass adds to a forward: reductions over leading axes
// (bias and norm gradients), broadcasting subtractions and divisions
// (softmax and normalisation gradients), and the float64-per-element
// transcendental functions. The stock executors run each on one core,
// broadcasting ones through an index iterator per element. The kernels here
// return the stock results bit for bit: element-wise ops compute the same
// float32 (or float64-rounded) expression per element, and sums add in the
// stock order (each output's terms in ascending input order, from +0).

//go:linkname stockReduce github.com/gomlx/compute/internal/gobackend/ops.execReduce
func stockReduce(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockSub github.com/gomlx/compute/internal/gobackend/ops.execSub
func stockSub(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockDiv github.com/gomlx/compute/internal/gobackend/ops.execDiv
func stockDiv(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockExp github.com/gomlx/compute/internal/gobackend/ops.execExp
func stockExp(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockLog github.com/gomlx/compute/internal/gobackend/ops.execLog
func stockLog(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockTanh github.com/gomlx/compute/internal/gobackend/ops.execTanh
func stockTanh(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockSqrt github.com/gomlx/compute/internal/gobackend/ops.execSqrt
func stockSqrt(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockRsqrt github.com/gomlx/compute/internal/gobackend/ops.execRsqrt
func stockRsqrt(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockNeg github.com/gomlx/compute/internal/gobackend/ops.execNeg
func stockNeg(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname stockPad github.com/gomlx/compute/internal/gobackend/ops.execPad
func stockPad(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error)

func init() {
	for op, fn := range map[compute.OpType]executor{
		compute.OpTypeReduceSum: reduceSum,
		compute.OpTypeReduceMax: reduceMax,
		compute.OpTypeSub:       sub,
		compute.OpTypeDiv:       div,
		compute.OpTypeExp:       exp,
		compute.OpTypePad:       pad,
		compute.OpTypeLog:       unaryOp(opNone, stockLog, func(x float32) float32 { return float32(math.Log(float64(x))) }),
		compute.OpTypeTanh:      unaryOp(opNone, stockTanh, func(x float32) float32 { return float32(math.Tanh(float64(x))) }),
		compute.OpTypeSqrt:      unaryOp(opSqrt, stockSqrt, func(x float32) float32 { return float32(math.Sqrt(float64(x))) }),
		compute.OpTypeRsqrt:     unaryOp(opNone, stockRsqrt, func(x float32) float32 { return float32(1 / math.Sqrt(float64(x))) }),
		compute.OpTypeNeg:       unaryOp(opNeg, stockNeg, func(x float32) float32 { return -x }),
	} {
		ours[op] = fn
	}
}

// exp with vecmath's SIMD exp (within 3e-7 relative of the exact value, as
// the fused softmax computes it): the one element-wise kernel here that is
// not bit-identical to stock, whose float64 math.Exp per element was the
// largest item of a training step after the matmuls.
func exp(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	return elementwise(backend, n, inputs, owned, stockExp, vecmath.Exp)
}

// unaryOp runs f over a float32 tensor in parallel chunks, in place when
// the backend lets it (as the stock executors do); op's SIMD rows instead
// of f where they run.
func unaryOp(op rowOp, stock executor, f func(float32) float32) executor {
	return func(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
		return elementwise(backend, n, inputs, owned, stock, func(dst, src []float32) {
			if rowUnary(op, dst, src) {
				return
			}
			for i, x := range src {
				dst[i] = f(x)
			}
		})
	}
}

func withVV(op binOp, vv func(dst, a, b []float32)) binOp {
	op.vv = vv
	return op
}

// binOp is an element-wise float32 operation on rows: vv on two rows,
// vs on a row and one value, sv on one value and a row.
type binOp struct {
	vv func(dst, a, b []float32)
	vs func(dst, a []float32, c float32)
	sv func(dst []float32, c float32, b []float32)
}

// rowOp names an operation for the SIMD row functions (rows_*.go), which
// report false where they do not run and the scalar loop does the row.
type rowOp int

const (
	opNone rowOp = iota // no SIMD rows: the scalar loop
	opAdd
	opSub
	opDiv
	opSqrt
	opNeg
)

// scalarBinOp is op's binOp, rows through SIMD where the build and CPU
// have it, else through f element by element.
func scalarBinOp(op rowOp, f func(x, y float32) float32) binOp {
	return binOp{
		func(dst, a, b []float32) {
			if rowVV(op, dst, a, b) {
				return
			}
			b = b[:len(a)]
			for i, x := range a {
				dst[i] = f(x, b[i])
			}
		},
		func(dst, a []float32, c float32) {
			if rowVS(op, dst, a, c, false) {
				return
			}
			for i, x := range a {
				dst[i] = f(x, c)
			}
		},
		func(dst []float32, c float32, b []float32) {
			if rowVS(op, dst, b, c, true) {
				return
			}
			for i, x := range b {
				dst[i] = f(c, x)
			}
		}}
}

var (
	addOp = withVV(scalarBinOp(opAdd, func(x, y float32) float32 { return x + y }), vecmath.Add)
	mulOp = binOp{vecmath.Mul,
		func(dst, a []float32, c float32) { vecmath.Mul(dst, a, []float32{c}) },
		func(dst []float32, c float32, b []float32) { vecmath.Mul(dst, b, []float32{c}) }}
	subOp = scalarBinOp(opSub, func(x, y float32) float32 { return x - y })
	divOp = scalarBinOp(opDiv, func(x, y float32) float32 { return x / y })
)

func sub(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	return broadcastBinary(backend, n, inputs, owned, stockSub, subOp)
}

func div(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	return broadcastBinary(backend, n, inputs, owned, stockDiv, divOp)
}

// broadcastStrides are an operand's element strides along the output's
// axes, 0 where it is broadcast; false when it does not broadcast to out.
func broadcastStrides(in shapes.Shape, out []int) ([]int, bool) {
	s := make([]int, len(out))
	if in.Size() == 1 {
		return s, true
	}
	if in.Rank() != len(out) {
		return nil, false
	}
	stride := 1
	for ax := len(out) - 1; ax >= 0; ax-- {
		switch d := in.Dimensions[ax]; d {
		case out[ax]:
			s[ax] = stride
			stride *= d
		case 1:
		default:
			return nil, false
		}
	}
	return s, true
}

// coalesce merges adjacent output axes that every operand walks as one
// (stride[i] = stride[i+1]·dims[i+1]) and drops axes of size 1, so a
// broadcast walks long rows: [B, T, V] - [B, T, 1] is B·T rows of V
// against one value each.
func coalesce(dims []int, strides ...[]int) ([]int, [][]int) {
	var d []int
	s := make([][]int, len(strides))
	for ax := len(dims) - 1; ax >= 0; ax-- {
		if dims[ax] == 1 {
			continue
		}
		if k := len(d) - 1; k >= 0 {
			merge := true
			for i, st := range strides {
				// s[i][k] is the group's innermost stride.
				merge = merge && st[ax] == s[i][k]*d[k]
			}
			if merge {
				d[k] *= dims[ax]
				continue
			}
		}
		d = append(d, dims[ax])
		for i, st := range strides {
			s[i] = append(s[i], st[ax])
		}
	}
	if len(d) == 0 {
		d = append(d, 1)
		for i := range s {
			s[i] = append(s[i], 0)
		}
	}
	// Built innermost first: reverse into row-major order.
	for i, j := 0, len(d)-1; i < j; i, j = i+1, j-1 {
		d[i], d[j] = d[j], d[i]
		for _, x := range s {
			x[i], x[j] = x[j], x[i]
		}
	}
	return d, s
}

// broadcastBinary runs op on two float32 operands that broadcast to the
// output (equal ranks, each axis equal or 1, or a single value), rows of
// the coalesced last axis in parallel. The output reuses an owned operand
// of the output's shape, as the stock executors do.
func broadcastBinary(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool, stock executor, op binOp) (*buffer, error) {
	if n.Shape.DType != dtypes.Float32 || len(inputs) != 2 || n.Shape.Size() == 0 || n.Shape.IsDynamic() {
		return stock(backend, n, inputs, owned)
	}
	a, okA := float32s(inputs[0])
	b, okB := float32s(inputs[1])
	if !okA || !okB {
		return stock(backend, n, inputs, owned)
	}
	out := n.Shape.Dimensions
	sa, okA := broadcastStrides(inputs[0].RawShape, out)
	sb, okB := broadcastStrides(inputs[1].RawShape, out)
	if !okA || !okB {
		return stock(backend, n, inputs, owned)
	}
	dims, st := coalesce(out, sa, sb)
	sa, sb = st[0], st[1]
	o, err := output(backend, n, inputs, owned, 1, 0)
	if err != nil {
		return nil, err
	}
	y, _ := float32s(o)
	rank := len(dims)
	row := dims[rank-1]
	aRow, bRow := sa[rank-1] != 0, sb[rank-1] != 0
	eachRow(dims[:rank-1], len(y)/row, row, func(r int, idx []int) {
		offA, offB := 0, 0
		for ax, i := range idx {
			offA += i * sa[ax]
			offB += i * sb[ax]
		}
		dst := y[r*row : (r+1)*row]
		switch {
		case aRow && bRow:
			op.vv(dst, a[offA:offA+row], b[offB:offB+row])
		case aRow:
			op.vs(dst, a[offA:offA+row], b[offB])
		case bRow:
			op.sv(dst, a[offA], b[offB:offB+row])
		default: // both single values along the row
			op.vs(dst[:1], a[offA:offA+1], b[offB])
			for i := 1; i < row; i++ {
				dst[i] = dst[0]
			}
		}
	})
	handled[n.OpType].Add(1)
	return o, nil
}

// reduceSum and reduceMax take float32 reductions whose reduced axes are
// contiguous once axes of size 1 are set aside: the input is then
// [outer, R, inner] and the output [outer, inner].
func reduceSum(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	return reduce(backend, n, inputs, owned, 0, vecmath.Add, sumRows)
}

func reduceMax(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	lowest, ok := dtypes.Float32.LowestValue().(float32)
	if !ok {
		return stockReduce(backend, n, inputs, owned)
	}
	return reduce(backend, n, inputs, owned, lowest, maxInto, maxRows)
}

// maxInto sets dst[i] = max(a[i], b[i]) (Go's max: NaN wins, +0 over -0,
// as the stock kernel computes it).
func maxInto(dst, a, b []float32) {
	b = b[:len(a)]
	for i, x := range a {
		dst[i] = max(x, b[i])
	}
}

// sumRows sets dst[o] = ((0 + x[o,0]) + x[o,1]) + … for rows of x of length
// r: one sequential chain per row, as stock sums, four rows interleaved so
// the chains' latencies overlap.
func sumRows(dst, x []float32, r int) {
	o := 0
	for ; o+4 <= len(dst); o += 4 {
		x0, x1, x2, x3 := x[o*r:(o+1)*r], x[(o+1)*r:(o+2)*r], x[(o+2)*r:(o+3)*r], x[(o+3)*r:(o+4)*r]
		var s0, s1, s2, s3 float32
		for j := range x0 {
			s0 += x0[j]
			s1 += x1[j]
			s2 += x2[j]
			s3 += x3[j]
		}
		dst[o], dst[o+1], dst[o+2], dst[o+3] = s0, s1, s2, s3
	}
	for ; o < len(dst); o++ {
		var s float32
		for _, v := range x[o*r : (o+1)*r] {
			s += v
		}
		dst[o] = s
	}
}

func maxRows(dst, x []float32, r int) {
	lowest := dtypes.Float32.LowestValue().(float32)
	for o := range dst {
		m := lowest
		for _, v := range x[o*r : (o+1)*r] {
			m = max(m, v)
		}
		dst[o] = m
	}
}

func reduce(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool, init float32, combine func(dst, a, b []float32), rows func(dst, x []float32, r int)) (*buffer, error) {
	axes, ok := n.Data.([]int)
	if !ok || n.Shape.DType != dtypes.Float32 || len(inputs) != 1 || n.Shape.IsDynamic() {
		return stockReduce(backend, n, inputs, owned)
	}
	x, ok := float32s(inputs[0])
	in := inputs[0].RawShape.Dimensions
	if !ok || len(x) == 0 || n.Shape.Size() == 0 {
		return stockReduce(backend, n, inputs, owned)
	}
	reduced := make([]bool, len(in))
	for _, a := range axes {
		if a < 0 || a >= len(in) {
			return stockReduce(backend, n, inputs, owned)
		}
		reduced[a] = true
	}
	if len(axes) == 0 {
		for a := range reduced {
			reduced[a] = true
		}
	}
	// Split into [outer, R, inner]; phase 0 before the reduced block, 1 in
	// it, 2 after.
	outer, r, inner, phase := 1, 1, 1, 0
	for a, d := range in {
		if d == 1 {
			continue
		}
		switch {
		case reduced[a] && phase <= 1:
			phase = 1
			r *= d
		case reduced[a]:
			return stockReduce(backend, n, inputs, owned)
		case phase == 0:
			outer *= d
		default:
			phase = 2
			inner *= d
		}
	}
	o, err := getBuffer(backend, n.Shape)
	if err != nil {
		return nil, err
	}
	y, _ := float32s(o)
	if inner == 1 {
		vecmath.ParallelFor(outer, max(1, elementsPerTask/r), func(lo, hi int) {
			rows(y[lo:hi], x[lo*r:hi*r], r)
		})
	} else {
		// Columns in blocks that stay in L1 while R rows are added in.
		const block = 1024
		blocks := (inner + block - 1) / block
		vecmath.ParallelFor(outer*blocks, max(1, elementsPerTask/(r*min(inner, block))), func(lo, hi int) {
			for t := lo; t < hi; t++ {
				ob, j0 := t/blocks, (t%blocks)*block
				j1 := min(inner, j0+block)
				dst := y[ob*inner+j0 : ob*inner+j1]
				for j := range dst {
					dst[j] = init
				}
				for k := range r {
					src := x[(ob*r+k)*inner+j0 : (ob*r+k)*inner+j1]
					combine(dst, dst, src)
				}
			}
		})
	}
	handled[n.OpType].Add(1)
	return o, nil
}

// padData mirrors ops.padNode.
type padData struct{ axesConfig []compute.PadAxis }

var padType dataType

// pad of a float32 tensor without interior or negative padding (the
// gradient of a Slice: the q/k/v split's, every layer): the output filled
// with the pad value, then the operand's rows copied in, in parallel.
func pad(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) (*buffer, error) {
	d, ok := dataAs[padData](n.Data, "*ops.padNode", &padType)
	if !ok || n.Shape.DType != dtypes.Float32 || len(inputs) != 2 || n.Shape.Size() == 0 || n.Shape.IsDynamic() {
		return stockPad(backend, n, inputs, owned)
	}
	in, out := inputs[0].RawShape.Dimensions, n.Shape.Dimensions
	rank := len(out)
	x, okX := float32s(inputs[0])
	fill, okF := float32s(inputs[1])
	if !okX || !okF || len(fill) != 1 || rank == 0 || len(in) != rank || len(d.axesConfig) != rank || len(x) == 0 {
		return stockPad(backend, n, inputs, owned)
	}
	start := make([]int, rank)
	for ax, c := range d.axesConfig {
		if c.Interior != 0 || c.Start < 0 || c.End < 0 || in[ax]+c.Start+c.End != out[ax] {
			return stockPad(backend, n, inputs, owned)
		}
		start[ax] = c.Start
	}
	o, err := getBuffer(backend, n.Shape)
	if err != nil {
		return nil, err
	}
	y, _ := float32s(o)
	v := fill[0]
	vecmath.ParallelFor(len(y), elementsPerTask, func(lo, hi int) {
		part := y[lo:hi]
		if v == 0 && !math.Signbit(float64(v)) {
			clear(part)
			return
		}
		for i := range part {
			part[i] = v
		}
	})
	outStride := make([]int, rank)
	s := 1
	for ax := rank - 1; ax >= 0; ax-- {
		outStride[ax] = s
		s *= out[ax]
	}
	row := in[rank-1]
	eachRow(in[:rank-1], len(x)/row, row, func(r int, idx []int) {
		dst := start[rank-1]
		for ax, i := range idx {
			dst += (start[ax] + i) * outStride[ax]
		}
		copy(y[dst:dst+row], x[r*row:(r+1)*row])
	})
	handled[n.OpType].Add(1)
	return o, nil
}
