package engine

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/format/safetensors"
	"github.com/glia-dev/glia/images"
)

const ppocrDir = "../testdata/onnx/ppocr-cls"

// TestONNXParity runs PaddleOCR's text-direction classifier (an ONNX file
// from npm) on the inputs tools/vision/onnx_golden.py gave onnxruntime and
// compares logits, probabilities and the intermediate node outputs it
// recorded; then the same from the PNGs through the preprocessor.
func TestONNXParity(t *testing.T) {
	m, get, hooks := onnxFixture(t, ppocrDir, "ch_ppocr_mobile_v2.0_cls_infer.onnx")
	if s, _ := m.ImageShape(); s != [3]int{3, 48, 192} {
		t.Fatalf("input %v, want [3 48 192] from preprocessor_config.json", s)
	}
	if len(hooks) < 5 {
		t.Fatalf("reference has %d node outputs: %v", len(hooks), hooks)
	}
	px := get("pixels")
	res, err := m.Run(Request{Pixels: &px, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	logits := get("logits")
	compare(t, "logits", Array{Shape: []int{px.Shape[0], 2}, Data: res.Logits.Data}, logits)
	for _, h := range hooks {
		compare(t, h, res.Acts[h], get(h))
	}
	// The model's own output is the softmax of glia's logits.
	probs := get("probs")
	for b := range px.Shape[0] {
		l := res.Logits.Data[2*b : 2*b+2]
		p0 := 1 / (1 + math.Exp(float64(l[1]-l[0])))
		if d := math.Abs(p0 - float64(probs.Data[2*b])); d > 1e-5 {
			t.Errorf("image %d: softmax of the logits gives p0 %.6f, onnxruntime %.6f", b, p0, probs.Data[2*b])
		}
	}
	// From the PNGs: the preprocessor reproduces the script's pixels (the
	// images are already 48×192, so resizing is the identity).
	pre, err := images.PreprocessorFor(m.Name, 48, 192)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"text-long.png", "text-short.png"} {
		im, err := images.Read(filepath.Join(ppocrDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if im, err = pre.Apply(im, 3); err != nil {
			t.Fatal(err)
		}
		n := 3 * 48 * 192
		d, at := MaxDiff(im.Pix, px.Data[2*i*n:(2*i+1)*n])
		if d > 1e-6 {
			t.Errorf("%s: preprocessed pixels differ from the script's by %.3g at %d", name, d, at)
		}
	}
}

// onnxFixture loads an ONNX model and its reference.safetensors (written
// by tools/vision/onnx_*.py): a reader of its tensors and the node outputs
// it holds.
func onnxFixture(t *testing.T, dir, model string) (*Model, func(string) Array, []string) {
	t.Helper()
	m, err := Load(filepath.Join(dir, model))
	if err != nil {
		t.Fatal(err)
	}
	get, hooks := readReference(t, filepath.Join(dir, "reference.safetensors"), func(n string) bool { return strings.HasPrefix(n, "nodes.") })
	return m, get, hooks
}

// readReference opens a reference.safetensors written by a script under
// tools/: a reader of its tensors, and the names that keep selects.
func readReference(t *testing.T, path string, keep func(string) bool) (func(string) Array, []string) {
	t.Helper()
	ref, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.Close() })
	get := func(n string) Array {
		shape, _ := ref.Shape(n)
		data, err := ref.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		return Array{Shape: shape, Data: data}
	}
	var names []string
	for _, n := range ref.Names() {
		if keep(n) {
			names = append(names, n)
		}
	}
	return get, names
}

// TestONNXGradients: the gradient of a class logit with respect to the
// pixels, through every operator of the graph (strided and depthwise
// convolutions with padding, batch norm, hard-swish, squeeze-excitation,
// max pooling), equals central finite differences.
func TestONNXGradients(t *testing.T) {
	m, get, _ := onnxFixture(t, ppocrDir, "ch_ppocr_mobile_v2.0_cls_infer.onnx")
	all := get("pixels").Data
	const n, class, h = 3 * 48 * 192, 0, 1e-3
	px := Array{Shape: []int{1, 3, 48, 192}, Data: all[:n]} // the upright long text
	res, err := m.Run(Request{Pixels: &px, Hooks: []string{"hook_pixels"}, Grad: &GradTarget{Token: class}})
	if err != nil {
		t.Fatal(err)
	}
	grad := res.Grads["hook_pixels"].Data
	// The pixels with the largest gradients and a few fixed ones, all
	// perturbed in one batch.
	idx := []int{0, 1000, n / 2, n - 1}
	for range 4 {
		best := 0
		for i, g := range grad {
			if math.Abs(float64(g)) > math.Abs(float64(grad[best])) && !slices.Contains(idx, i) {
				best = i
			}
		}
		idx = append(idx, best)
	}
	batch := Array{Shape: []int{2 * len(idx), 3, 48, 192}, Data: make([]float32, 2*len(idx)*n)}
	for j, i := range idx {
		for s, d := range []float32{h, -h} {
			p := batch.Data[(2*j+s)*n : (2*j+s+1)*n]
			copy(p, px.Data)
			p[i] += d
		}
	}
	r, err := m.Run(Request{Pixels: &batch})
	if err != nil {
		t.Fatal(err)
	}
	for j, i := range idx {
		fd := (float64(r.Logits.Data[4*j+class]) - float64(r.Logits.Data[4*j+2+class])) / (2 * h)
		t.Logf("pixel %d: gradient %.5f, finite difference %.5f", i, grad[i], fd)
		if math.Abs(fd-float64(grad[i])) > 2e-3+0.02*math.Abs(fd) {
			t.Errorf("pixel %d: gradient %.5f, finite difference %.5f", i, grad[i], fd)
		}
	}
}

// TestONNXOps runs testdata/onnx/ops (tools/vision/onnx_ops.py: a tiny
// random opset-14 classifier over the operators the PaddleOCR model does
// not use) and compares every node's output with onnxruntime's.
func TestONNXOps(t *testing.T) {
	m, get, hooks := onnxFixture(t, filepath.Join("..", "testdata", "onnx", "ops"), "ops.onnx")
	if len(hooks) != 23 {
		t.Fatalf("reference has %d node outputs, want 23", len(hooks))
	}
	px := get("pixels")
	res, err := m.Run(Request{Pixels: &px, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "logits", Array{Shape: []int{2, 5}, Data: res.Logits.Data}, get("logits"))
	for _, h := range hooks {
		compare(t, h, res.Acts[h], get(h))
	}
}

// TestONNXShapeError: a graph whose shapes do not fit loads (shapes are
// checked while building) and then fails with the node named, not a panic.
func TestONNXShapeError(t *testing.T) {
	m, err := Load(filepath.Join("..", "testdata", "onnx", "ops", "bad.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	px := Array{Shape: []int{1, 3, 8, 8}, Data: make([]float32, 3*64)}
	_, err = m.Run(Request{Pixels: &px})
	if err == nil || !strings.Contains(err.Error(), `onnx: node 0 "mismatched" (Conv): input [1 3 8 8], kernel [4 2 3 3], group 1`) {
		t.Fatalf("error %v", err)
	}
}
