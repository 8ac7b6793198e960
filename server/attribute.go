package server

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/attribution"
	"github.com/glia-dev/glia/engine"
)

// maxIGSteps bounds an IG request's work (each step is a forward and
// backward pass of the prompt).
const maxIGSteps = 200

// attribute is POST /api/attribute: api.AttributeRequest in,
// api.AttributeResponse out.
func (s *Server) attribute(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.AttributeRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	m := s.cfg.Model
	if m == nil {
		return nil, apiErr(http.StatusServiceUnavailable, "this server was started without a model")
	}
	switch req.Method {
	case "dla", "lens", "ig", "gradxact", "atp":
	default:
		return nil, apiErr(http.StatusBadRequest, "method %q: want dla, lens, ig, gradxact or atp", req.Method)
	}
	if req.Per != "" && req.Per != "unit" && req.Per != "pos" {
		return nil, apiErr(http.StatusBadRequest, "per %q: want unit or pos", req.Per)
	}
	if req.Steps > maxIGSteps {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "steps %d: the limit is %d", req.Steps, maxIGSteps)
	}
	rule, err := attribution.ParseRule(req.Rule)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "%v", err)
	}
	ids, err := s.encode(m, "prompt", req.Prompt, s.lim.MaxPromptTokens)
	if err != nil {
		return nil, err
	}
	var base, corrupt []int32
	if req.Baseline != "" {
		if base, err = s.encode(m, "baseline", req.Baseline, s.lim.MaxPromptTokens); err != nil {
			return nil, err
		}
	}
	if req.Method == "atp" {
		if corrupt, err = s.encode(m, "corrupt", req.Corrupt, s.lim.MaxPromptTokens); err != nil {
			return nil, err
		}
	}
	pos := -1
	if req.Pos != nil {
		pos = *req.Pos
	}
	top := req.Top
	if top <= 0 {
		top = 20
	}
	top = min(top, 200)
	hook := req.Hook
	if hook == "" && req.Method != "atp" {
		hook = "hook_embed"
	}
	start := time.Now()
	out := &api.AttributeResponse{Method: req.Method}
	for _, id := range ids {
		out.Tokens = append(out.Tokens, api.Token{ID: id, Text: m.TokenText(id)})
	}
	err = s.withModel(r.Context(), func(m *engine.Model) error {
		t, err := attribution.ParseTarget(m, ids, pos, req.Target, req.Metric, req.Objective)
		if err != nil {
			return apiErr(http.StatusBadRequest, "%v", err)
		}
		out.Target = t.Describe(m, ids)
		switch req.Method {
		case "dla":
			err = s.dla(m, ids, t, top, out)
		case "lens":
			err = s.lens(m, ids, t, top, out)
		case "atp":
			err = s.atp(m, ids, corrupt, hook, t, top, attribution.AtPOptions{QKFix: req.Star, GradDrop: req.Star, Pos: req.Per == "pos"}, out)
		default:
			err = s.gradAttr(m, ids, t, hook, attribution.IGOptions{Steps: req.Steps, Rule: rule, Baseline: base}, req.Method == "ig", top, out)
		}
		if err != nil && r.Context().Err() == nil {
			return apiErr(http.StatusBadRequest, "%v", err)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out.Seconds = time.Since(start).Seconds()
	return out, nil
}

func (s *Server) dla(m *engine.Model, ids []int32, t attribution.Target, top int, out *api.AttributeResponse) error {
	res, err := attribution.DLA(m, ids, t)
	if err != nil {
		return err
	}
	out.Value, out.Sum, out.Check, out.Notes = res.PreCap, res.Sum, res.Completeness, res.Notes
	for _, c := range res.Top(top) {
		out.Components = append(out.Components, api.AttrScore{Name: c.Name, Score: c.Score})
	}
	return nil
}

func (s *Server) lens(m *engine.Model, ids []int32, t attribution.Target, top int, out *api.AttributeResponse) error {
	if t.Kind != attribution.Logit {
		return fmt.Errorf("the lens follows one token: give a target, not a metric or objective")
	}
	res, err := attribution.Lens(m, ids, t.Pos, t.Token, min(top, 20))
	if err != nil {
		return err
	}
	for _, l := range res.Layers {
		row := api.LensRow{Hook: l.Hook, Rank: l.Rank, Prob: l.Prob}
		for _, tp := range l.Top {
			row.Top = append(row.Top, api.NextToken{ID: int(tp.Token), Token: tp.Text, Prob: tp.Prob, Logit: float32(tp.Logit)})
		}
		out.Lens = append(out.Lens, row)
	}
	return nil
}

func (s *Server) gradAttr(m *engine.Model, ids []int32, t attribution.Target, hook string, o attribution.IGOptions, ig bool, top int, out *api.AttributeResponse) error {
	if _, err := m.HookShape(hook); err != nil {
		return err
	}
	var res *attribution.AttrResult
	var err error
	if ig {
		res, err = attribution.IG(m, ids, hook, t, o)
	} else {
		res, err = attribution.GradXAct(m, ids, hook, t)
	}
	if err != nil {
		return err
	}
	out.Value, out.Sum, out.Check, out.Notes, out.ByPos = res.F, res.Sum, res.Relative, res.Notes, res.ByPos()
	for _, e := range res.Top(top) {
		out.Components = append(out.Components, api.AttrScore{Name: fmt.Sprint(e.Index), Score: e.Attr})
	}
	return nil
}

func (s *Server) atp(m *engine.Model, clean, corrupt []int32, hook string, t attribution.Target, top int, o attribution.AtPOptions, out *api.AttributeResponse) error {
	if hook == "" {
		hook = "blocks.*.mlp.hook_post"
	}
	hooks, err := m.MatchHooks(strings.Split(hook, ",")...) // several globs, as the CLI's --hook
	if err != nil {
		return err
	}
	o.Check = min(top, 20)
	res, err := attribution.AtPStar(m, clean, corrupt, hooks, t, o)
	if err != nil {
		return err
	}
	out.Value, out.Check = res.Clean, res.Spearman
	for _, n := range res.Nodes[:min(top, len(res.Nodes))] {
		out.Components = append(out.Components, api.AttrScore{Name: fmt.Sprintf("%s:%d", n.Hook, n.Index), Score: n.Estimate, Real: n.Patched})
		out.Sum += n.Estimate
	}
	return nil
}
