package server

import (
	"cmp"
	"encoding/json"
	"net/http"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/attrgraph"
	"github.com/glia-dev/glia/engine"
)

// maxGraphNodes bounds an attribution-graph request's work: each selected
// node is one row of a backward pass through the frozen model.
const maxGraphNodes = 1000

// maxGraphBytes bounds the rows one request computes.
const maxGraphBytes = 512 << 20

// attrGraph is POST /api/attrgraph: api.AttrGraphRequest in, api.AttrGraph
// out.
func (s *Server) attrGraph(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.AttrGraphRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	m := s.cfg.Model
	if m == nil {
		return nil, apiErr(http.StatusServiceUnavailable, "this server was started without a model")
	}
	d := m.Dims()
	switch {
	case req.MaxNodes > maxGraphNodes:
		return nil, apiErr(http.StatusRequestEntityTooLarge, "max_nodes %d: the limit is %d", req.MaxNodes, maxGraphNodes)
	case d.DMLP > 0 && req.PerSite > d.DMLP:
		return nil, apiErr(http.StatusBadRequest, "per_site %d: the model has %d neurons per layer", req.PerSite, d.DMLP)
	case req.NodeThreshold < 0 || req.NodeThreshold > 1 || req.EdgeThreshold < 0 || req.EdgeThreshold > 1:
		return nil, apiErr(http.StatusBadRequest, "node_threshold and edge_threshold are shares in [0, 1] (0: the default)")
	}
	ids, err := s.encode(m, "prompt", req.Prompt, s.lim.MaxPromptTokens)
	if err != nil {
		return nil, err
	}
	// The rows being computed hold (max_nodes + 10 logits) × (candidates +
	// sites + positions) float32: bounded here before any work.
	nodes, per := cmp.Or(req.MaxNodes, 200), cmp.Or(req.PerSite, 16)
	cols := d.Layers * len(ids) * (min(per, d.DMLP) + 1)
	if req.Heads || d.DMLP == 0 {
		cols += d.Layers * len(ids) * d.Heads
	}
	if b := 4 * (nodes + 10) * cols; b > maxGraphBytes {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "a graph of %d nodes over %d columns needs %d MiB of rows; the limit is %d MiB (fewer max_nodes, per_site or tokens)",
			nodes, cols, b>>20, maxGraphBytes>>20)
	}
	var out *api.AttrGraph
	err = s.withModel(r.Context(), func(m *engine.Model) error {
		g, err := attrgraph.Attribute(m, ids, attrgraph.Options{PerSite: req.PerSite, MaxNodes: req.MaxNodes, Heads: req.Heads,
			NodeThreshold: req.NodeThreshold, EdgeThreshold: req.EdgeThreshold})
		if err != nil {
			return apiErr(http.StatusBadRequest, "%v", err)
		}
		out = g
		return nil
	})
	return out, err
}

// attrGraphFile is GET /api/attrgraph/file: the graph given at start-up
// (glia serve --graph FILE), as written by glia attribute graph --out.
func (s *Server) attrGraphFile(w http.ResponseWriter, r *http.Request) (any, error) {
	if s.cfg.GraphJSON == nil {
		return nil, apiErr(http.StatusNotFound, "no attribution graph was given at start-up")
	}
	return json.RawMessage(s.cfg.GraphJSON), nil
}
