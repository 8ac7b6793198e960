package server

import (
	"bytes"
	"image/png"
	"net/http"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/gradcam"
)

// gradCAM is POST /api/gradcam: `glia gradcam` on one uploaded image,
// api.GradCAMRequest in, api.GradCAMResponse out (the arrays --save writes
// and the overlay --out draws).
func (s *Server) gradCAM(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.GradCAMRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	m := s.cfg.Model
	if m == nil {
		return nil, apiErr(http.StatusServiceUnavailable, "this server was started without a model")
	}
	if !isImageModel(m) {
		return nil, apiErr(http.StatusBadRequest, "Grad-CAM needs an image model; %s reads text", m.Name)
	}
	if err := checkInput(m, "", req.Image != ""); err != nil {
		return nil, err
	}
	method, err := gradcam.ParseMethod(req.Method)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, `"method": %v`, err)
	}
	alpha := 0.5
	if req.Alpha != nil {
		alpha = *req.Alpha
	}
	if !(alpha >= 0 && alpha <= 1) {
		return nil, apiErr(http.StatusBadRequest, `"alpha" must be 0..1`)
	}
	if req.Scale == 0 {
		req.Scale = 8
	}
	if req.Scale < 1 || req.Scale > 16 {
		return nil, apiErr(http.StatusBadRequest, `"scale" must be 1..16`)
	}
	classes := m.Dims().Vocab
	if req.Class != nil && (*req.Class < 0 || *req.Class >= classes) {
		return nil, apiErr(http.StatusBadRequest, `"class" %d: the classes are 0..%d`, *req.Class, classes-1)
	}
	if req.Hook != "" {
		if _, err := imageHook(m, req.Hook); err != nil {
			return nil, err
		}
	}
	px, raws, err := s.requestImages(m, req.Image, nil)
	if err != nil {
		return nil, err
	}
	var res *gradcam.Result
	var logits []float32
	err = s.withModel(r.Context(), func(m *engine.Model) error {
		base, err := m.Run(engine.Request{Pixels: px})
		if err != nil {
			return err
		}
		logits = base.Logits.Data
		class := engine.TopTokens(logits, 1)[0].ID
		if req.Class != nil {
			class = *req.Class
		}
		if res, err = gradcam.ComputeWith(m, *px, class, req.Hook, method); err != nil {
			return apiErr(http.StatusBadRequest, "%v", err) // the hook: the rest was checked
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ov, err := res.Overlay(raws[0], alpha, req.Scale)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, ov); err != nil {
		return nil, err
	}
	return &api.GradCAMResponse{Method: res.Method.String(), Hook: res.Hook, Class: res.Class, Label: classLabel(m, res.Class), Logit: res.Logit,
		Patches: res.Patches, GridH: res.GridH, GridW: res.GridW, Cam: res.Cam, Weights: res.Weights, H: res.H, W: res.W, Heat: res.Heat,
		Overlay: buf.Bytes(), Classes: topK(m, logits, 10)}, nil
}
