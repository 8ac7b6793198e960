package gradcam

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format/safetensors"
)

const ppocr = "../testdata/onnx/ppocr-cls"

// TestONNXMatchesFiniteDifferences runs Grad-CAM at the last convolution
// of PaddleOCR's text-direction classifier (ONNX) on the four rendered text
// lines and compares it with the map tools/vision/onnx_golden.py computed
// from onnxruntime, its gradients by central finite differences in float64.
// On the half-width text lines most of the map's mass falls on the half
// that holds the text.
func TestONNXMatchesFiniteDifferences(t *testing.T) {
	m, err := engine.Load(filepath.Join(ppocr, "ch_ppocr_mobile_v2.0_cls_infer.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := safetensors.Open(filepath.Join(ppocr, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	get := func(n string) []float32 {
		v, err := ref.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const hook, n = "nodes.450.conv.hook_out", 3 * 48 * 192
	pixels, logits := get("pixels"), get("logits")
	for k := range 4 {
		want := 0 // images 0 and 2 are upright (class 0), 1 and 3 rotated 180° (class 1)
		if k%2 == 1 {
			want = 1
		}
		r, err := Compute(m, engine.Array{Shape: []int{1, 3, 48, 192}, Data: pixels[k*n : (k+1)*n]}, -1, hook)
		if err != nil {
			t.Fatal(err)
		}
		if r.Class != want || argmax(logits[2*k:2*k+2]) != want {
			t.Errorf("image %d: glia predicts %d, onnxruntime %d; the image's class is %d", k, r.Class, argmax(logits[2*k:2*k+2]), want)
		}
		if r.GridH != 2 || r.GridW != 96 {
			t.Fatalf("grid %d×%d, want 2×96", r.GridH, r.GridW)
		}
		cam, weights := get(fmt.Sprint("gradcam.", k)), get(fmt.Sprint("gradcam.weights.", k))
		dc, at := engine.MaxDiff(r.Cam, cam)
		dw, atw := engine.MaxDiff(r.Weights, weights)
		t.Logf("image %d: class %d, cam max diff %.3g at %d, weights %.3g at %d", k, r.Class, dc, at, dw, atw)
		if dc > 1e-5 || dw > 1e-5 {
			t.Errorf("image %d: Grad-CAM differs from the finite-difference map: cam %.3g at %d (%v vs %v), weights %.3g at %d",
				k, dc, at, r.Cam[at], cam[at], dw, atw)
		}
		ink := inkBox(t, pixels[k*n:(k+1)*n])
		left := r.MassIn(Box{X0: 0, Y0: 0, X1: 96, Y1: 48})
		t.Logf("image %d: map mass on the ink's box %v: %.3f (box is %.0f%% of the image); left half %.3f",
			k, ink, r.MassIn(ink), 100*float64((ink.X1-ink.X0)*(ink.Y1-ink.Y0))/(48*192), left)
		// The short line fills one half (the left upright, the right
		// rotated): the evidence for the direction is on the ink.
		if k >= 2 {
			inked := left
			if ink.X0 >= 96 {
				inked = 1 - left
			}
			if inked < 0.75 {
				t.Errorf("image %d: %.3f of the map on the half with the text, want ≥ 0.75", k, inked)
			}
		}
	}
}

// inkBox is the bounding box of the dark pixels (text) of a preprocessed
// image, whose values are in [-1, 1].
func inkBox(t *testing.T, px []float32) Box {
	b := Box{X0: 192, Y0: 48}
	for y := range 48 {
		for x := range 192 {
			if px[y*192+x] < 0 {
				b.X0, b.Y0, b.X1, b.Y1 = min(b.X0, x), min(b.Y0, y), max(b.X1, x+1), max(b.Y1, y+1)
			}
		}
	}
	if b.X1 <= b.X0 {
		t.Fatal("no ink")
	}
	return b
}
