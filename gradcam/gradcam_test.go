package gradcam

import (
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format/safetensors"
	"github.com/glia-dev/glia/images"
)

const vision = "../testdata/hf-tiny-vision"

// TestMatchesPytorchGradCAM compares with pytorch-grad-cam's GradCAM on the
// hf-tiny-vision fixtures (tools/vision/gradcam_ref.py): ViT hooks with CLS
// dropped and patches reshaped, convolutional hooks as they are.
func TestMatchesPytorchGradCAM(t *testing.T) {
	ref, err := safetensors.Open(filepath.Join(vision, "gradcam.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	var cases []struct {
		Name, Model, Hook, Method string
		Class                     int
	}
	if err := json.Unmarshal([]byte(ref.Metadata()["cases"]), &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) != 6 {
		t.Fatalf("%d cases in the reference, want 6", len(cases))
	}
	models := map[string]*engine.Model{}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			m := models[c.Model]
			if m == nil {
				if m, err = engine.Load(filepath.Join(vision, c.Model)); err != nil {
					t.Fatal(err)
				}
				models[c.Model] = m
			}
			shape, _ := ref.Shape(c.Name + ".pixels")
			px, err := ref.Float32(c.Name + ".pixels")
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.Float32(c.Name + ".heat")
			if err != nil {
				t.Fatal(err)
			}
			method, err := ParseMethod(c.Method)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ComputeWith(m, engine.Array{Shape: shape, Data: px}, c.Class, c.Hook, method)
			if err != nil {
				t.Fatal(err)
			}
			if r.Patches != (c.Model == "vit") {
				t.Errorf("Patches = %v for a %s hook", r.Patches, c.Model)
			}
			d, at := engine.MaxDiff(r.Heat, want)
			t.Logf("%s %s class %d at %s (grid %d×%d): max diff %.3g from pytorch-grad-cam", c.Model, method, c.Class, c.Hook, r.GridH, r.GridW, d)
			if d > 1e-4 {
				t.Errorf("heat differs from pytorch-grad-cam by %.3g at %d (got %v, want %v)", d, at, r.Heat[at], want[at])
			}
		})
	}
}

// knownAnswer writes a CNN with hand-set weights: channel 0 of its only
// convolution fires on three horizontal ink pixels in a row, channel 1 on
// three vertical ones; global average pooling and an identity linear layer
// make class 0 the horizontal evidence and class 1 the vertical.
func knownAnswer(t *testing.T) *engine.Model {
	dir := t.TempDir()
	cfg := `{"model_type": "cnn", "num_channels": 1, "image_size": 12, "num_labels": 2, "layers": [
	  {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1}, {"type": "relu"},
	  {"type": "adaptive_avgpool2d"}, {"type": "flatten"}, {"type": "linear", "out_features": 2}]}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	kernel := make([]float32, 2*9)
	for i := range 3 {
		kernel[3+i] = 1.0 / 3     // channel 0: middle row
		kernel[9+3*i+1] = 1.0 / 3 // channel 1: middle column
	}
	err := safetensors.Write(filepath.Join(dir, "model.safetensors"), []safetensors.Tensor{
		{Name: "layers.0.weight", Shape: []int{2, 1, 3, 3}, Data: kernel},
		{Name: "layers.0.bias", Shape: []int{2}, Data: []float32{-0.9, -0.9}},
		{Name: "layers.4.weight", Shape: []int{2, 2}, Data: []float32{1, 0, 0, 1}},
		{Name: "layers.4.bias", Shape: []int{2}, Data: []float32{0, 0}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestKnownAnswer: on an image with a horizontal bar (row 2, columns 1–5)
// and a vertical bar (column 9, rows 6–10), class 0's map is exactly the
// three pixels where the horizontal detector fires and class 1's the
// vertical ones; every bit of mass lies in its bar's box.
func TestKnownAnswer(t *testing.T) {
	m := knownAnswer(t)
	px := engine.Array{Shape: []int{1, 1, 12, 12}, Data: make([]float32, 144)}
	for x := 1; x <= 5; x++ {
		px.Data[2*12+x] = 1
	}
	for y := 6; y <= 10; y++ {
		px.Data[y*12+9] = 1
	}
	hook, err := DefaultHook(m)
	if err != nil || hook != "layers.1.relu.hook_out" {
		t.Fatalf("DefaultHook = %q, %v; want the ReLU after the convolution", hook, err)
	}
	for _, c := range []struct {
		class int
		box   Box
		fires [][2]int // (y, x) where the class's detector fires
	}{
		{0, Box{X0: 1, Y0: 2, X1: 6, Y1: 3}, [][2]int{{2, 2}, {2, 3}, {2, 4}}},
		{1, Box{X0: 9, Y0: 6, X1: 10, Y1: 11}, [][2]int{{7, 9}, {8, 9}, {9, 9}}},
	} {
		for _, h := range []string{"", "layers.0.conv2d.hook_out"} {
			r, err := Compute(m, px, c.class, h)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float32, 144)
			for _, p := range c.fires {
				want[p[0]*12+p[1]] = 1
			}
			d, at := engine.MaxDiff(r.Heat, want)
			mass := r.MassIn(c.box)
			t.Logf("class %d at %s: mass in the bar's box %.6f, max diff from the known map %.2g", c.class, r.Hook, mass, d)
			if d > 1e-5 || mass < 1-1e-9 {
				t.Errorf("class %d at %s: map differs from the known answer by %.3g at %d; mass in box %v", c.class, r.Hook, d, at, mass)
			}
			// After the ReLU the average pool's gradient is 1/144 everywhere;
			// before it, only the 3 firing pixels pass it: 3/144².
			want0 := 1.0 / 144
			if h != "" {
				want0 = 3.0 / (144 * 144)
			}
			if w := r.Weights[c.class]; math.Abs(float64(w)-want0) > 1e-8 || r.Weights[1-c.class] != 0 {
				t.Errorf("class %d at %s: weights %v, want %.4g on channel %d and 0 on the other", c.class, r.Hook, r.Weights, want0, c.class)
			}
		}
	}
	if _, err := Compute(m, px, 0, "layers.3.flatten.hook_out"); err == nil || !strings.Contains(err.Error(), "is [1 2]; Grad-CAM needs a spatial grid") {
		t.Errorf("flatten hook: %v", err)
	}
	// The model's top class is the one with more evidence: equal here, so
	// argmax takes class 0.
	if r, err := Compute(m, px, -1, ""); err != nil || r.Class != 0 {
		t.Errorf("top class: %v %v", r, err)
	}
}

func TestOverlayAndErrors(t *testing.T) {
	m, err := engine.Load(filepath.Join(vision, "vit"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := images.Read(filepath.Join(vision, "vit", "image.png"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := images.ReadPreprocessor(filepath.Join(vision, "vit", "preprocessor_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := p.Apply(img, 3)
	if err != nil {
		t.Fatal(err)
	}
	px := engine.Array{Shape: []int{1, 3, 16, 16}, Data: in.Pix}
	r, err := Compute(m, px, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Hook != "blocks.1.ln1.hook_normalized" || !r.Patches || r.GridH != 4 || r.GridW != 4 {
		t.Errorf("default ViT hook %s, patches %v, grid %d×%d", r.Hook, r.Patches, r.GridH, r.GridW)
	}
	ov, err := r.Overlay(img, 0.5, 4)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "o.png")
	if err := WritePNG(out, ov); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(out)
	back, err := png.Decode(f)
	f.Close()
	if err != nil || back.Bounds().Dx() != 64 || back.Bounds().Dy() != 64 {
		t.Errorf("overlay PNG: %v %v", back.Bounds(), err)
	}
	for _, c := range []struct {
		hook  string
		class int
		want  string
	}{
		{"blocks.0.attn.hook_pattern", 0, "query × key positions"},
		{"blocks.0.mlp.hook_post", 9, "class 9 is out of range [0, 5)"},
		{"blocks.9.mlp.hook_post", 0, "no hook point"},
	} {
		if _, err := Compute(m, px, c.class, c.hook); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s class %d: error %v, want %q", c.hook, c.class, err, c.want)
		}
	}
}
