package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/experiment"
)

// patch is POST /api/patch: api.PatchRequest in, api.PatchResponse out.
func (s *Server) patch(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.PatchRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	m := s.cfg.Model
	if m == nil {
		return nil, apiErr(http.StatusServiceUnavailable, "this server was started without a model")
	}
	kind, err := experiment.ParseKind(req.Hook)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "hook: %v", err)
	}
	per, err := experiment.ParsePer(req.Per)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "%v", err)
	}
	metric, err := experiment.ParseMetric(req.Metric)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "%v", err)
	}
	clean, err := s.encode(m, "clean", req.Clean, s.lim.MaxPatchTokens)
	if err != nil {
		return nil, err
	}
	corrupt, err := s.encode(m, "corrupt", req.Corrupt, s.lim.MaxPatchTokens)
	if err != nil {
		return nil, err
	}
	a, b, err := metric.Tokens(m)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "%v", err)
	}
	d := m.Dims()
	cols := max(len(clean), len(corrupt))
	switch per {
	case experiment.PerHead:
		cols = d.Heads
	case experiment.PerLayer:
		cols = 1
	case experiment.PerNeuron:
		cols = d.DMLP
	}
	if cells := d.Layers * cols; cells > s.lim.MaxPatchCells {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "the sweep has %d cells (%d layers × %d); the limit is %d", cells, d.Layers, cols, s.lim.MaxPatchCells)
	}
	pair := experiment.Pair{Clean: clean, Corrupt: corrupt, A: a, B: b}
	var res *experiment.PatchResult
	err = s.withModel(r.Context(), func(m *engine.Model) error {
		var err error
		res, err = experiment.Sweep(m, []experiment.Pair{pair}, experiment.PatchOptions{Kind: kind, Per: per, Context: r.Context()})
		if r.Context().Err() != nil {
			return err // the deadline: a 503 that says so
		}
		if err != nil {
			return apiErr(http.StatusBadRequest, "%v", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p := res.Pairs[0]
	g := res.Grid(pair, m.TokenText)
	return &api.PatchResponse{Grid: wireGrid(g), Clean: p.Clean, Corrupt: p.Corrupt, Rows: res.Rows, Seconds: res.Seconds}, nil
}

// patchFile is GET /api/patch/file (api.PatchFileResponse).
func (s *Server) patchFile(w http.ResponseWriter, r *http.Request) (any, error) {
	if s.cfg.PatchJSON == nil {
		return nil, apiErr(http.StatusNotFound, "no patch result was given at start-up")
	}
	out := &api.PatchFileResponse{Name: s.cfg.PatchName, Result: s.cfg.PatchJSON}
	var f struct {
		Kind  string            `json:"kind"`
		Per   string            `json:"per"`
		Mean  experiment.Values `json:"mean_effect"`
		Pairs []struct {
			Effect experiment.Values `json:"effect"`
		} `json:"pairs"`
	}
	if json.Unmarshal(s.cfg.PatchJSON, &f) == nil {
		vals := f.Mean
		if vals == nil && len(f.Pairs) > 0 {
			vals = f.Pairs[0].Effect
		}
		if len(vals) > 0 {
			g := experiment.LayerGrid(fmt.Sprintf("%s patching, per %s (%s)", f.Kind, f.Per, s.cfg.PatchName), "", vals, nil)
			wg := wireGrid(g)
			out.Grid = &wg
		}
	}
	return out, nil
}
