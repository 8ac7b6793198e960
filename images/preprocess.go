package images

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// Preprocessor is the part of a Hugging Face preprocessor_config.json that
// ViTImageProcessor applies, in its order: resize, rescale, normalise.
type Preprocessor struct {
	DoResize      bool      `json:"do_resize"`
	Height, Width int       `json:"-"`        // from "size": {"height", "width"} or a bare number
	Resample      int       `json:"resample"` // PIL filter: 0 nearest, 2 bilinear, 3 bicubic
	DoRescale     bool      `json:"do_rescale"`
	RescaleFactor float64   `json:"rescale_factor"`
	DoNormalize   bool      `json:"do_normalize"`
	ImageMean     []float64 `json:"image_mean"`
	ImageStd      []float64 `json:"image_std"`
}

// Default is what a model without a preprocessor_config.json gets: resized
// to its input size, scaled to [0, 1], not normalised.
func Default(h, w int) *Preprocessor {
	return &Preprocessor{DoResize: true, Height: h, Width: w, Resample: 2, DoRescale: true, RescaleFactor: 1.0 / 255}
}

// ReadPreprocessor reads a preprocessor_config.json; keys it does not name
// keep ViTImageProcessor's defaults (resize to 224×224 bilinear, rescale by
// 1/255, normalise by mean and std 0.5).
func ReadPreprocessor(path string) (*Preprocessor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, errorf(path, -1, err, "cannot read")
	}
	return ParsePreprocessor(path, b)
}

// ParsePreprocessor is ReadPreprocessor on the file's bytes.
func ParsePreprocessor(path string, b []byte) (*Preprocessor, error) {
	p := &Preprocessor{DoResize: true, Height: 224, Width: 224, Resample: 2, DoRescale: true, RescaleFactor: 1.0 / 255,
		DoNormalize: true, ImageMean: []float64{0.5, 0.5, 0.5}, ImageStd: []float64{0.5, 0.5, 0.5}}
	var raw struct {
		Size json.RawMessage `json:"size"`
	}
	if err := json.Unmarshal(b, p); err != nil {
		return nil, errorf(path, -1, err, "not a preprocessor config")
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, errorf(path, -1, err, "not a preprocessor config")
	}
	if len(raw.Size) > 0 && !bytes.Equal(raw.Size, []byte("null")) {
		var side int
		if json.Unmarshal(raw.Size, &side) == nil {
			p.Height, p.Width = side, side
		} else {
			var m map[string]int
			if err := json.Unmarshal(raw.Size, &m); err != nil {
				return nil, errorf(path, -1, err, `"size" is neither a number nor {"height", "width"}`)
			}
			if _, ok := m["shortest_edge"]; ok {
				return nil, errorf(path, -1, nil, `"size": {"shortest_edge"} (resize and crop) is not supported; give {"height", "width"}`)
			}
			p.Height, p.Width = m["height"], m["width"]
		}
	}
	if err := p.check(); err != nil {
		return nil, errorf(path, -1, nil, "%v", err)
	}
	return p, nil
}

func (p *Preprocessor) check() error {
	if p.DoResize && (p.Height < 1 || p.Width < 1 || p.Height > maxSide || p.Width > maxSide) {
		return fmt.Errorf("size %d×%d is out of range [1, %d]", p.Height, p.Width, maxSide)
	}
	switch p.Resample {
	case 0, 2, 3:
	default:
		return fmt.Errorf("resample %d is not supported (0 nearest, 2 bilinear, 3 bicubic)", p.Resample)
	}
	if p.DoRescale && !finite(p.RescaleFactor) {
		return fmt.Errorf("rescale_factor %v is not finite", p.RescaleFactor)
	}
	if p.DoNormalize {
		if len(p.ImageMean) != len(p.ImageStd) || len(p.ImageMean) == 0 {
			return fmt.Errorf("image_mean has %d values and image_std %d", len(p.ImageMean), len(p.ImageStd))
		}
		for i, s := range p.ImageStd {
			if !finite(s) || s == 0 || !finite(p.ImageMean[i]) {
				return fmt.Errorf("image_mean[%d] %v or image_std[%d] %v is unusable (std must be finite and non-zero)", i, p.ImageMean[i], i, s)
			}
		}
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Apply converts im to channels (grey to RGB by copying, RGB to grey by
// PIL's luminance), then resizes, rescales and normalises it.
func (p *Preprocessor) Apply(im *Image, channels int) (*Image, error) {
	im, err := Channels(im, channels)
	if err != nil {
		return nil, err
	}
	if p.DoResize && (im.H != p.Height || im.W != p.Width) {
		im = Resize(im, p.Height, p.Width, p.Resample)
	} else {
		im = &Image{C: im.C, H: im.H, W: im.W, Pix: append([]float32(nil), im.Pix...)}
	}
	if p.DoNormalize && len(p.ImageMean) != 1 && len(p.ImageMean) != im.C {
		return nil, fmt.Errorf("images: image_mean has %d values for %d channels", len(p.ImageMean), im.C)
	}
	plane := im.H * im.W
	for c := range im.C {
		scale, shift := 1.0, 0.0
		if p.DoRescale {
			scale = p.RescaleFactor
		}
		if p.DoNormalize {
			mean, std := p.ImageMean[min(c, len(p.ImageMean)-1)], p.ImageStd[min(c, len(p.ImageStd)-1)]
			scale, shift = scale/std, -mean/std
		}
		px := im.Pix[c*plane : (c+1)*plane]
		for i, v := range px {
			px[i] = float32(float64(v)*scale + shift)
		}
	}
	return im, nil
}

// Channels returns im with c channels: 1 ↔ 3 are converted, equal counts
// returned as they are.
func Channels(im *Image, c int) (*Image, error) {
	switch {
	case im.C == c:
		return im, nil
	case im.C == 1 && c == 3:
		out := New(3, im.H, im.W)
		for k := range 3 {
			copy(out.Pix[k*im.H*im.W:], im.Pix)
		}
		return out, nil
	case im.C == 3 && c == 1:
		out := New(1, im.H, im.W)
		n := im.H * im.W
		for i := range n {
			// PIL's convert("L"): ITU-R 601-2 luma.
			out.Pix[i] = im.Pix[i]*0.299 + im.Pix[n+i]*0.587 + im.Pix[2*n+i]*0.114
		}
		return out, nil
	}
	return nil, fmt.Errorf("images: cannot convert %d channels to %d", im.C, c)
}
