package server

import (
	"context"
	"math"
	"net/http"
	"sort"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/intervene"
)

// compileSpecs parses and compiles specs. Specs whose value is read from a
// file are refused: no request names a file.
func (s *Server) compileSpecs(m *engine.Model, specs []string) ([]engine.Intervention, []string, error) {
	var ivs []engine.Intervention
	var canon []string
	for _, text := range specs {
		sp, err := intervene.Parse(text)
		if err != nil {
			return nil, nil, apiErr(http.StatusBadRequest, "%v", err)
		}
		if sp.Value.Kind == intervene.ValVector {
			return nil, nil, apiErr(http.StatusBadRequest, "intervention %q reads a file (@%s): the server never takes a file path from a request; use numbers, zero, mean or resample", text, sp.Value.File)
		}
		var o intervene.Options
		if sp.Value.Kind == intervene.ValMean {
			if s.idx == nil {
				return nil, nil, apiErr(http.StatusBadRequest, "intervention %q: mean ablation needs an atlas, and this server has none", text)
			}
			o.Means = s.model.means // built in New
		}
		iv, err := sp.Compile(m, o)
		if err != nil {
			return nil, nil, apiErr(http.StatusBadRequest, "%v", err)
		}
		ivs = append(ivs, iv)
		canon = append(canon, sp.String())
	}
	return ivs, canon, nil
}

// intervene is POST /api/intervene, the playground: api.InterveneRequest in,
// api.InterveneResponse out.
func (s *Server) intervene(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.InterveneRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if s.cfg.Model == nil {
		return nil, apiErr(http.StatusServiceUnavailable, "this server was started without a model")
	}
	if len(req.Specs) == 0 {
		return nil, apiErr(http.StatusBadRequest, "give at least one intervention spec")
	}
	if len(req.Specs) > s.lim.MaxSpecs {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "%d specs; the limit is %d", len(req.Specs), s.lim.MaxSpecs)
	}
	maxNew := 16
	if req.MaxNew != nil {
		maxNew = *req.MaxNew
	}
	if maxNew < 0 || maxNew > s.lim.MaxNew {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "max_new must be 0..%d", s.lim.MaxNew)
	}
	if req.Top == 0 {
		req.Top = 10
	}
	if req.Top < 1 || req.Top > 50 {
		return nil, apiErr(http.StatusBadRequest, "top must be 1..50")
	}
	m := s.cfg.Model
	if isImageModel(m) || req.Image != "" {
		return s.interveneImage(r, m, req)
	}
	ids, err := s.encode(m, "prompt", req.Prompt, s.lim.MaxPromptTokens)
	if err != nil {
		return nil, err
	}
	out := &api.InterveneResponse{}
	for _, id := range ids {
		out.Tokens = append(out.Tokens, api.Token{ID: id, Text: m.TokenText(id)})
	}
	var base, after []float32
	var genBase, genAfter []int32
	ctx := r.Context()
	err = s.withModel(ctx, func(m *engine.Model) error {
		ivs, canon, err := s.compileSpecs(m, req.Specs)
		if err != nil {
			return err
		}
		out.Specs = canon
		// Unpadded, so that negative positions in specs count from the
		// prompt's last token.
		v := m.Dims().Vocab
		n := len(ids)
		r0, err := m.Run(engine.Request{IDs: [][]int32{ids}})
		if err != nil {
			return err
		}
		r1, err := m.Run(engine.Request{IDs: [][]int32{ids}, Interventions: ivs})
		if err != nil {
			return apiErr(http.StatusBadRequest, "%v", err)
		}
		base, after = r0.Logits.Data[(n-1)*v:n*v], r1.Logits.Data[(n-1)*v:n*v]
		if maxNew > 0 {
			if genBase, err = generate(ctx, m, ids, maxNew, nil); err != nil {
				return err
			}
			if genAfter, err = generate(ctx, m, ids, maxNew, ivs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	compareNext(m, out, base, after, req.Top)
	if m.Tokenizer != nil {
		dec := func(g []int32) string {
			text, _ := m.Decode(g, true) // no error: the tokenizer is there
			return text
		}
		out.BaseText, out.AfterText = dec(genBase), dec(genAfter)
	}
	return out, nil
}

// compareNext fills the next-token (or class) lists, their changes and the
// KL divergence from the logits without and with the interventions.
func compareNext(m *engine.Model, out *api.InterveneResponse, base, after []float32, top int) {
	out.Base, out.After = topK(m, base, top), topK(m, after, top)
	pb, pa := engine.Probs(base), engine.Probs(after)
	for i := range pb {
		if pb[i] > 0 {
			out.KL += pb[i] * (math.Log(pb[i]) - math.Log(math.Max(pa[i], 1e-300)))
		}
	}
	seen := map[int]bool{}
	for _, t := range append(append([]api.NextToken(nil), out.Base...), out.After...) {
		if seen[t.ID] {
			continue
		}
		seen[t.ID] = true
		out.Changes = append(out.Changes, api.TokenChange{ID: t.ID, Token: t.Token, Base: pb[t.ID], After: pa[t.ID], Delta: pa[t.ID] - pb[t.ID]})
	}
	sort.SliceStable(out.Changes, func(i, j int) bool { return math.Abs(out.Changes[i].Delta) > math.Abs(out.Changes[j].Delta) })
}

// generate is greedy decoding that stops at the request's deadline (checked
// between tokens) and after the end-of-sequence token.
func generate(ctx context.Context, m *engine.Model, prompt []int32, maxNew int, ivs []engine.Intervention) ([]int32, error) {
	return m.Generate(prompt, engine.GenerateOptions{MaxNew: maxNew, Interventions: ivs, StopAtEOS: true, Context: ctx})
}
