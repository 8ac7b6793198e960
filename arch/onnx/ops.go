package onnx

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/glia-dev/glia/arch"
	fonnx "github.com/glia-dev/glia/format/onnx"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
)

// call is one node being built: its attributes and argument values.
type call struct {
	node  fonnx.NodeDesc
	args  []value
	opset int64
}

type opFn func(c *call) []value

// ops are the operators the family runs, with ONNX semantics for the
// opsets (7 to 21) whose differences these ops span: attributes that
// became inputs (Clip's bounds in 11, Slice's in 10, Unsqueeze's axes in
// 13) are read from either.
var ops map[string]opFn

func init() {
	unary := func(f func(*Node) *Node) opFn {
		return func(c *call) []value { return one(f(c.in(0))) }
	}
	ops = map[string]opFn{
		"Conv":               conv,
		"BatchNormalization": batchNorm,
		"Relu":               unary(func(x *Node) *Node { return Max(x, ZerosLike(x)) }),
		"Sigmoid":            unary(Sigmoid),
		"Tanh":               unary(Tanh),
		"LeakyRelu": func(c *call) []value {
			x, a := c.in(0), c.float("alpha", 0.01)
			return one(Where(GreaterThan(x, ZerosLike(x)), x, MulScalar(x, a)))
		},
		"HardSigmoid": func(c *call) []value {
			return one(ClipScalar(AddScalar(MulScalar(c.in(0), c.float("alpha", 0.2)), c.float("beta", 0.5)), 0, 1))
		},
		"HardSwish": func(c *call) []value {
			x := c.in(0)
			return one(Mul(x, ClipScalar(AddScalar(MulScalar(x, 1.0/6), 0.5), 0, 1)))
		},
		"Identity": func(c *call) []value { return []value{c.args[0]} },
		"Dropout":  func(c *call) []value { return []value{c.args[0]} }, // inference: the identity
		"Clip":     clip,
		"Add":      binary(Add, func(a, b float64) float64 { return a + b }),
		"Sub":      binary(Sub, func(a, b float64) float64 { return a - b }),
		"Mul":      binary(Mul, func(a, b float64) float64 { return a * b }),
		"Div":      binary(Div, divide),
		"GlobalAveragePool": func(c *call) []value {
			return one(ReduceAndKeep(c.image(0), ReduceMean, 2, 3))
		},
		"GlobalMaxPool": func(c *call) []value {
			x := c.image(0)
			d := x.Shape().Dimensions
			return one(Reshape(arch.FirstMax(Reshape(x, d[0], d[1], d[2]*d[3]), 2), d[0], d[1], 1, 1))
		},
		"MaxPool":     func(c *call) []value { return one(pool(c, true)) },
		"AveragePool": func(c *call) []value { return one(pool(c, false)) },
		"ReduceMean":  reduceMean,
		"Flatten": func(c *call) []value {
			x := c.in(0)
			d := x.Shape().Dimensions
			axis := normAxis(int(c.int("axis", 1)), len(d)+1)
			return one(Reshape(x, prod(d[:axis]), prod(d[axis:])))
		},
		"Reshape":   reshape,
		"Transpose": transpose,
		"MatMul":    func(c *call) []value { return one(MatMul(c.in(0), c.in(1))) },
		"Gemm":      gemm,
		"Softmax":   softmax,
		"Shape":     shapeOf,
		"Cast":      cast,
		"Slice":     slice,
		"Concat":    concat,
		"Gather":    gather,
		"Unsqueeze": func(c *call) []value { return squeeze(c, true) },
		"Squeeze":   func(c *call) []value { return squeeze(c, false) },
	}
}

// Supported lists the operators the family runs.
func Supported() []string {
	names := make([]string, 0, len(ops))
	for n := range ops {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func one(n *Node) []value { return []value{{n: n}} }

// in is argument i as a graph node; a host constant becomes a float32
// constant of the graph the node's other arguments live in.
func (c *call) in(i int) *Node {
	if i >= len(c.args) || (c.args[i].n == nil && c.args[i].c == nil) {
		panic(fmt.Errorf("input %d is missing", i))
	}
	if v := c.args[i]; v.n != nil {
		return v.n
	}
	for _, v := range c.args {
		if v.n != nil {
			return constNode(v.n.Graph(), c.args[i].c)
		}
	}
	panic(fmt.Errorf("every input is a constant, and constant folding of %s is not supported", c.node.Op))
}

// image is argument i, which must be [batch, channels, h, w].
func (c *call) image(i int) *Node {
	x := c.in(i)
	if x.Rank() != 4 {
		panic(fmt.Errorf("input %d is %v; want [batch, channels, height, width]", i, x.Shape().Dimensions))
	}
	return x
}

// constant is argument i as a host constant (shapes, axes, bounds).
func (c *call) constant(i int) *fonnx.Constant {
	if i >= len(c.args) || c.args[i].c == nil {
		panic(fmt.Errorf("input %d (%q) must be a constant here: glia builds graphs of fixed shape", i, c.inputName(i)))
	}
	return c.args[i].c
}

func (c *call) has(i int) bool { return i < len(c.args) && (c.args[i].n != nil || c.args[i].c != nil) }

func (c *call) inputName(i int) string {
	if i < len(c.node.Inputs) {
		return c.node.Inputs[i]
	}
	return ""
}

func (c *call) int(name string, def int64) int64 {
	if a, ok := c.node.Attrs[name]; ok {
		return a.I
	}
	return def
}

func (c *call) float(name string, def float64) float64 {
	if a, ok := c.node.Attrs[name]; ok {
		return float64(a.F)
	}
	return def
}

// ints reads an integer-list attribute of length n (any length when n < 0).
func (c *call) ints(name string, n int, def ...int) []int {
	a, ok := c.node.Attrs[name]
	if !ok {
		return def
	}
	if n >= 0 && len(a.Ints) != n {
		panic(fmt.Errorf("attribute %s has %d values, want %d", name, len(a.Ints), n))
	}
	out := make([]int, len(a.Ints))
	for i, v := range a.Ints {
		if v < math.MinInt32 || v > math.MaxInt32 {
			panic(fmt.Errorf("attribute %s: %d is out of range", name, v))
		}
		out[i] = int(v)
	}
	return out
}

// intList reads a 1-d constant input of integers (axes, shapes).
func intList(k *fonnx.Constant) []int {
	if len(k.Dims) > 1 {
		panic(fmt.Errorf("want a 1-d list, got dims %v", k.Dims))
	}
	out := make([]int, len(k.Values))
	for i, v := range k.Values {
		out[i] = int(max(min(v, math.MaxInt32), math.MinInt32)) // INT64_MAX ends mean "to the end"
	}
	return out
}

func constNode(g *Graph, k *fonnx.Constant) *Node {
	v := make([]float32, len(k.Values))
	for i, x := range k.Values {
		v[i] = float32(x)
	}
	if len(k.Dims) == 0 {
		return Const(g, v[0])
	}
	return Reshape(Const(g, v), k.Dims...)
}

func prod(d []int) int {
	n := 1
	for _, x := range d {
		n *= x
	}
	return n
}

func normAxis(a, rank int) int {
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		panic(fmt.Errorf("axis %d is out of range for rank %d", a, rank))
	}
	return a
}

func divide(a, b float64) float64 {
	if b == 0 {
		panic(fmt.Errorf("integer division by zero in a constant"))
	}
	return a / b
}

// binary is an elementwise operator with numpy broadcasting; on two host
// constants it computes on the host (shape arithmetic), truncating
// integer division as ONNX does.
func binary(op func(a, b *Node) *Node, host func(a, b float64) float64) opFn {
	return func(c *call) []value {
		if a, b := c.args[0].c, c.args[1].c; a != nil && b != nil {
			return []value{{c: hostBinary(a, b, host, c.node.Op == "Div")}}
		}
		a, b := broadcast(c.in(0), c.in(1))
		return one(op(a, b))
	}
}

func hostBinary(a, b *fonnx.Constant, f func(a, b float64) float64, div bool) *fonnx.Constant {
	if len(b.Values) == 1 && len(a.Values) != 1 || len(a.Values) == len(b.Values) && slices.Equal(a.Dims, b.Dims) {
		out := &fonnx.Constant{Dims: a.Dims, Float: a.Float || b.Float}
		for i, x := range a.Values {
			y := f(x, b.Values[min(i, len(b.Values)-1)])
			if div && !out.Float {
				y = math.Trunc(y)
			}
			out.Values = append(out.Values, y)
		}
		return out
	}
	if len(a.Values) == 1 {
		return hostBinary(b, a, func(x, y float64) float64 { return f(y, x) }, div)
	}
	panic(fmt.Errorf("constants of dims %v and %v do not broadcast (host arithmetic supports scalars and equal shapes)", a.Dims, b.Dims))
}

// broadcast applies numpy's rule: align trailing axes, stretch 1s.
func broadcast(a, b *Node) (*Node, *Node) {
	da, db := a.Shape().Dimensions, b.Shape().Dimensions
	r := max(len(da), len(db))
	pad := func(d []int) []int { return append(slices.Repeat([]int{1}, r-len(d)), d...) }
	pa, pb := pad(da), pad(db)
	out := make([]int, r)
	for i := range r {
		switch {
		case pa[i] == pb[i], pb[i] == 1:
			out[i] = pa[i]
		case pa[i] == 1:
			out[i] = pb[i]
		default:
			panic(fmt.Errorf("shapes %v and %v do not broadcast", da, db))
		}
	}
	fit := func(x *Node, p []int) *Node {
		if x.Rank() != len(p) {
			x = Reshape(x, p...)
		}
		if !slices.Equal(p, out) {
			x = BroadcastToDims(x, out...)
		}
		return x
	}
	return fit(a, pa), fit(b, pb)
}

func clip(c *call) []value {
	x := c.in(0)
	lo, hi := c.float("min", -math.MaxFloat32), c.float("max", math.MaxFloat32)
	bound := func(i int, def float64) float64 {
		if !c.has(i) {
			return def
		}
		k := c.constant(i)
		if len(k.Values) != 1 {
			panic(fmt.Errorf("Clip bound %d has %d values, want a scalar", i, len(k.Values)))
		}
		return k.Values[0]
	}
	lo, hi = bound(1, lo), bound(2, hi)
	return one(ClipScalar(x, lo, hi))
}

func batchNorm(c *call) []value {
	x := c.in(0)
	if x.Rank() < 2 {
		panic(fmt.Errorf("input is %v; want [batch, channels, …]", x.Shape().Dimensions))
	}
	ch := x.Shape().Dimensions[1]
	at := func(i int) *Node {
		p := c.in(i)
		if p.Shape().Size() != ch {
			panic(fmt.Errorf("input %d has %d values for %d channels", i, p.Shape().Size(), ch))
		}
		d := slices.Repeat([]int{1}, x.Rank())
		d[1] = ch
		return BroadcastToDims(Reshape(p, d...), x.Shape().Dimensions...)
	}
	y := Div(Sub(x, at(3)), Sqrt(AddScalar(at(4), c.float("epsilon", 1e-5))))
	return one(Add(Mul(y, at(1)), at(2)))
}

// window reads the spatial attributes of Conv and the pools for a kernel
// of kh×kw over x [b, c, h, w]: strides, pads [top, left, bottom, right]
// and the output size.
func (c *call) window(x *Node, kh, kw int) (s, p [4]int, oh, ow int) {
	if ap, ok := c.node.Attrs["auto_pad"]; ok && ap.S != "NOTSET" && ap.S != "VALID" && ap.S != "" {
		panic(fmt.Errorf("auto_pad %s is not supported (give explicit pads)", ap.S))
	}
	if d := c.ints("dilations", 2, 1, 1); d[0] != 1 || d[1] != 1 {
		panic(fmt.Errorf("dilations %v: only 1 is supported", d))
	}
	if c.int("ceil_mode", 0) != 0 {
		panic(fmt.Errorf("ceil_mode 1 is not supported"))
	}
	st := c.ints("strides", 2, 1, 1)
	pd := c.ints("pads", 4, 0, 0, 0, 0)
	copy(s[:], st)
	copy(p[:], pd)
	d := x.Shape().Dimensions
	if s[0] < 1 || s[1] < 1 || slices.Min(pd) < 0 || p[0] >= kh || p[2] >= kh || p[1] >= kw || p[3] >= kw {
		panic(fmt.Errorf("strides %v, pads %v for a %d×%d kernel: want strides ≥ 1 and pads smaller than the kernel", st, pd, kh, kw))
	}
	oh, ow = (d[2]+p[0]+p[2]-kh)/s[0]+1, (d[3]+p[1]+p[3]-kw)/s[1]+1
	if kh < 1 || kw < 1 || oh < 1 || ow < 1 {
		panic(fmt.Errorf("a %d×%d kernel does not fit the padded %d×%d input", kh, kw, d[2]+p[0]+p[2], d[3]+p[1]+p[3]))
	}
	return s, p, oh, ow
}

// conv is a grouped 2-d convolution as im2col and matrix products (the
// cnn family's method, which runs the product on the engine's matmul
// kernels): one product for group 1, a multiply-and-sum over the window
// for depthwise (one channel per group), a batched product otherwise.
func conv(c *call) []value {
	x, w := c.image(0), c.in(1)
	d, wd := x.Shape().Dimensions, w.Shape().Dimensions
	g := int(c.int("group", 1))
	if len(wd) != 4 || g < 1 || d[1] != wd[1]*g || wd[0]%g != 0 {
		panic(fmt.Errorf("input %v, kernel %v, group %d: want kernel [out, in/group, kh, kw] with out divisible by group", d, wd, g))
	}
	if k := c.ints("kernel_shape", 2, wd[2], wd[3]); k[0] != wd[2] || k[1] != wd[3] {
		panic(fmt.Errorf("kernel_shape %v disagrees with the kernel %v", k, wd))
	}
	out, kh, kw := wd[0], wd[2], wd[3]
	s, p, oh, ow := c.window(x, kh, kw)
	b, ch := d[0], d[1]
	var y *Node
	switch cg, og := ch/g, out/g; {
	case kh == 1 && kw == 1 && s == [4]int{1, 1} && p == [4]int{} && g == 1:
		y = DotGeneral(x, []int{1}, nil, Reshape(w, out, ch), []int{1}, nil) // [b, h, w, out]
		y = TransposeAllAxes(y, 0, 3, 1, 2)
	case g == 1:
		cols := Reshape(arch.Windows(arch.Padded(x, p, 0), kh, kw, s[0], s[1], oh, ow), b, ch*kh*kw, oh, ow)
		y = TransposeAllAxes(DotGeneral(cols, []int{1}, nil, Reshape(w, out, ch*kh*kw), []int{1}, nil), 0, 3, 1, 2)
	case cg == 1 && og == 1:
		cols := arch.Windows(arch.Padded(x, p, 0), kh, kw, s[0], s[1], oh, ow) // [b, c, k², oh, ow]
		k := BroadcastToDims(Reshape(w, 1, ch, kh*kw, 1, 1), b, ch, kh*kw, oh, ow)
		y = ReduceSum(Mul(cols, k), 2)
	default:
		cols := Reshape(arch.Windows(arch.Padded(x, p, 0), kh, kw, s[0], s[1], oh, ow), b, g, cg*kh*kw, oh, ow)
		y = DotGeneral(cols, []int{2}, []int{1}, Reshape(w, g, og, cg*kh*kw), []int{2}, []int{0}) // [g, b, oh, ow, og]
		y = Reshape(TransposeAllAxes(y, 1, 0, 4, 2, 3), b, out, oh, ow)
	}
	if c.has(2) {
		bias := c.in(2)
		if bias.Shape().Size() != out {
			panic(fmt.Errorf("bias has %d values for %d output channels", bias.Shape().Size(), out))
		}
		y = Add(y, BroadcastToDims(Reshape(bias, 1, out, 1, 1), b, out, oh, ow))
	}
	return one(y)
}

// pool is max or average pooling. Max pooling pads with the lowest float
// (ONNX ignores padding) and routes its gradient to each window's first
// maximum; average pooling divides by the count of real
// pixels in each window unless count_include_pad is set.
func pool(c *call, isMax bool) *Node {
	x := c.image(0)
	k := c.ints("kernel_shape", 2)
	if len(k) != 2 {
		panic(fmt.Errorf("kernel_shape %v: want two sides", k))
	}
	s, p, oh, ow := c.window(x, k[0], k[1])
	if isMax {
		return arch.FirstMax(arch.Windows(arch.Padded(x, p, -math.MaxFloat32), k[0], k[1], s[0], s[1], oh, ow), 2)
	}
	sum := ReduceSum(arch.Windows(arch.Padded(x, p, 0), k[0], k[1], s[0], s[1], oh, ow), 2)
	d := x.Shape().Dimensions
	count := make([]float32, oh*ow)
	for i := range oh {
		for j := range ow {
			y0, x0 := i*s[0]-p[0], j*s[1]-p[1]
			n := (min(y0+k[0], d[2]) - max(y0, 0)) * (min(x0+k[1], d[3]) - max(x0, 0))
			if c.int("count_include_pad", 0) != 0 {
				n = k[0] * k[1]
			}
			count[i*ow+j] = float32(n)
		}
	}
	return Div(sum, BroadcastToDims(Reshape(Const(x.Graph(), count), 1, 1, oh, ow), d[0], d[1], oh, ow))
}

func reduceMean(c *call) []value {
	x := c.in(0)
	axes := c.ints("axes", -1)
	if c.has(1) {
		axes = intList(c.constant(1))
	}
	if len(axes) == 0 {
		for i := range x.Rank() {
			axes = append(axes, i)
		}
	}
	for i := range axes {
		axes[i] = normAxis(axes[i], x.Rank())
	}
	if c.int("keepdims", 1) != 0 {
		return one(ReduceAndKeep(x, ReduceMean, axes...))
	}
	return one(ReduceMean(x, axes...))
}

func reshape(c *call) []value {
	x := c.in(0)
	want := intList(c.constant(1))
	d := x.Shape().Dimensions
	infer := -1
	for i, v := range want {
		switch {
		case v == 0 && c.int("allowzero", 0) == 0:
			if i >= len(d) {
				panic(fmt.Errorf("shape %v copies axis %d of %v", want, i, d))
			}
			want[i] = d[i]
		case v == -1 && infer < 0:
			infer = i
		case v < 0:
			panic(fmt.Errorf("shape %v has a bad entry %d", want, v))
		}
	}
	if infer >= 0 {
		want[infer] = 1
		if r := prod(want); r > 0 && prod(d)%r == 0 {
			want[infer] = prod(d) / r
		}
	}
	if prod(want) != prod(d) {
		panic(fmt.Errorf("cannot reshape %v to %v", d, want))
	}
	return one(Reshape(x, want...))
}

func transpose(c *call) []value {
	x := c.in(0)
	perm := c.ints("perm", x.Rank())
	if perm == nil {
		for i := x.Rank() - 1; i >= 0; i-- {
			perm = append(perm, i)
		}
	}
	return one(TransposeAllAxes(x, perm...))
}

// gemm is alpha·A'·B' + beta·C with A' and B' optionally transposed.
func gemm(c *call) []value {
	a, b := c.in(0), c.in(1)
	if a.Rank() != 2 || b.Rank() != 2 {
		panic(fmt.Errorf("Gemm of %v and %v: want matrices", a.Shape().Dimensions, b.Shape().Dimensions))
	}
	ca, cb := 1, 0
	if c.int("transA", 0) != 0 {
		ca = 0
	}
	if c.int("transB", 0) != 0 {
		cb = 1
	}
	y := MulScalar(DotGeneral(a, []int{ca}, nil, b, []int{cb}, nil), c.float("alpha", 1))
	if c.has(2) {
		y, bias := broadcast(y, MulScalar(c.in(2), c.float("beta", 1)))
		return one(Add(y, bias))
	}
	return one(y)
}

// softmax: before opset 13 the input is coerced to 2-d at axis (default
// 1) and normalised over everything after it; from 13 over one axis
// (default -1).
func softmax(c *call) []value {
	x := c.in(0)
	d := x.Shape().Dimensions
	if c.opset < 13 {
		axis := normAxis(int(c.int("axis", 1)), len(d))
		flat := Reshape(x, prod(d[:axis]), prod(d[axis:]))
		return one(Reshape(Softmax(flat, 1), d...))
	}
	return one(Softmax(x, normAxis(int(c.int("axis", -1)), len(d))))
}

// The shape operators below work on host constants (a graph has fixed
// shapes here, so Shape is known while it is built) and, where that makes
// sense, on graph nodes too.

func shapeOf(c *call) []value {
	var d []int
	if k := c.args[0].c; k != nil {
		d = k.Dims
	} else {
		d = c.in(0).Shape().Dimensions
	}
	k := &fonnx.Constant{Dims: []int{len(d)}}
	for _, v := range d {
		k.Values = append(k.Values, float64(v))
	}
	return []value{{c: k}}
}

func cast(c *call) []value {
	to := fonnx.DataType(c.int("to", 0))
	if k := c.args[0].c; k != nil {
		out := &fonnx.Constant{Dims: k.Dims, Float: to.IsFloat()}
		for _, v := range k.Values {
			if !out.Float {
				v = math.Trunc(v)
			}
			out.Values = append(out.Values, v)
		}
		return []value{{c: out}}
	}
	if !to.IsFloat() {
		panic(fmt.Errorf("Cast of a computed tensor to type %d: only float is supported (integer casts of shapes are)", to))
	}
	return one(ConvertDType(c.in(0), dtypes.Float32))
}

// sliceSpec is the per-axis ranges of Slice: attributes before opset 10,
// inputs from it.
func sliceSpec(c *call, rank int) (axes, starts, ends, steps []int) {
	if c.opset < 10 {
		starts, ends = c.ints("starts", -1), c.ints("ends", -1)
		axes = c.ints("axes", -1)
	} else {
		starts, ends = intList(c.constant(1)), intList(c.constant(2))
		if c.has(3) {
			axes = intList(c.constant(3))
		}
		if c.has(4) {
			steps = intList(c.constant(4))
		}
	}
	if axes == nil {
		for i := range starts {
			axes = append(axes, i)
		}
	}
	if steps == nil {
		steps = slices.Repeat([]int{1}, len(starts))
	}
	if len(ends) != len(starts) || len(axes) != len(starts) || len(steps) != len(starts) {
		panic(fmt.Errorf("starts %v, ends %v, axes %v, steps %v differ in length", starts, ends, axes, steps))
	}
	for i := range axes {
		axes[i] = normAxis(axes[i], rank)
		if steps[i] != 1 && (steps[i] < 1 || c.args[0].c != nil) {
			panic(fmt.Errorf("step %d: only positive steps are supported (1 on constants)", steps[i]))
		}
	}
	return
}

// clampRange is numpy's reading of [start, end) on an axis of size n.
func clampRange(start, end, n int) (int, int) {
	fix := func(v int) int {
		if v < 0 {
			v += n
		}
		return min(max(v, 0), n)
	}
	s, e := fix(start), fix(end)
	return s, max(s, e)
}

func slice(c *call) []value {
	if k := c.args[0].c; k != nil {
		if len(k.Dims) != 1 {
			panic(fmt.Errorf("Slice of a %d-d constant: only 1-d constants (shapes) are sliced on the host", len(k.Dims)))
		}
		_, starts, ends, _ := sliceSpec(c, 1)
		s, e := clampRange(starts[0], ends[0], k.Dims[0])
		return []value{{c: &fonnx.Constant{Dims: []int{e - s}, Float: k.Float, Values: k.Values[s:e]}}}
	}
	x := c.in(0)
	d := x.Shape().Dimensions
	axes, starts, ends, steps := sliceSpec(c, len(d))
	spec := make([]SliceAxisSpec, len(d))
	for i := range spec {
		spec[i] = AxisRange()
	}
	for i, a := range axes {
		s, e := clampRange(starts[i], ends[i], d[a])
		if e <= s {
			panic(fmt.Errorf("axis %d: empty slice [%d, %d)", a, starts[i], ends[i]))
		}
		spec[a] = AxisRange(s, e).Stride(steps[i])
	}
	return one(Slice(x, spec...))
}

func concat(c *call) []value {
	allConst := true
	for _, v := range c.args {
		allConst = allConst && v.c != nil
	}
	if allConst {
		out := &fonnx.Constant{Dims: []int{0}}
		for _, v := range c.args {
			if len(v.c.Dims) != 1 {
				panic(fmt.Errorf("Concat of constants: only 1-d constants (shapes) are joined on the host"))
			}
			out.Values = append(out.Values, v.c.Values...)
			out.Float = out.Float || v.c.Float
		}
		out.Dims[0] = len(out.Values)
		return []value{{c: out}}
	}
	xs := make([]*Node, len(c.args))
	for i := range c.args {
		xs[i] = c.in(i)
	}
	return one(Concatenate(xs, normAxis(int(c.int("axis", 0)), xs[0].Rank())))
}

func gather(c *call) []value {
	data, idx := c.args[0].c, c.constant(1)
	if data == nil || len(data.Dims) != 1 || c.int("axis", 0) != 0 {
		panic(fmt.Errorf("Gather runs on 1-d constants (shapes) only"))
	}
	out := &fonnx.Constant{Dims: idx.Dims, Float: data.Float}
	for _, v := range idx.Values {
		i := int(v)
		if i < 0 {
			i += data.Dims[0] // negative indices count from the end
		}
		if i < 0 || i >= data.Dims[0] {
			panic(fmt.Errorf("index %v is out of range for %d values", v, data.Dims[0]))
		}
		out.Values = append(out.Values, data.Values[i])
	}
	return []value{{c: out}}
}

// squeeze inserts (Unsqueeze) or removes (Squeeze) axes of size 1.
func squeeze(c *call, insert bool) []value {
	var d []int
	k := c.args[0].c
	if k != nil {
		d = k.Dims
	} else {
		d = c.in(0).Shape().Dimensions
	}
	axes := c.ints("axes", -1)
	if c.has(1) {
		axes = intList(c.constant(1))
	}
	var out []int
	if insert {
		r := len(d) + len(axes)
		at := map[int]bool{}
		for _, a := range axes {
			at[normAxis(a, r)] = true
		}
		for i, j := 0, 0; i < r; i++ {
			if at[i] {
				out = append(out, 1)
			} else {
				out = append(out, d[j])
				j++
			}
		}
	} else {
		drop := map[int]bool{}
		for _, a := range axes {
			drop[normAxis(a, len(d))] = true
		}
		for i, v := range d {
			if (len(axes) == 0 && v == 1) || drop[i] {
				if v != 1 {
					panic(fmt.Errorf("Squeeze of axis %d of size %d", i, v))
				}
				continue
			}
			out = append(out, v)
		}
	}
	if out == nil {
		out = []int{}
	}
	if k != nil {
		return []value{{c: &fonnx.Constant{Dims: out, Float: k.Float, Values: k.Values}}}
	}
	return one(Reshape(c.in(0), out...))
}
