package server

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/concepts"
	"github.com/glia-dev/glia/engine"
)

// concepts is POST /api/concepts: the concepts package over the request's
// texts, as glia concepts runs it over corpus files (each text one window).
func (s *Server) conceptsHandler(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.ConceptsRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if len(req.Corpora) < 2 {
		return nil, apiErr(http.StatusBadRequest, "corpora: give at least two (one per concept)")
	}
	if req.Methods == "" {
		req.Methods = string(concepts.MeanDiff)
	}
	methods, err := concepts.ParseMethods(req.Methods)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "methods: %v", err)
	}
	mode := concepts.Mode(req.Verify)
	switch req.Verify {
	case "":
		mode = concepts.ModeZero
	case "none", string(concepts.ModeZero), string(concepts.ModeAurA):
	default:
		return nil, apiErr(http.StatusBadRequest, "verify %q: want zero, aura or none", req.Verify)
	}
	if req.Hooks == "" {
		req.Hooks = "blocks.*.mlp.hook_post"
	}
	m := s.cfg.Model
	if m == nil {
		return nil, apiErr(http.StatusServiceUnavailable, "this server was started without a model")
	}
	seen := map[string]bool{}
	var corpora []concepts.Corpus
	total := 0
	for i, c := range req.Corpora {
		switch {
		case c.Name == "":
			return nil, apiErr(http.StatusBadRequest, "corpora[%d].name is empty", i)
		case seen[c.Name]:
			return nil, apiErr(http.StatusBadRequest, "corpora[%d].name %q is given twice", i, c.Name)
		case len(c.Texts) == 0:
			return nil, apiErr(http.StatusBadRequest, "corpora[%d] (%s) has no texts", i, c.Name)
		}
		seen[c.Name] = true
		if total += len(c.Texts); total > s.lim.MaxStimuli {
			return nil, apiErr(http.StatusRequestEntityTooLarge, "more than %d texts in all; the limit is %d", total-1, s.lim.MaxStimuli)
		}
		cp := concepts.Corpus{Name: c.Name}
		for j, t := range c.Texts {
			ids, err := s.encode(m, fmt.Sprintf("corpora[%d].texts[%d]", i, j), t, s.lim.MaxPromptTokens)
			if err != nil {
				return nil, err
			}
			if len(ids) >= 2 { // a window needs a next token to be scored
				cp.Windows = append(cp.Windows, ids)
			}
		}
		if len(cp.Windows) == 0 {
			return nil, apiErr(http.StatusBadRequest, "corpora[%d] (%s): every text is a single token", i, c.Name)
		}
		corpora = append(corpora, cp)
	}
	start := time.Now()
	var buf bytes.Buffer
	err = s.withModel(r.Context(), func(m *engine.Model) error {
		hooks, err := m.MatchHooks(req.Hooks)
		if err != nil {
			return apiErr(http.StatusBadRequest, "hooks: %v", err)
		}
		rep, _, err := concepts.Run(m, corpora, nil, concepts.RunOptions{Methods: methods, Collect: concepts.Options{Hooks: hooks},
			Params: concepts.Params{Rate: req.Rate, TopRate: req.TopRate}, Verify: mode})
		if err != nil {
			return apiErr(http.StatusBadRequest, "%v", err)
		}
		return concepts.WriteJSON(&buf, rep)
	})
	if err != nil {
		return nil, err
	}
	return &api.ConceptsResponse{Report: bytes.TrimSpace(buf.Bytes()), Seconds: time.Since(start).Seconds()}, nil
}
