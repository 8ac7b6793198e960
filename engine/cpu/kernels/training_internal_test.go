//go:build !nokernels

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

// TestTrainingOpsMatchStock runs glia's kernel and compute's stock
// executor on the same node and inputs and wants the same bits (NaN for
// NaN; exp: within 3e-7 relative, infinities and zeros exact), for the
// reductions, broadcasts, pads and element-wise functions a backward pass
// runs, and glia's kernel to have taken the case (or left it to stock
// where it should).
func TestTrainingOpsMatchStock(t *testing.T) {
	be, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	if r := Install(be); len(r.Installed) < 2 {
		t.Skip(r.String())
	}
	bp := (*eface)(unsafe.Pointer(&be)).data
	f32 := func(d ...int) shapes.Shape { return shapes.Make(dtypes.Float32, d...) }
	x3 := f32(4, 6, 40)
	type c struct {
		name        string
		op          compute.OpType
		ours, stock executor
		data        any
		out         shapes.Shape
		in          []shapes.Shape
		glia        bool // glia's kernel takes it
	}
	cases := []c{
		{"sum leading", compute.OpTypeReduceSum, reduceSum, stockReduce, []int{0, 1}, f32(40), []shapes.Shape{x3}, true},
		{"sum trailing", compute.OpTypeReduceSum, reduceSum, stockReduce, []int{2}, f32(4, 6), []shapes.Shape{x3}, true},
		{"sum middle", compute.OpTypeReduceSum, reduceSum, stockReduce, []int{1}, f32(4, 40), []shapes.Shape{x3}, true},
		{"sum all", compute.OpTypeReduceSum, reduceSum, stockReduce, []int{}, f32(), []shapes.Shape{x3}, true},
		{"sum unit axes", compute.OpTypeReduceSum, reduceSum, stockReduce, []int{0, 1, 2}, f32(40), []shapes.Shape{f32(1, 6, 1, 40)}, true},
		{"sum wide columns", compute.OpTypeReduceSum, reduceSum, stockReduce, []int{0}, f32(2500), []shapes.Shape{f32(3, 2500)}, true},
		{"sum odd rows", compute.OpTypeReduceSum, reduceSum, stockReduce, []int{1}, f32(7), []shapes.Shape{f32(7, 33)}, true},
		{"sum split axes", compute.OpTypeReduceSum, reduceSum, stockReduce, []int{0, 2}, f32(6), []shapes.Shape{x3}, false},
		{"max trailing", compute.OpTypeReduceMax, reduceMax, stockReduce, []int{2}, f32(4, 6), []shapes.Shape{x3}, true},
		{"max leading", compute.OpTypeReduceMax, reduceMax, stockReduce, []int{0}, f32(6, 40), []shapes.Shape{x3}, true},
		{"sub same", compute.OpTypeSub, sub, stockSub, nil, x3, []shapes.Shape{x3, x3}, true},
		{"sub column", compute.OpTypeSub, sub, stockSub, nil, x3, []shapes.Shape{x3, f32(4, 6, 1)}, true},
		{"sub from column", compute.OpTypeSub, sub, stockSub, nil, x3, []shapes.Shape{f32(4, 6, 1), x3}, true},
		{"sub row", compute.OpTypeSub, sub, stockSub, nil, x3, []shapes.Shape{x3, f32(1, 1, 40)}, true},
		{"sub middle", compute.OpTypeSub, sub, stockSub, nil, x3, []shapes.Shape{x3, f32(4, 1, 40)}, true},
		{"sub scalar", compute.OpTypeSub, sub, stockSub, nil, x3, []shapes.Shape{f32(), x3}, true},
		{"sub both broadcast", compute.OpTypeSub, sub, stockSub, nil, x3, []shapes.Shape{f32(4, 1, 40), f32(1, 6, 1)}, true},
		{"div column", compute.OpTypeDiv, div, stockDiv, nil, x3, []shapes.Shape{x3, f32(4, 6, 1)}, true},
		{"div by scalar", compute.OpTypeDiv, div, stockDiv, nil, x3, []shapes.Shape{x3, f32()}, true},
		{"div scalar by", compute.OpTypeDiv, div, stockDiv, nil, x3, []shapes.Shape{f32(1, 1, 1), x3}, true},
		{"add column", compute.OpTypeAdd, add, stockAdd, nil, x3, []shapes.Shape{x3, f32(4, 6, 1)}, true},
		{"add middle", compute.OpTypeAdd, add, stockAdd, nil, x3, []shapes.Shape{f32(4, 1, 40), x3}, true},
		{"mul column", compute.OpTypeMul, mul, stockMul, nil, x3, []shapes.Shape{f32(4, 6, 1), x3}, true},
		{"mul both broadcast", compute.OpTypeMul, mul, stockMul, nil, x3, []shapes.Shape{f32(4, 6, 1), f32(1, 1, 40)}, true},
		{"exp", compute.OpTypeExp, ours[compute.OpTypeExp], stockExp, nil, x3, []shapes.Shape{x3}, true},
		{"log", compute.OpTypeLog, ours[compute.OpTypeLog], stockLog, nil, x3, []shapes.Shape{x3}, true},
		{"tanh", compute.OpTypeTanh, ours[compute.OpTypeTanh], stockTanh, nil, x3, []shapes.Shape{x3}, true},
		{"sqrt", compute.OpTypeSqrt, ours[compute.OpTypeSqrt], stockSqrt, nil, x3, []shapes.Shape{x3}, true},
		{"rsqrt", compute.OpTypeRsqrt, ours[compute.OpTypeRsqrt], stockRsqrt, nil, x3, []shapes.Shape{x3}, true},
		{"neg", compute.OpTypeNeg, ours[compute.OpTypeNeg], stockNeg, nil, x3, []shapes.Shape{x3}, true},
	}
	// Big enough for several parallel chunks.
	big := f32(64, 128, 48)
	cases = append(cases,
		c{"big sum leading", compute.OpTypeReduceSum, reduceSum, stockReduce, []int{0, 1}, f32(48), []shapes.Shape{big}, true},
		c{"big sum trailing", compute.OpTypeReduceSum, reduceSum, stockReduce, []int{2}, f32(64, 128), []shapes.Shape{big}, true},
		c{"big sub column", compute.OpTypeSub, sub, stockSub, nil, big, []shapes.Shape{big, f32(64, 128, 1)}, true},
		c{"big exp", compute.OpTypeExp, ours[compute.OpTypeExp], stockExp, nil, big, []shapes.Shape{big}, true})
	pads := []struct {
		in  shapes.Shape
		cfg []compute.PadAxis
	}{
		{f32(4, 6, 40), []compute.PadAxis{{}, {}, {Start: 40, End: 80}}},
		{f32(4, 6, 40), []compute.PadAxis{{Start: 1}, {End: 2}, {Start: 3, End: 1}}},
		{f32(4, 6, 40), []compute.PadAxis{{}, {}, {Start: 1, Interior: 1}}}, // interior: stock
		{f32(64, 128, 48), []compute.PadAxis{{}, {}, {Start: 48, End: 96}}},
	}
	for _, p := range pads {
		fn := be.Builder("pad").Main()
		x, err := fn.Parameter("x", p.in, nil)
		if err != nil {
			t.Fatal(err)
		}
		zero, err := fn.Constant([]float32{0})
		if err != nil {
			t.Fatal(err)
		}
		v, err := fn.Pad(x, zero, p.cfg...)
		if err != nil {
			t.Fatal(err)
		}
		pn := (*node)((*eface)(unsafe.Pointer(&v)).data)
		took := true
		for _, c := range p.cfg {
			took = took && c.Interior == 0 && c.Start >= 0
		}
		cases = append(cases, c{fmt.Sprintf("pad %v %v", p.in, p.cfg), compute.OpTypePad, pad, stockPad, pn.Data, pn.Shape, []shapes.Shape{p.in, f32()}, took})
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ins := make([]*buffer, len(tc.in))
			for i, s := range tc.in {
				if ins[i], err = getBuffer(bp, s); err != nil {
					t.Fatal(err)
				}
				v := ins[i].Flat.([]float32)[:s.Size()]
				for j := range v {
					v[j] = float32(r.NormFloat64() * 3)
				}
				// Signed zeros, infinities and NaN where there is room.
				if len(v) == 1 && tc.op == compute.OpTypePad {
					v[0] = 0.5 // the pad value the node was built with is not read
				}
				if len(v) > 8 {
					v[1], v[3], v[5], v[7] = float32(math.Copysign(0, -1)), 0, float32(math.Inf(1)), float32(math.NaN())
				}
			}
			n := &node{OpType: tc.op, Shape: tc.out, Data: tc.data}
			call := func(fn executor) []float32 {
				o, err := fn(bp, n, append([]*buffer(nil), ins...), make([]bool, len(ins)))
				if err != nil {
					t.Fatal(err)
				}
				return append([]float32(nil), o.Flat.([]float32)[:tc.out.Size()]...)
			}
			want := call(tc.stock)
			before := Handled(tc.op)
			got := call(tc.ours)
			if took := Handled(tc.op) > before; took != tc.glia {
				t.Errorf("glia's kernel took it: %v, want %v", took, tc.glia)
			}
			for i := range want {
				w, g := want[i], got[i]
				if tc.op == compute.OpTypeExp && !math.IsInf(float64(w), 0) && w != 0 && math.Abs(float64(g-w)) <= 3e-7*math.Abs(float64(w)) {
					continue
				}
				if math.Float32bits(w) != math.Float32bits(g) && !(w != w && g != g) {
					t.Fatalf("element %d of %d: glia %g (%#x), stock %g (%#x)", i, len(want), g, math.Float32bits(g), w, math.Float32bits(w))
				}
			}
		})
	}
}

// TestSIMDRowsBitIdentical runs the SIMD rows against the scalar float32
// expressions they replace, bit for bit, for lengths around the 8-lane
// vectors and with signed zeros, infinities, NaN and subnormals among the
// values.
func TestSIMDRowsBitIdentical(t *testing.T) {
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-40, -3e-39, 2, -0.5}
	r := rand.New(rand.NewPCG(9, 10))
	val := func(i int) float32 {
		if i%3 == 0 {
			return special[r.IntN(len(special))]
		}
		return float32(r.NormFloat64() * 100)
	}
	scalar := map[rowOp]func(x, y float32) float32{
		opAdd: func(x, y float32) float32 { return x + y },
		opSub: func(x, y float32) float32 { return x - y },
		opDiv: func(x, y float32) float32 { return x / y },
	}
	same := func(a, b float32) bool {
		return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
	}
	for n := range 20 {
		a, b, dst := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = val(i), val(i+1)
		}
		c := val(0)
		for op, f := range scalar {
			if !rowVV(op, dst, a, b) {
				t.Skip("no SIMD rows in this build")
			}
			for i := range dst {
				if !same(dst[i], f(a[i], b[i])) {
					t.Fatalf("op %d n %d: %g vs %g -> %g, scalar %g", op, n, a[i], b[i], dst[i], f(a[i], b[i]))
				}
			}
			for _, cFirst := range []bool{false, true} {
				rowVS(op, dst, a, c, cFirst)
				for i := range dst {
					want := f(a[i], c)
					if cFirst {
						want = f(c, a[i])
					}
					if !same(dst[i], want) {
						t.Fatalf("op %d n %d c %g first %v: %g -> %g, scalar %g", op, n, c, cFirst, a[i], dst[i], want)
					}
				}
			}
		}
		for op, f := range map[rowOp]func(float32) float32{
			opSqrt: func(x float32) float32 { return float32(math.Sqrt(float64(x))) },
			opNeg:  func(x float32) float32 { return -x },
		} {
			rowUnary(op, dst, a)
			for i := range dst {
				if !same(dst[i], f(a[i])) {
					t.Fatalf("unary op %d n %d: %g -> %g, scalar %g", op, n, a[i], dst[i], f(a[i]))
				}
			}
		}
	}
}
