package server

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/images"
)

// Image models (engine.Model.ImageShape) take images where text models
// take prompts: base64 PNG or JPEG in "image" or "images", decoded by
// package images and preprocessed as the model directory's
// preprocessor_config.json says (images.ForModel, as `glia run --image`
// and `glia gradcam` do). A request's bytes are bounded by MaxBody; its
// pixels, read from the header before decoding, by MaxImagePixels.

// MaxImagePixels bounds width·height of one image a request sends (4
// megapixels: 48 MiB once decoded to float32 RGB).
const MaxImagePixels = 1 << 22

// isImageModel: m reads pixels.
func isImageModel(m *engine.Model) bool {
	_, ok := m.ImageShape()
	return ok
}

// checkInput says which field is wrong when a request's input does not
// fit the model: text to an image model, or an image to a text model.
// text names the first text field the request set ("" for none).
func checkInput(m *engine.Model, text string, hasImage bool) error {
	switch img := isImageModel(m); {
	case img && text != "":
		return apiErr(http.StatusBadRequest, `%q: %s is an image model; give "image" (a base64 PNG or JPEG), not text`, text, m.Name)
	case img && !hasImage:
		return apiErr(http.StatusBadRequest, `"image": %s is an image model; give "image" (a base64 PNG or JPEG)`, m.Name)
	case !img && hasImage:
		return apiErr(http.StatusBadRequest, `"image": %s reads text, not images; give "prompt"`, m.Name)
	}
	return nil
}

// decodeImages decodes one or several base64 images; field names them in
// errors ("image", "images[2]"). A data: URL's prefix is accepted.
func (s *Server) decodeImages(field string, b64 []string) ([]*images.Image, error) {
	if len(b64) > s.lim.MaxBatch {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "%d images; the limit is %d", len(b64), s.lim.MaxBatch)
	}
	out := make([]*images.Image, len(b64))
	for i, text := range b64 {
		name := field
		if len(b64) > 1 || field == "images" {
			name = field + "[" + strconv.Itoa(i) + "]"
		}
		if j := strings.Index(text, ";base64,"); strings.HasPrefix(text, "data:") && j >= 0 {
			text = text[j+len(";base64,"):]
		}
		if text == "" {
			return nil, apiErr(http.StatusBadRequest, "%q is empty: give a base64 PNG or JPEG", name)
		}
		raw, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return nil, apiErr(http.StatusBadRequest, "%q is not base64: %v", name, err)
		}
		im, err := images.DecodeLimit(name, bytes.NewReader(raw), MaxImagePixels)
		if errors.Is(err, images.ErrTooLarge) {
			return nil, apiErr(http.StatusRequestEntityTooLarge, "%v", err)
		}
		if err != nil {
			return nil, apiErr(http.StatusBadRequest, "%v", err)
		}
		out[i] = im
	}
	return out, nil
}

// imagePixels preprocesses decoded images for m: [batch, c, h, w].
func imagePixels(m *engine.Model, ims []*images.Image) (*engine.Array, error) {
	shape, _ := m.ImageShape()
	pix, err := images.ForModel(m.Name, shape, ims)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "%v", err)
	}
	return &engine.Array{Shape: []int{len(ims), shape[0], shape[1], shape[2]}, Data: pix}, nil
}

// requestImages decodes a request's "image" or "images" (not both) and
// preprocesses them for m; raws are the images as decoded.
func (s *Server) requestImages(m *engine.Model, image string, list []string) (px *engine.Array, raws []*images.Image, err error) {
	switch {
	case image != "" && list != nil:
		return nil, nil, apiErr(http.StatusBadRequest, `give "image" or "images", not both`)
	case image != "":
		raws, err = s.decodeImages("image", []string{image})
	case len(list) == 0:
		return nil, nil, apiErr(http.StatusBadRequest, `"images" is empty`)
	default:
		raws, err = s.decodeImages("images", list)
	}
	if err != nil {
		return nil, nil, err
	}
	px, err = imagePixels(m, raws)
	return px, raws, err
}

// imageHook reads hook's layout on m's grid (the patch grid for a ViT).
func imageHook(m *engine.Model, hook string) (atlas.ImageHook, error) {
	shape, err := m.HookShape(hook)
	if err != nil {
		return atlas.ImageHook{}, apiErr(http.StatusBadRequest, "%v", err)
	}
	rows, cols, _ := m.PatchGrid()
	h, err := atlas.ImageHookOf(hook, shape, rows, cols)
	if err != nil {
		return h, apiErr(http.StatusBadRequest, "%v", err)
	}
	return h, nil
}

// classLabel is a class's name from config.json's id2label, else its
// number.
func classLabel(m *engine.Model, id int) string {
	if labels, ok := m.Config.Raw("id2label").(map[string]any); ok {
		if s, ok := labels[strconv.Itoa(id)].(string); ok {
			return s
		}
	}
	return strconv.Itoa(id)
}
