package engine

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func loadVision(t *testing.T, name string) *Model {
	t.Helper()
	m, err := Load(filepath.Join("..", "testdata", "hf-tiny-vision", name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestVisionGradients: the gradient of a class logit with respect to the
// input pixels (through patch embedding and attention, or convolutions,
// batch norm and pooling) equals central finite differences.
func TestVisionGradients(t *testing.T) {
	for _, name := range []string{"vit", "cnn"} {
		t.Run(name, func(t *testing.T) {
			m := loadVision(t, name)
			s, _ := m.ImageShape()
			px := Array{Shape: []int{1, s[0], s[1], s[2]}, Data: make([]float32, s[0]*s[1]*s[2])}
			for i := range px.Data {
				px.Data[i] = float32(math.Sin(float64(i) * 0.37))
			}
			const class = 1
			res, err := m.Run(Request{Pixels: &px, Hooks: []string{"hook_pixels"}, Grad: &GradTarget{Token: class}})
			if err != nil {
				t.Fatal(err)
			}
			grad := res.Grads["hook_pixels"].Data
			logit := func(i int, delta float32) float64 {
				p := Array{Shape: px.Shape, Data: append([]float32(nil), px.Data...)}
				p.Data[i] += delta
				r, err := m.Run(Request{Pixels: &p})
				if err != nil {
					t.Fatal(err)
				}
				return float64(r.Logits.Data[class])
			}
			const h = 1e-2
			for _, i := range []int{0, 17, len(px.Data) / 2, len(px.Data) - 3} {
				fd := (logit(i, h) - logit(i, -h)) / (2 * h)
				if math.Abs(fd-float64(grad[i])) > 2e-3+0.02*math.Abs(fd) {
					t.Errorf("pixel %d: gradient %.5f, finite difference %.5f", i, grad[i], fd)
				}
			}
		})
	}
}

func TestVisionInputErrors(t *testing.T) {
	vit := loadVision(t, "vit")
	tok, err := Load("../testdata/hf-tiny/gpt2")
	if err != nil {
		t.Fatal(err)
	}
	good := Array{Shape: []int{1, 3, 16, 16}, Data: make([]float32, 3*16*16)}
	for _, c := range []struct {
		name string
		m    *Model
		req  Request
		want string
	}{
		{"ids to an image model", vit, Request{IDs: [][]int32{{1, 2}}}, "is an image model: give Pixels [batch, 3, 16, 16]"},
		{"pixels to a token model", tok, Request{Pixels: &good}, "reads token ids, not images"},
		{"wrong size", vit, Request{Pixels: &Array{Shape: []int{1, 3, 8, 8}, Data: make([]float32, 3*64)}}, "pixels are [1 3 8 8]; "},
		{"short data", vit, Request{Pixels: &Array{Shape: []int{2, 3, 16, 16}, Data: good.Data}}, "hold 768 values for shape [2 3 16 16]"},
		{"both", vit, Request{Pixels: &good, IDs: [][]int32{{1}}}, "not both"},
		{"class out of range", vit, Request{Pixels: &good, Hooks: []string{"hook_pixels"}, Grad: &GradTarget{Token: 5}}, "outside logits [1,1,5]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.m.Run(c.req)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}
