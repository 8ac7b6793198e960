package gradcam

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"

	"github.com/glia-dev/glia/images"
)

// Overlay draws the heat map over the image as pytorch-grad-cam's
// show_cam_on_image: (1 − alpha)·jet(heat) + alpha·image, divided by its
// maximum, each input pixel drawn as scale×scale. img is the image as read
// (values 0–255, 1 or 3 channels), resized here to the heat map's size.
func (r *Result) Overlay(img *images.Image, alpha float64, scale int) (image.Image, error) {
	rgb, err := images.Channels(img, 3)
	if err != nil {
		return nil, err
	}
	if rgb.H != r.H || rgb.W != r.W {
		rgb = images.Resize(rgb, r.H, r.W, 2)
	}
	scale = max(scale, 1)
	mix := make([][3]float64, r.H*r.W)
	var top float64
	for p := range mix {
		jr, jg, jb := jet(float64(r.Heat[p]))
		heat := [3]float64{jr, jg, jb}
		for c := range 3 {
			v := (1-alpha)*heat[c] + alpha*float64(rgb.Pix[c*r.H*r.W+p])/255
			mix[p][c] = v
			top = max(top, v)
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, r.W*scale, r.H*scale))
	for y := range r.H * scale {
		for x := range r.W * scale {
			v := mix[(y/scale)*r.W+x/scale]
			px := func(f float64) uint8 { return uint8(math.Round(255 * f / max(top, 1e-12))) }
			out.SetRGBA(x, y, color.RGBA{px(v[0]), px(v[1]), px(v[2]), 255})
		}
	}
	return out, nil
}

// WritePNG writes an image to path.
func WritePNG(path string, im image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, im); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// jet is OpenCV's COLORMAP_JET at v in [0, 1] (pytorch-grad-cam's default),
// as RGB in [0, 1]: blue → cyan → yellow → red.
func jet(v float64) (r, g, b float64) {
	v = min(max(v, 0), 1)
	ramp := func(x float64) float64 { return min(max(1.5-math.Abs(4*v-x), 0), 1) }
	return ramp(3), ramp(2), ramp(1)
}
