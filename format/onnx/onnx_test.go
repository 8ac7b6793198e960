package onnx

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/format"
	"google.golang.org/protobuf/encoding/protowire"
)

const ppocr = "../../testdata/onnx/ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx"

// TestRealModel reads PaddleOCR's classifier and checks what onnx.load
// shows of it (values printed by onnx.numpy_helper).
func TestRealModel(t *testing.T) {
	m, err := Open(ppocr)
	if err != nil {
		t.Fatal(err)
	}
	if m.Opset() != 9 || m.IRVersion != 8 || len(m.Graph.Nodes) != 471 {
		t.Fatalf("opset %d, ir %d, %d nodes; want 9, 8, 471", m.Opset(), m.IRVersion, len(m.Graph.Nodes))
	}
	d, src, err := m.Describe()
	if err != nil {
		t.Fatal(err)
	}
	if n := d.Nodes[0]; n.Index != 213 || n.Op != "Conv" || !slices.Equal(n.Attrs["strides"].Ints, []int64{2, 2}) || n.Attrs["group"].I != 1 {
		t.Errorf("first computing node %+v; want node 213, a Conv with strides [2 2] and group 1", n)
	}
	if in := d.Inputs[0]; in.Name != "x" || !slices.Equal(in.Dims, []int{-1, 3, -1, -1}) || in.Params[2] != "p2o.DynamicDimension.1" {
		t.Errorf("input %+v", in)
	}
	if len(src.Names()) != 213 || len(d.Nodes) != 221 || len(d.Constants) != 37 {
		t.Errorf("%d weights, %d nodes, %d constants; want 213, 221, 37", len(src.Names()), len(d.Nodes), len(d.Constants))
	}
	for _, c := range []struct {
		name  string
		dims  []int
		first []float32
	}{
		{"batch_norm_0.b_0", []int{8}, []float32{2.3099253177642822, 1.0519624948501587, 2.668311595916748}},
		{"conv2d_0.w_0", []int{8, 3, 3, 3}, []float32{-0.037830691784620285, -0.16586682200431824, -0.0670742616057396}},
		{"fc_0.w_0", []int{200, 2}, []float32{0.07701104879379272, -0.13949361443519592, 0.2302759885787964}},
	} {
		dims, _ := src.Shape(c.name)
		v, err := src.Float32(c.name)
		if err != nil || !slices.Equal(dims, c.dims) || !slices.Equal(v[:3], c.first) {
			t.Errorf("%s: dims %v, values %v…, err %v; want %v, %v", c.name, dims, v[:min(3, len(v))], err, c.dims, c.first)
		}
	}
	if k := d.Constants["p2o.helper.constant.0"]; len(k.Dims) != 0 || !slices.Equal(k.Values, []float64{6}) || !k.Float {
		t.Errorf("scalar constant %+v, want float 6", k)
	}
	if _, err := src.Float32("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("absent weight: %v", err)
	}
}

// The test files below are written field by field with protowire.

func fBytes(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

func fVarint(b []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

func tensorMsg(name string, dtype uint64, dims []uint64, raw []byte) []byte {
	var t []byte
	for _, d := range dims {
		t = fVarint(t, 1, d)
	}
	t = fVarint(t, 2, dtype)
	t = fBytes(t, 8, []byte(name))
	if raw != nil {
		t = fBytes(t, 9, raw)
	}
	return t
}

func f32s(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = protowire.AppendFixed32(b, math.Float32bits(x))
	}
	return b
}

// model wraps graph fields in a ModelProto with opset 13.
func model(graph ...[]byte) []byte {
	var g []byte
	for _, f := range graph {
		g = append(g, f...)
	}
	m := fVarint(nil, 1, 8)
	m = fBytes(m, 7, g)
	return fBytes(m, 8, fVarint(nil, 2, 13))
}

func node(name, op string, in, out []string, attrs ...[]byte) []byte {
	var n []byte
	for _, s := range in {
		n = fBytes(n, 1, []byte(s))
	}
	for _, s := range out {
		n = fBytes(n, 2, []byte(s))
	}
	n = fBytes(n, 3, []byte(name))
	n = fBytes(n, 4, []byte(op))
	for _, a := range attrs {
		n = fBytes(n, 5, a)
	}
	return fBytes(nil, 1, n)
}

func valueInfo(num protowire.Number, name string, dims ...uint64) []byte {
	var shape []byte
	for _, d := range dims {
		shape = fBytes(shape, 1, fVarint(nil, 1, d))
	}
	tt := fBytes(fVarint(nil, 1, 1), 2, shape)
	return fBytes(nil, num, fBytes(fBytes(nil, 1, []byte(name)), 2, fBytes(nil, 1, tt)))
}

// tiny is x [1, 2] → MatMul(w [2, 2]) → Add(b, float_data) with an
// int64 Constant, packed attribute ints and a float attribute.
func tiny() []byte {
	w := fBytes(nil, 5, tensorMsg("w", 1, []uint64{2, 2}, f32s(1, 2, 3, 4)))
	bias := tensorMsg("b", 1, []uint64{2}, nil)
	bias = fBytes(bias, 4, f32s(0.5, -0.5)) // packed float_data
	shape := fBytes(fBytes(nil, 1, []byte("value")), 5, tensorMsg("", 7, []uint64{2}, []byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}))
	alpha := fBytes(nil, 1, []byte("alpha"))
	alpha = protowire.AppendFixed32(protowire.AppendTag(alpha, 2, protowire.Fixed32Type), math.Float32bits(0.25))
	ints := fBytes(fBytes(nil, 1, []byte("perm")), 8, protowire.AppendVarint(protowire.AppendVarint(nil, 1), 0))
	return model(w, fBytes(nil, 5, bias),
		node("c", "Constant", nil, []string{"shape"}, shape),
		node("mm", "MatMul", []string{"x", "w"}, []string{"y"}, alpha, ints),
		node("add", "Add", []string{"y", "b"}, []string{"z"}),
		valueInfo(11, "x", 1, 2), valueInfo(12, "z", 1, 2))
}

func TestParseTiny(t *testing.T) {
	m, err := Parse("tiny.onnx", tiny())
	if err != nil {
		t.Fatal(err)
	}
	d, src, err := m.Describe()
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := src.Float32("w"); !slices.Equal(w, []float32{1, 2, 3, 4}) {
		t.Errorf("w = %v", w)
	}
	if b, _ := src.Float32("b"); !slices.Equal(b, []float32{0.5, -0.5}) {
		t.Errorf("b = %v", b)
	}
	if k := d.Constants["shape"]; !slices.Equal(k.Values, []float64{1, 2}) || k.Float {
		t.Errorf("int64 constant %+v", k)
	}
	mm := d.Nodes[0]
	if mm.Index != 1 || mm.Attrs["alpha"].F != 0.25 || !slices.Equal(mm.Attrs["perm"].Ints, []int64{1, 0}) {
		t.Errorf("MatMul node %+v", mm)
	}
	if len(d.Inputs) != 1 || !slices.Equal(d.Inputs[0].Dims, []int{1, 2}) || m.Opset() != 13 {
		t.Errorf("inputs %+v, opset %d", d.Inputs, m.Opset())
	}
}

func TestErrors(t *testing.T) {
	good := tiny()
	big := fBytes(nil, 5, tensorMsg("big", 1, []uint64{1 << 30, 1 << 30}, f32s(1)))
	ext := fBytes(nil, 5, fVarint(tensorMsg("e", 1, []uint64{1}, f32s(1)), 14, 1))
	for _, c := range []struct {
		name string
		data []byte
		kind error
		want string
	}{
		{"truncated", good[:len(good)-5], ErrTruncated, "bad protobuf field"},
		{"no graph", fVarint(nil, 1, 8), ErrFormat, "no graph"},
		{"wire type", fVarint(nil, 7, 3), ErrFormat, "field graph (7) has wire type 0"},
		{"count", model(fBytes(nil, 5, tensorMsg("w", 1, []uint64{3}, f32s(1, 2)))), ErrShape, `tensor "w": dims [3] hold 3 values, the data has 2`},
		{"raw size", model(fBytes(nil, 5, tensorMsg("w", 1, []uint64{1}, []byte{1, 2, 3}))), ErrShape, "raw_data is 3 bytes"},
		{"huge dims", model(big), ErrShape, "more elements than the file can"},
		{"dtype", model(fBytes(nil, 5, tensorMsg("s", 8, []uint64{1}, []byte{1}))), ErrDType, "data_type 8"},
		{"float16", model(fBytes(nil, 5, tensorMsg("h", 10, []uint64{1}, []byte{1, 2}))), ErrDType, "data_type 10"},
		{"external", model(ext), ErrUnsupported, "external file"},
		{"no op", model(fBytes(nil, 1, fBytes(nil, 3, []byte("n")))), ErrFormat, `node "n" has no op_type`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("bad.onnx", c.data)
			var fe *format.Error
			if !errors.As(err, &fe) || !errors.Is(err, c.kind) {
				t.Fatalf("got %T %v, want kind %v", err, err, c.kind)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "onnx: ") || !strings.Contains(msg, c.want) {
				t.Fatalf("message %q lacks %q", msg, c.want)
			}
		})
	}
	// Describe: a name defined twice.
	dup := model(fBytes(nil, 5, tensorMsg("w", 1, []uint64{2}, f32s(1, 2))), fBytes(nil, 5, tensorMsg("w", 1, []uint64{2}, f32s(1, 2))))
	m, err := Parse("dup.onnx", dup)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Describe(); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("duplicate: %v", err)
	}
}

func FuzzONNX(f *testing.F) {
	good := tiny()
	for _, s := range [][]byte{good, good[:len(good)/2], model(), fVarint(nil, 7, 1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("fuzz.onnx", data)
		if err != nil {
			if _, ok := err.(*format.Error); !ok {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		d, src, err := m.Describe()
		if err != nil {
			if _, ok := err.(*format.Error); !ok {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		for _, n := range src.Names() {
			dims, _ := src.Shape(n)
			v, err := src.Float32(n)
			if err != nil || len(v) != (&Tensor{Dims: dims}).Numel() {
				t.Fatalf("%s: %d values for dims %v (%v)", n, len(v), dims, err)
			}
		}
		for n, k := range d.Constants {
			if len(k.Values) != (&Tensor{Dims: k.Dims}).Numel() {
				t.Fatalf("constant %s: %d values for dims %v", n, len(k.Values), k.Dims)
			}
		}
	})
}
