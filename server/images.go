package server

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/atlas"
)

// Image atlases (atlas.BuildImages): the neuron page gets the unit's
// exemplars, and each exemplar's image with its mask is drawn here as a
// PNG (server-side, so the page needs no image code and the PNG is what
// any client sees).

// imageUnit reads an image atlas' unit; nil for a text atlas.
func (x *atlasIndex) imageUnit(hook string, unit int) (*atlas.ImageUnitReport, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	info, err := x.a.ImageInfo()
	if err != nil || info == nil {
		return nil, err
	}
	return x.a.ImageUnit(hook, unit)
}

// wireImageUnit is an image unit on the wire, with its exemplars' PNG paths.
func wireImageUnit(r *atlas.ImageUnitReport) *api.ImageUnit {
	out := &api.ImageUnit{GridH: r.GridH, GridW: r.GridW, Layout: r.Layout.String(), ImageH: r.ImageH, ImageW: r.ImageW,
		Quantile: r.Quantile, QuantileQ: r.QuantileQ, QuantileErr: r.QuantileErr, QuantileMethod: r.QuantileMethod, Exemplars: []api.ImageExemplar{}}
	for _, e := range r.Exemplars {
		out.Exemplars = append(out.Exemplars, api.ImageExemplar{Rank: e.Rank, Activation: e.Activation, Image: e.Image, Source: e.Source,
			Argmax: e.Argmax, Map: e.Map, MaskBox: e.MaskBox, MaskPixels: e.MaskPixels,
			PNG: fmt.Sprintf("/api/neurons/%s/%d/exemplars/%d.png", url.PathEscape(r.Hook), r.Unit, e.Rank)})
	}
	return out
}

// exemplarPNG is GET /api/neurons/{hook}/{unit}/exemplars/{rank}.png: the
// exemplar's image, scale× (?scale=1..16, default 4), its mask tinted red
// and outlined (?mask=0 leaves it out); ?raw=1 is the image as stored, one
// pixel per pixel, for running the model on it again (the explorer).
func (s *Server) exemplarPNG(w http.ResponseWriter, r *http.Request) {
	x, err := s.needAtlas()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hook := r.PathValue("hook")
	unit, err1 := strconv.Atoi(r.PathValue("unit"))
	rankS, ok := strings.CutSuffix(r.PathValue("file"), ".png")
	rank, err2 := strconv.Atoi(rankS)
	if err1 != nil || err2 != nil || !ok {
		s.fail(w, r, apiErr(http.StatusBadRequest, "want /api/neurons/HOOK/UNIT/exemplars/RANK.png"))
		return
	}
	scale := 4
	if v := r.URL.Query().Get("scale"); v != "" {
		if scale, err = strconv.Atoi(v); err != nil || scale < 1 || scale > 16 {
			s.fail(w, r, apiErr(http.StatusBadRequest, "scale must be 1..16"))
			return
		}
	}
	h, ok := x.hookNo[hook]
	if !ok {
		s.fail(w, r, apiErr(http.StatusNotFound, "the atlas has no hook %q", hook))
		return
	}
	if unit < 0 || unit >= x.hooks[h].Width {
		s.fail(w, r, apiErr(http.StatusNotFound, "%s has units 0..%d", hook, x.hooks[h].Width-1))
		return
	}
	rep, err := x.imageUnit(hook, unit)
	if err != nil {
		s.fail(w, r, apiErr(http.StatusNotFound, "%v", err))
		return
	}
	if rep == nil {
		s.fail(w, r, apiErr(http.StatusNotFound, "this atlas was built over text; it holds no images"))
		return
	}
	if rank < 0 || rank >= len(rep.Exemplars) {
		s.fail(w, r, apiErr(http.StatusNotFound, "%s:%d has exemplars 0..%d", hook, unit, len(rep.Exemplars)-1))
		return
	}
	e := rep.Exemplars[rank]
	x.mu.Lock()
	px, c, ih, iw, _, err := x.a.ImagePixels(e.Image)
	x.mu.Unlock()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var mask []bool
	if r.URL.Query().Get("mask") != "0" && ih == rep.ImageH && iw == rep.ImageW {
		mask = rep.Mask(e)
	}
	var img image.Image
	if r.URL.Query().Get("raw") == "1" {
		img = rawImage(px, c, ih, iw)
	} else {
		img = atlas.ExemplarPNG(px, c, ih, iw, mask, scale)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write(buf.Bytes())
}

// rawImage is a stored planar image as it was read: grey for one channel,
// else RGB.
func rawImage(px []byte, c, h, w int) image.Image {
	if c == 1 {
		return &image.Gray{Pix: px[:h*w], Stride: w, Rect: image.Rect(0, 0, w, h)}
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			o := out.PixOffset(x, y)
			for ch := range 3 {
				out.Pix[o+ch] = px[(min(ch, c-1)*h+y)*w+x]
			}
			out.Pix[o+3] = 255
		}
	}
	return out
}
