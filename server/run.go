package server

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
)

// topHooks are the hooks whose units the explorer ranks: the atlas' hooks
// that the model has, else every mlp.hook_post.
func (s *Server) topHooks(m *engine.Model) []string {
	var out []string
	if s.idx != nil {
		for _, h := range s.idx.hooks {
			if _, err := m.HookShape(h.Name); err == nil {
				out = append(out, h.Name)
			}
		}
	}
	if len(out) == 0 {
		out, _ = m.MatchHooks("blocks.*.mlp.hook_post") // none: nothing to rank
	}
	return out
}

func (s *Server) atlasMax(hook string, unit int) *float64 {
	if s.idx == nil {
		return nil
	}
	v := float64(s.idx.maxOf(hook, unit))
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

// run is POST /api/run, the prompt explorer: api.RunRequest in, api.RunResponse out.
func (s *Server) run(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.RunRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if s.cfg.Model == nil {
		return nil, apiErr(http.StatusServiceUnavailable, "this server was started without a model")
	}
	if req.Top == 0 {
		req.Top = 5
	}
	if req.Top < 0 || req.Top > 20 {
		return nil, apiErr(http.StatusBadRequest, "top must be 0..20")
	}
	if len(req.Units) > 64 {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "at most 64 units per request")
	}
	if isImageModel(s.cfg.Model) || req.Image != "" {
		return s.runImage(r, s.cfg.Model, req)
	}
	if req.Hook != "" {
		return nil, apiErr(http.StatusBadRequest, `"hook" is for image models; trace a text model's units with "units"`)
	}
	layer := 0
	if req.AttnLayer != nil {
		layer = *req.AttnLayer
	}
	m := s.cfg.Model
	if layer >= m.Dims().Layers || layer < -1 {
		return nil, apiErr(http.StatusBadRequest, "attn_layer must be -1..%d", m.Dims().Layers-1)
	}
	ids, err := s.encode(m, "prompt", req.Prompt, s.lim.MaxPromptTokens)
	if err != nil {
		return nil, err
	}
	type chosen struct {
		id, hook string
		unit     int
	}
	var units []chosen
	hooks := s.topHooks(m)
	seen := map[string]bool{}
	for _, h := range hooks {
		seen[h] = true
	}
	for _, u := range req.Units {
		h, i, err := atlas.ParseUnit(strings.TrimSpace(u))
		if err != nil {
			return nil, apiErr(http.StatusBadRequest, "%v", err)
		}
		shape, err := m.HookShape(h)
		if err != nil || len(shape) != 3 {
			return nil, apiErr(http.StatusBadRequest, "%s is not a [batch,pos,unit] hook point of %s", h, m.Name)
		}
		if i < 0 || i >= shape[2] {
			return nil, apiErr(http.StatusBadRequest, "%s has units 0..%d", h, shape[2]-1)
		}
		units = append(units, chosen{fmt.Sprintf("%s:%d", h, i), h, i})
		if !seen[h] {
			seen[h] = true
			hooks = append(hooks, h)
		}
	}
	pat := ""
	if layer >= 0 {
		pat = fmt.Sprintf("blocks.%d.attn.hook_pattern", layer)
		if _, err := m.HookShape(pat); err != nil {
			pat = ""
		} else if !seen[pat] {
			hooks = append(hooks, pat)
		}
	}
	var res *engine.Result
	err = s.withModel(r.Context(), func(m *engine.Model) error {
		var err error
		res, err = padded(m, ids, hooks)
		return err
	})
	if err != nil {
		return nil, err
	}
	n := len(ids)
	out := &api.RunResponse{TopHooks: s.topHooks(m), Units: []api.UnitTrace{}}
	for _, id := range ids {
		out.Tokens = append(out.Tokens, api.Token{ID: id, Text: m.TokenText(id)})
	}
	for _, u := range units {
		a := res.Acts[u.hook]
		width := a.Shape[2]
		t := api.UnitTrace{ID: u.id, Max: s.atlasMax(u.hook, u.unit), Acts: make([]float32, n)}
		for p := range n {
			t.Acts[p] = a.Data[p*width+u.unit]
		}
		out.Units = append(out.Units, t)
	}
	// Top units per token, ranked by activation over the atlas' maximum
	// when known (raw activation otherwise), across the ranked hooks.
	out.Top = make([][]api.TopUnit, n)
	if req.Top > 0 {
		for p := range n {
			var cands []api.TopUnit
			var keys []float64
			for _, h := range out.TopHooks {
				a := res.Acts[h]
				width := a.Shape[2]
				row := a.Data[p*width : (p+1)*width]
				for u, v := range row {
					key := float64(v)
					var frac *float64
					if mx := s.atlasMax(h, u); mx != nil && *mx > 0 {
						f := float64(v) / *mx
						frac, key = &f, f
					}
					if len(cands) < req.Top || key > keys[len(keys)-1] {
						c := api.TopUnit{ID: h + ":" + strconv.Itoa(u), Act: v, Frac: frac}
						i := sort.Search(len(keys), func(i int) bool { return keys[i] < key })
						cands = append(cands[:i], append([]api.TopUnit{c}, cands[i:]...)...)
						keys = append(keys[:i], append([]float64{key}, keys[i:]...)...)
						if len(cands) > req.Top {
							cands, keys = cands[:req.Top], keys[:req.Top]
						}
					}
				}
			}
			out.Top[p] = cands
		}
	}
	if pat != "" {
		a := res.Acts[pat] // [1, head, q, k]
		H, T := a.Shape[1], a.Shape[2]
		att := &api.Attention{Layer: layer, Pattern: make([][][]float32, H)}
		for h := range H {
			att.Pattern[h] = make([][]float32, n)
			for q := range n {
				off := (h*T + q) * T
				att.Pattern[h][q] = append([]float32(nil), a.Data[off:off+n]...)
			}
		}
		out.Attention = att
	}
	v := res.Logits.Shape[2]
	out.Next = topK(m, res.Logits.Data[(n-1)*v:n*v], 10)
	return out, nil
}
