package cli

import (
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/format/safetensors"
)

// TestGradCAMCLI: the command's JSON, overlay and saved arrays agree with
// each other, for a ViT on a PNG and a CNN on an MNIST image.
func TestGradCAMCLI(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ model, image, hook, box string }{
		{"../../testdata/hf-tiny-vision/vit", "../../testdata/hf-tiny-vision/vit/image.png", "blocks.1.ln1.hook_normalized", "--box"},
		// --mark stamps the square and is the box too.
		{"../../testdata/hf-tiny-vision/cnn", "../../testdata/images/mnist/mnist-1k.u8:3", "layers.4.conv2d.hook_out", "--mark"},
	} {
		ov, st := filepath.Join(dir, "o.png"), filepath.Join(dir, "c.safetensors")
		out, errs, code := ivCLI(t, "gradcam", "--model", c.model, "--image", c.image, "--hook", c.hook, "--class", "1", "--out", ov, "--save", st, c.box, "0,0,4,4", "--scale", "2", "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.model, code, errs)
		}
		var res struct {
			Hook  string
			Class int
			Grid  []int
			Cam   []float32
			Mass  float64 `json:"mass_in_box"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		if res.Hook != c.hook || res.Class != 1 || len(res.Cam) != res.Grid[0]*res.Grid[1] || res.Mass < 0 || res.Mass > 1 {
			t.Errorf("%s: %+v", c.model, res)
		}
		f, err := safetensors.Open(st)
		if err != nil {
			t.Fatal(err)
		}
		cam, _ := f.Float32("cam")
		heat, _ := f.Float32("heat")
		shape, _ := f.Shape("heat")
		f.Close()
		for i := range cam {
			if math.Abs(float64(cam[i]-res.Cam[i])) > 1e-6 {
				t.Fatalf("%s: saved cam %v, printed %v", c.model, cam, res.Cam)
			}
		}
		var in, all float64
		for y := range shape[0] {
			for x := range shape[1] {
				all += float64(heat[y*shape[1]+x])
				if x < 4 && y < 4 {
					in += float64(heat[y*shape[1]+x])
				}
			}
		}
		if all > 0 && math.Abs(in/all-res.Mass) > 1e-9 {
			t.Errorf("%s: mass in box %v, saved heat gives %v", c.model, res.Mass, in/all)
		}
		fh, err := os.Open(ov)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil || img.Bounds().Dx() != 2*shape[1] || img.Bounds().Dy() != 2*shape[0] {
			t.Errorf("%s: overlay %v, %v", c.model, img.Bounds(), err)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"gradcam", "--model", "../../testdata/hf-tiny-vision/vit"}, "missing --image"},
		{[]string{"gradcam", "--model", "../../testdata/hf-tiny/gpt2", "--image", "x.png"}, "is not an image model"},
		{[]string{"gradcam", "--model", "../../testdata/hf-tiny-vision/cnn", "--image", "../../testdata/images/mnist/mnist-1k.u8:1000"}, "index 1000 is past the end"},
		{[]string{"gradcam", "--model", "../../testdata/hf-tiny-vision/cnn", "--image", "x.png", "--box", "3,3,1,1"}, "empty box"},
		{[]string{"gradcam", "--model", "../../testdata/hf-tiny-vision/cnn", "--image", "x.png", "--method", "cam"}, "unknown method \"cam\""},
	} {
		_, errs, code := ivCLI(t, c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want %q", c.args, code, errs, c.want)
		}
	}
}
