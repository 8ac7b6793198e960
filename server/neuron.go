package server

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/tokenizer"
)

// displayExamples renders the stored token text of a unit's examples the
// way engine.TokenText does (older atlases stored <0x0A>).
func displayExamples(rep *atlas.UnitReport) {
	each := func(es []atlas.Example) {
		for i := range es {
			for j, t := range es[i].Text {
				es[i].Text[j] = tokenizer.Display(t)
			}
		}
	}
	each(rep.Top)
	each(rep.Random)
	for _, b := range rep.Bands {
		each(b.Examples)
	}
}

// explanation reads what glia explain stored for a unit (nil if nothing).
func (x *atlasIndex) explanation(hook string, unit int) (*api.Explanation, error) {
	if x.store == nil {
		return nil, nil
	}
	e, err := x.store.Explanation(hook, unit)
	if err != nil || e == nil {
		return nil, err
	}
	out := &api.Explanation{Label: e.Label, Score: e.Score, Facets: []string{}}
	if e.LLM != nil && e.LLM.Label != "" && e.LLM.Error == "" {
		out.Label, out.Score = e.LLM.Label, e.LLM.Score
	}
	if e.Facets != nil && len(e.Facets.Facets) > 1 {
		for _, f := range e.Facets.Facets {
			out.Facets = append(out.Facets, fmt.Sprintf("%s, mean %.3g", f.Label, f.MeanAct))
		}
	}
	lens := e.Lens
	if lens == nil {
		if lens, err = x.store.Lens(hook, unit); err != nil {
			lens = nil
		}
	}
	if lens != nil {
		for _, t := range lens.Promoted[:min(10, len(lens.Promoted))] {
			out.LensTop = append(out.LensTop, api.LensItem{Token: tokenizer.Display(t.Text), Value: float64(t.Logit)})
		}
		for _, t := range lens.Suppressed[:min(10, len(lens.Suppressed))] {
			out.LensBottom = append(out.LensBottom, api.LensItem{Token: tokenizer.Display(t.Text), Value: float64(t.Logit)})
		}
	}
	return out, nil
}

// neuron is GET /api/neurons/{hook}/{unit} (api.NeuronResponse).
func (s *Server) neuron(w http.ResponseWriter, r *http.Request) (any, error) {
	x, err := s.needAtlas()
	if err != nil {
		return nil, err
	}
	hook := r.PathValue("hook")
	unit, err := strconv.Atoi(r.PathValue("unit"))
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "unit %q is not a number", r.PathValue("unit"))
	}
	h, ok := x.hookNo[hook]
	if !ok {
		return nil, apiErr(http.StatusNotFound, "the atlas has no hook %q", hook)
	}
	if unit < 0 || unit >= x.hooks[h].Width {
		return nil, apiErr(http.StatusNotFound, "%s has units 0..%d", hook, x.hooks[h].Width-1)
	}
	x.mu.Lock()
	rep, err := x.a.Unit(hook, unit)
	x.mu.Unlock()
	if err != nil {
		return nil, apiErr(http.StatusNotFound, "%v", err)
	}
	displayExamples(rep)
	out := &api.NeuronResponse{ID: fmt.Sprintf("%s:%d", hook, unit), Report: wireReport(rep), Hist: histBins(rep.Hist),
		Neighbours: map[string]string{}, ModelName: x.a.Meta.ModelName, Tokens: x.a.Meta.Tokens, Hooks: each(x.hooks, wireHook)}
	if unit > 0 {
		out.Neighbours["prev"] = fmt.Sprintf("%s:%d", hook, unit-1)
	}
	if unit+1 < x.hooks[h].Width {
		out.Neighbours["next"] = fmt.Sprintf("%s:%d", hook, unit+1)
	}
	if h > 0 && unit < x.hooks[h-1].Width {
		out.Neighbours["up"] = fmt.Sprintf("%s:%d", x.hooks[h-1].Name, unit)
	}
	if h+1 < len(x.hooks) && unit < x.hooks[h+1].Width {
		out.Neighbours["down"] = fmt.Sprintf("%s:%d", x.hooks[h+1].Name, unit)
	}
	if img, err := x.imageUnit(hook, unit); err != nil || img != nil {
		if err != nil {
			return nil, apiErr(http.StatusNotFound, "%v", err)
		}
		out.Images = wireImageUnit(img)
	}
	out.Explanation, err = x.explanation(hook, unit)
	if err != nil {
		return nil, err
	}
	if out.Explanation == nil {
		out.ExplainNote = notExplained
	}
	return out, nil
}

func histBins(hist []uint64) []api.HistBin {
	edges := atlas.HistEdges()
	first, last := -1, -1
	for i, c := range hist {
		if c > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	out := []api.HistBin{}
	for i := first; i >= 0 && i <= last && i+1 < len(edges); i++ {
		b := api.HistBin{Count: hist[i]}
		if lo := edges[i]; !math.IsInf(lo, 0) {
			b.Lo = &lo
		}
		if hi := edges[i+1]; !math.IsInf(hi, 0) {
			b.Hi = &hi
		}
		out = append(out, b)
	}
	return out
}
