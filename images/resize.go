package images

import "math"

// Resize resamples im to h×w with a PIL filter (0 nearest, 2 bilinear,
// 3 bicubic). Bilinear and bicubic are PIL's separable convolutions with
// the filter widened by the scale when shrinking (antialiasing), so they
// match PIL.Image.resize up to its rounding of the intermediate image to
// 8 bits (at most 1/255 of the range here, where everything is float).
func Resize(im *Image, h, w, resample int) *Image {
	if resample == 0 {
		return nearest(im, h, w)
	}
	filter, support := triangle, 1.0
	if resample == 3 {
		filter, support = bicubic, 2.0
	}
	// Horizontal pass, then vertical, as PIL does.
	tmp := New(im.C, im.H, w)
	cx := coefficients(im.W, w, filter, support)
	for c := range im.C {
		for y := range im.H {
			row := im.Pix[(c*im.H+y)*im.W:]
			for x, k := range cx {
				var s float64
				for j, wt := range k.w {
					s += wt * float64(row[k.first+j])
				}
				tmp.Pix[(c*im.H+y)*w+x] = float32(s)
			}
		}
	}
	out := New(im.C, h, w)
	cy := coefficients(im.H, h, filter, support)
	for c := range im.C {
		for y, k := range cy {
			for x := range w {
				var s float64
				for j, wt := range k.w {
					s += wt * float64(tmp.Pix[(c*im.H+k.first+j)*w+x])
				}
				out.Pix[(c*h+y)*w+x] = float32(s)
			}
		}
	}
	return out
}

type taps struct {
	first int
	w     []float64
}

// coefficients are PIL's precompute_coeffs: for each output pixel, the
// normalised filter weights over the input pixels it covers.
func coefficients(in, out int, filter func(float64) float64, support float64) []taps {
	scale := float64(in) / float64(out)
	fscale := max(scale, 1)
	support *= fscale
	ks := make([]taps, out)
	for i := range out {
		centre := (float64(i) + 0.5) * scale
		lo := max(int(centre-support+0.5), 0)
		hi := min(int(centre+support+0.5), in)
		var t taps
		t.first = lo
		var sum float64
		for j := lo; j < hi; j++ {
			v := filter((float64(j) - centre + 0.5) / fscale)
			t.w = append(t.w, v)
			sum += v
		}
		if sum != 0 {
			for j := range t.w {
				t.w[j] /= sum
			}
		}
		ks[i] = t
	}
	return ks
}

func triangle(x float64) float64 {
	x = math.Abs(x)
	if x < 1 {
		return 1 - x
	}
	return 0
}

// bicubic is PIL's cubic filter with a = -0.5.
func bicubic(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	switch {
	case x < 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

func nearest(im *Image, h, w int) *Image {
	out := New(im.C, h, w)
	// Source coordinates accumulate by repeated addition, as PIL's affine
	// nearest transform does: its rounding decides ties (6.5·28/13 lands
	// just below 14).
	sh, sw := float64(im.H)/float64(h), float64(im.W)/float64(w)
	for c := range im.C {
		yy := sh * 0.5
		for y := range h {
			sy := min(int(yy), im.H-1)
			xx := sw * 0.5
			for x := range w {
				sx := min(int(xx), im.W-1)
				out.Set(c, y, x, im.At(c, sy, sx))
				xx += sw
			}
			yy += sh
		}
	}
	return out
}
