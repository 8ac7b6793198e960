package server

import (
	"net/http"

	"github.com/glia-dev/glia/api"
)

func (s *Server) health(w http.ResponseWriter, r *http.Request) (any, error) {
	return api.Health{OK: true, Atlas: s.idx != nil, Model: s.model != nil}, nil
}

// overview is GET /api/overview (api.Overview).
func (s *Server) overview(w http.ResponseWriter, r *http.Request) (any, error) {
	o := &api.Overview{Hooks: []api.HookRow{}, Limit: s.lim.wire(), Patch: s.cfg.PatchName}
	inAtlas := map[string]int{}
	if x := s.idx; x != nil {
		meta := x.a.Meta
		as := &api.AtlasSummary{ModelName: meta.ModelName, Fingerprint: meta.ModelFingerprint, Status: meta.Status, Tokens: meta.Tokens,
			Windows: meta.Windows, Settings: wireSettings(meta.Settings), Hooks: each(x.hooks, wireHook), Corpus: []string{}}
		if info, err := x.a.ImageInfo(); err == nil && info != nil {
			as.Kind = "images"
		}
		for _, c := range meta.Corpus {
			as.Corpus = append(as.Corpus, c.Name)
		}
		for _, h := range x.hooks {
			as.Units += h.Width
			inAtlas[h.Name] = h.Width
		}
		if m := s.cfg.Model; m != nil {
			ok := m.Fingerprint() == meta.ModelFingerprint
			as.Matches = &ok
		}
		o.Atlas = as
	}
	if m := s.cfg.Model; m != nil {
		o.Model = &api.ModelSummary{Name: m.Name, Type: m.Config.String("model_type", "?"), Dims: api.Dims(m.Dims()), Params: m.NumParams(),
			Fingerprint: m.Fingerprint(), Tokenizer: m.Tokenizer != nil}
		hs, err := m.HookPoints()
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			w, ok := inAtlas[h.Name]
			o.Hooks = append(o.Hooks, api.HookRow{Name: h.Name, Shape: h.Shape, InAtlas: ok, Units: w})
			delete(inAtlas, h.Name)
		}
	}
	if s.idx != nil {
		for _, h := range s.idx.hooks {
			if w, ok := inAtlas[h.Name]; ok {
				o.Hooks = append(o.Hooks, api.HookRow{Name: h.Name, InAtlas: true, Units: w})
			}
		}
	}
	return o, nil
}
