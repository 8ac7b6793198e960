package server

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/gradcam"
)

// runImage is POST /api/run for an image model: the top classes, the
// chosen units' maps, and the chosen hook's most active units (by their
// maximum over the grid, over the atlas' maximum when known) with their
// maps. req.Top and the unit count are checked by run.
func (s *Server) runImage(r *http.Request, m *engine.Model, req api.RunRequest) (any, error) {
	if err := checkInput(m, nonEmpty("prompt", req.Prompt), req.Image != ""); err != nil {
		return nil, err
	}
	px, _, err := s.requestImages(m, req.Image, nil)
	if err != nil {
		return nil, err
	}
	hook := req.Hook
	if hook == "" {
		if hook, err = gradcam.DefaultHook(m); err != nil {
			return nil, apiErr(http.StatusBadRequest, "%v", err)
		}
	}
	lay := map[string]atlas.ImageHook{}
	hooks := []string{}
	need := func(h string) (atlas.ImageHook, error) {
		if l, ok := lay[h]; ok {
			return l, nil
		}
		l, err := imageHook(m, h)
		if err != nil {
			return l, err
		}
		lay[h] = l
		hooks = append(hooks, h)
		return l, nil
	}
	main, err := need(hook)
	if err != nil {
		return nil, err
	}
	type chosen struct {
		id   string
		hook atlas.ImageHook
		unit int
	}
	var units []chosen
	for _, u := range req.Units {
		h, i, err := atlas.ParseUnit(strings.TrimSpace(u))
		if err != nil {
			return nil, apiErr(http.StatusBadRequest, "%v", err)
		}
		l, err := need(h)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= l.Units {
			return nil, apiErr(http.StatusBadRequest, "%s has units 0..%d", h, l.Units-1)
		}
		units = append(units, chosen{fmt.Sprintf("%s:%d", h, i), l, i})
	}
	var res *engine.Result
	err = s.withModel(r.Context(), func(m *engine.Model) error {
		var err error
		res, err = m.Run(engine.Request{Pixels: px, Hooks: hooks})
		return err
	})
	if err != nil {
		return nil, err
	}
	unitMap := func(l atlas.ImageHook, u int) []float32 {
		return l.UnitMap(make([]float32, l.GridH*l.GridW), res.Acts[l.Name].Data, u)
	}
	out := &api.RunResponse{Tokens: []api.Token{}, TopHooks: []string{hook}, Units: []api.UnitTrace{}, Next: topK(m, res.Logits.Data, 10)}
	for _, u := range units {
		out.Units = append(out.Units, api.UnitTrace{ID: u.id, Acts: unitMap(u.hook, u.unit), Max: s.atlasMax(u.hook.Name, u.unit)})
	}
	shape, _ := m.HookShape(hook)
	in, _ := m.ImageShape()
	im := &api.ImageRun{Hook: hook, Shape: shape, Layout: main.Layout.String(), GridH: main.GridH, GridW: main.GridW, Units: main.Units,
		ImageH: in[1], ImageW: in[2], Max: make([]float32, main.Units), Maps: [][]float32{}}
	type ranked struct {
		unit int
		key  float64
		top  api.TopUnit
	}
	all := make([]ranked, main.Units)
	for u := range main.Units {
		mx := float32(math.Inf(-1))
		for _, v := range unitMap(main, u) {
			mx = max(mx, v)
		}
		im.Max[u] = mx
		t := api.TopUnit{ID: fmt.Sprintf("%s:%d", hook, u), Act: mx}
		key := float64(mx)
		if am := s.atlasMax(hook, u); am != nil && *am > 0 {
			f := float64(mx) / *am
			t.Frac, key = &f, f
		}
		all[u] = ranked{u, key, t}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].key > all[j].key })
	top := []api.TopUnit{}
	for _, x := range all[:min(req.Top, len(all))] {
		top = append(top, x.top)
		im.Maps = append(im.Maps, unitMap(main, x.unit))
	}
	out.Top, out.Image = [][]api.TopUnit{top}, im
	return out, nil
}

// nonEmpty is name when v is set, else "": the first text field a request
// set, for checkInput.
func nonEmpty(name string, v string) string {
	if v != "" {
		return name
	}
	return ""
}

// cacheImages is /api/cache for an image model: the images' logits
// [batch, 1, classes] and hooks, as `glia run --image --save` writes them.
func (s *Server) cacheImages(r *http.Request, m *engine.Model, req api.CacheRequest) (*cacheRun, error) {
	text := ""
	switch {
	case req.Prompt != "":
		text = "prompt"
	case req.IDs != nil:
		text = "ids"
	case req.Prompts != nil:
		text = "prompts"
	case req.Batch != nil:
		text = "batch"
	}
	if err := checkInput(m, text, req.Image != "" || req.Images != nil); err != nil {
		return nil, err
	}
	if len(req.Specs) > s.lim.MaxSpecs {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "%d specs; the limit is %d", len(req.Specs), s.lim.MaxSpecs)
	}
	px, _, err := s.requestImages(m, req.Image, req.Images)
	if err != nil {
		return nil, err
	}
	b := px.Shape[0]
	hooks, err := cacheHooks(m, req)
	if err != nil {
		return nil, err
	}
	ereq := engine.Request{Pixels: px, Hooks: hooks, NoLogits: req.NoLogits}
	if g := req.Grad; g != nil {
		switch classes := m.Dims().Vocab; {
		case g.Batch < 0 || g.Batch >= b:
			return nil, apiErr(http.StatusBadRequest, "grad.batch %d: the request has images 0..%d", g.Batch, b-1)
		case g.Pos != 0 && g.Pos != -1:
			return nil, apiErr(http.StatusBadRequest, "grad.pos %d: an image model's logits have one position (0 or -1)", g.Pos)
		case g.Token < 0 || g.Token >= classes:
			return nil, apiErr(http.StatusBadRequest, "grad.token %d: the classes are 0..%d", g.Token, classes-1)
		case len(hooks) == 0:
			return nil, apiErr(http.StatusBadRequest, "grad needs at least one hook to differentiate with respect to")
		}
		ereq.Grad = &engine.GradTarget{Batch: g.Batch, Token: g.Token}
	}
	res, err := s.runCache(r, m, req.Specs, ereq, b, 1)
	if err != nil {
		return nil, err
	}
	return &cacheRun{images: b, hooks: hooks, res: res, grad: ereq.Grad != nil}, nil
}

// interveneImage is /api/intervene for an image model: the class
// distribution without and with the interventions (nothing is generated).
// The specs and top are checked by intervene.
func (s *Server) interveneImage(r *http.Request, m *engine.Model, req api.InterveneRequest) (any, error) {
	if err := checkInput(m, nonEmpty("prompt", req.Prompt), req.Image != ""); err != nil {
		return nil, err
	}
	px, _, err := s.requestImages(m, req.Image, nil)
	if err != nil {
		return nil, err
	}
	out := &api.InterveneResponse{Tokens: []api.Token{}}
	var base, after []float32
	err = s.withModel(r.Context(), func(m *engine.Model) error {
		ivs, canon, err := s.compileSpecs(m, req.Specs)
		if err != nil {
			return err
		}
		out.Specs = canon
		r0, err := m.Run(engine.Request{Pixels: px})
		if err != nil {
			return err
		}
		r1, err := m.Run(engine.Request{Pixels: px, Interventions: ivs})
		if err != nil {
			return apiErr(http.StatusBadRequest, "%v", err)
		}
		base, after = r0.Logits.Data, r1.Logits.Data
		return nil
	})
	if err != nil {
		return nil, err
	}
	compareNext(m, out, base, after, req.Top)
	return out, nil
}
