package engine

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/images"
)

// TestVisionParity runs the ViT and CNN fixtures of testdata/hf-tiny-vision
// (made by its make.py with transformers and PyTorch) and compares logits
// and every hook the reference recorded.
func TestVisionParity(t *testing.T) {
	for _, name := range []string{"vit", "cnn"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "testdata", "hf-tiny-vision", name)
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			get, hooks := readReference(t, filepath.Join(dir, "reference.safetensors"), func(n string) bool { return strings.Contains(n, "hook_") })
			px := get("pixels")
			res, err := m.Run(Request{Pixels: &px, Hooks: hooks})
			if err != nil {
				t.Fatal(err)
			}
			compare(t, "logits", res.Logits, get("logits"))
			for _, h := range hooks {
				compare(t, h, res.Acts[h], get(h))
			}
			if name != "vit" {
				return
			}
			// End to end from a PNG: ViTImageProcessor's (PIL's) pixels
			// round the resized image to 8 bits, which glia does not (at most
			// 1/255 of the range, 0.02 after dividing by std 0.2).
			p, err := images.ReadPreprocessor(filepath.Join(dir, "preprocessor_config.json"))
			if err != nil {
				t.Fatal(err)
			}
			im, err := images.Read(filepath.Join(dir, "image.png"))
			if err != nil {
				t.Fatal(err)
			}
			im, err = p.Apply(im, 3)
			if err != nil {
				t.Fatal(err)
			}
			want := get("image.pixels")
			d, at := MaxDiff(im.Pix, want.Data)
			t.Logf("image.pixels: max diff %.3g at %d", d, at)
			if d > 0.021 {
				t.Errorf("preprocessed image.png differs from ViTImageProcessor by %.3g at %d", d, at)
			}
			res, err = m.Run(Request{Pixels: &want})
			if err != nil {
				t.Fatal(err)
			}
			compare(t, "image.logits", res.Logits, get("image.logits"))
		})
	}
}

func compare(t *testing.T, what string, got, want Array) {
	t.Helper()
	if !equalInts(got.Shape, want.Shape) {
		t.Errorf("%s: shape %v, reference %v", what, got.Shape, want.Shape)
		return
	}
	d, at := MaxDiff(got.Data, want.Data)
	t.Logf("%s: max diff %.3g", what, d)
	if d > ParityTolerance {
		t.Errorf("%s: max diff %.3g at %d (got %v, want %v), tolerance %g", what, d, at, got.Data[at], want.Data[at], ParityTolerance)
	}
}
