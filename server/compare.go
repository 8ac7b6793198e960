package server

import (
	"errors"
	"fmt"
	"net/http"

	"gonum.org/v1/gonum/mat"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/compare"
	"github.com/glia-dev/glia/compare/source"
	"github.com/glia-dev/glia/engine"
)

// compareHooks is POST /api/compare: glia compare between hooks of the
// server's model over the request's prompts, or between its hooks and a
// recording sent in the request (no file is named).
func (s *Server) compareHooks(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.CompareRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	spec, rep, pool, err := compareSettings(req)
	if err != nil {
		return nil, err
	}
	switch {
	case req.A == "":
		return nil, apiErr(http.StatusBadRequest, "a: give a hook glob (e.g. blocks.*.hook_resid_post)")
	case req.B != "" && req.Recording != nil:
		return nil, apiErr(http.StatusBadRequest, "give b or recording, not both")
	case len(req.Prompts) > s.lim.MaxStimuli:
		return nil, apiErr(http.StatusRequestEntityTooLarge, "%d prompts; the limit is %d", len(req.Prompts), s.lim.MaxStimuli)
	case req.IDs != nil && len(req.IDs) != len(req.Prompts):
		return nil, apiErr(http.StatusBadRequest, "%d ids for %d prompts", len(req.IDs), len(req.Prompts))
	}
	m := s.cfg.Model
	if m == nil {
		return nil, apiErr(http.StatusServiceUnavailable, "this server was started without a model")
	}
	var stimuli []source.Stimulus
	for i, p := range req.Prompts {
		ids, err := s.encode(m, fmt.Sprintf("prompts[%d]", i), p, s.lim.MaxPromptTokens)
		if err != nil {
			return nil, err
		}
		st := source.Stimulus{IDs: ids}
		if req.IDs != nil {
			st.ID = req.IDs[i]
		}
		stimuli = append(stimuli, st)
	}
	var a, b []*source.Matrix
	err = s.withModel(r.Context(), func(m *engine.Model) error {
		var err error
		if a, err = source.HookMatrices(m, req.A, stimuli, pool, 8); err != nil {
			return apiErr(http.StatusBadRequest, "a: %v", err)
		}
		switch {
		case req.Recording != nil:
			b, err = recordingMatrices(req.Recording)
		case req.B != "" && req.B != req.A:
			if b, err = source.HookMatrices(m, req.B, stimuli, pool, 8); err != nil {
				err = apiErr(http.StatusBadRequest, "b: %v", err)
			}
		default:
			b = a
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	xa, xb, err := source.AlignAll(a, b)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "%v", err)
	}
	out := &api.CompareResponse{Method: spec.String(), Rows: source.Names(a), Cols: source.Names(b)}
	out.Stimuli, _ = xa[0].Dims()
	out.Title = fmt.Sprintf("%s over %d stimuli", spec, out.Stimuli)
	if req.Recording != nil && len(xb) > 1 {
		rep.Reps = xb
		res, err := rep.Score(xa, spec)
		if err != nil {
			return nil, apiErr(http.StatusBadRequest, "%v", source.NameCell(err, a, b))
		}
		out.Cols = []string{fmt.Sprintf("%s (%d repetitions)", b[0].Name, len(xb))}
		for _, v := range res.Scores {
			out.Values = append(out.Values, []float64{v})
		}
		if res.Ceiling != nil {
			out.Ceiling = &api.CompareCeiling{Lower: res.Ceiling.Lower, Upper: res.Ceiling.Upper}
		}
		out.Reliability, out.Ceiled = res.Reliability, res.Ceiled
		return out, nil
	}
	if out.Values, err = compare.Grid(xa, xb, spec); err != nil {
		return nil, apiErr(http.StatusBadRequest, "%v", source.NameCell(err, a, b))
	}
	return out, nil
}

// compareSettings reads the request's measure, its defaults filled in.
func compareSettings(req api.CompareRequest) (compare.Spec, compare.Repeated, source.Pool, error) {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	spec := compare.Spec{Method: compare.Method(or(req.Method, "cka")), RDM: compare.Distance(or(req.RDM, "correlation")),
		Compare: compare.Comparison(or(req.Compare, "spearman")), Geodesic: req.Geodesic}
	rep := compare.Repeated{RDM: compare.Distance(req.DataRDM)}
	if n := or(req.Noise, "shrinkage-diag"); n != "none" {
		rep.Noise = compare.NoiseMethod(n)
	}
	bad := func(err error) (compare.Spec, compare.Repeated, source.Pool, error) {
		return spec, rep, source.Pool{}, apiErr(http.StatusBadRequest, "%v", err)
	}
	switch len(req.Topo) {
	case 0:
	case 2:
		spec.Topo = &[2]float64{req.Topo[0], req.Topo[1]}
	default:
		return bad(errors.New("topo: give [low, up]"))
	}
	if err := spec.Check(); err != nil {
		return bad(err)
	}
	if err := rep.Check(); err != nil {
		return bad(err)
	}
	pool, err := source.ParsePool(or(req.Pool, "last"))
	if err != nil {
		return bad(fmt.Errorf("pool: %w", err))
	}
	return spec, rep, pool, nil
}

// recordingMatrices is a request's recording, one matrix per repetition.
func recordingMatrices(rec *api.CompareMatrix) ([]*source.Matrix, error) {
	if len(rec.Reps) == 0 {
		return nil, apiErr(http.StatusBadRequest, "recording.reps: give at least one stimuli × features matrix")
	}
	name := rec.Name
	if name == "" {
		name = "recording"
	}
	var out []*source.Matrix
	for k, rows := range rec.Reps {
		if len(rows) == 0 || len(rows[0]) == 0 {
			return nil, apiErr(http.StatusBadRequest, "recording.reps[%d] is empty", k)
		}
		x := mat.NewDense(len(rows), len(rows[0]), nil)
		for i, row := range rows {
			if len(row) != len(rows[0]) {
				return nil, apiErr(http.StatusBadRequest, "recording.reps[%d][%d] has %d values, row 0 %d", k, i, len(row), len(rows[0]))
			}
			x.SetRow(i, row)
		}
		if rec.IDs != nil && len(rec.IDs) != len(rows) {
			return nil, apiErr(http.StatusBadRequest, "recording: %d ids for %d rows", len(rec.IDs), len(rows))
		}
		label := name
		if len(rec.Reps) > 1 {
			label = fmt.Sprintf("%s[%d]", name, k)
		}
		out = append(out, &source.Matrix{Name: label, IDs: rec.IDs, X: x})
	}
	return out, nil
}
