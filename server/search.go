package server

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/tokenizer"
)

func (x *atlasIndex) hit(h, u int) api.SearchHit {
	s := &x.units[h][u]
	out := api.SearchHit{ID: fmt.Sprintf("%s:%d", x.hooks[h].Name, u), Hook: x.hooks[h].Name, Unit: u, Mean: float64(s.Mean), Density: float64(s.Density)}
	if !math.IsNaN(float64(s.Max)) {
		m := float64(s.Max)
		out.Max = &m
	}
	// buildTokenIndex writes TopTok: read it once that is done (a search
	// by layer may come first).
	select {
	case <-x.ready:
		if s.TopTok >= 0 {
			out.TopTok = x.tokenText(s.TopTok)
		}
	default:
	}
	return out
}

// layerOf reads the layer number of "blocks.L...." hook names (-1 otherwise).
func layerOf(hook string) int {
	rest, ok := strings.CutPrefix(hook, "blocks.")
	if !ok {
		return -1
	}
	n, _, _ := strings.Cut(rest, ".")
	l, err := strconv.Atoi(n)
	if err != nil {
		return -1
	}
	return l
}

// search is GET /api/search (api.SearchResponse): it finds units by token
// (the center of their top examples), by label text (once explained), or
// lists a layer's or hook's units ranked.
func (s *Server) search(w http.ResponseWriter, r *http.Request) (any, error) {
	x, err := s.needAtlas()
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	token, label, layerS, hook := q.Get("token"), strings.TrimSpace(q.Get("label")), q.Get("layer"), q.Get("hook")
	sortBy := q.Get("sort")
	limit, offset := 50, 0
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			return nil, apiErr(http.StatusBadRequest, "limit must be 1..500")
		}
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return nil, apiErr(http.StatusBadRequest, "offset must be a non-negative integer")
		}
	}
	layer := -1
	if layerS != "" {
		if layer, err = strconv.Atoi(layerS); err != nil || layer < 0 {
			return nil, apiErr(http.StatusBadRequest, "layer must be a non-negative integer")
		}
	}
	if len(token) > 200 || len(label) > 200 || len(hook) > 200 {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "search terms are limited to 200 bytes")
	}
	if hook != "" {
		if _, ok := x.hookNo[hook]; !ok {
			return nil, apiErr(http.StatusNotFound, "the atlas has no hook %q", hook)
		}
	}
	inScope := func(h int) bool {
		return (hook == "" || x.hooks[h].Name == hook) && (layer < 0 || layerOf(x.hooks[h].Name) == layer)
	}
	resp := &api.SearchResponse{Query: map[string]string{}, Hits: []api.SearchHit{}}
	for k, v := range q {
		if len(v) > 0 && v[0] != "" {
			resp.Query[k] = v[0]
		}
	}
	var hits []api.SearchHit
	switch {
	case label != "":
		if sortBy == "" {
			sortBy = "unit"
		}
		if x.store == nil {
			resp.Note = "labels: " + notExplained
			break
		}
		found, err := x.store.SearchText(label, 5000)
		if err != nil {
			return nil, apiErr(http.StatusBadRequest, "%v", err)
		}
		for _, f := range found {
			h, ok := x.hookNo[f.Hook]
			if !ok || f.Unit < 0 || f.Unit >= len(x.units[h]) || !inScope(h) {
				continue
			}
			hh := x.hit(h, f.Unit)
			hh.Label = f.Label
			hits = append(hits, hh)
		}
	case token != "":
		select {
		case <-x.ready:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
		if x.idxErr != nil {
			return nil, fmt.Errorf("token index: %w", x.idxErr)
		}
		// Several vocabulary entries can match (" dog", "Dog"): one hit a
		// unit, its matches summed.
		at := map[[2]int32]int{}
		for _, id := range x.matchTokens(token) {
			resp.Tokens = append(resp.Tokens, x.tokenText(id))
			for _, th := range x.byToken[id] {
				if !inScope(int(th.hook)) {
					continue
				}
				k := [2]int32{int32(th.hook), int32(th.unit)}
				if i, ok := at[k]; ok {
					hits[i].Matches += int(th.n)
					continue
				}
				at[k] = len(hits)
				hh := x.hit(int(th.hook), int(th.unit))
				hh.Matches = int(th.n)
				hits = append(hits, hh)
			}
		}
		if sortBy == "" {
			sortBy = "matches"
		}
	default:
		for h := range x.hooks {
			if !inScope(h) {
				continue
			}
			for u := range x.units[h] {
				hits = append(hits, x.hit(h, u))
			}
		}
		if sortBy == "" {
			sortBy = "unit"
		}
	}
	maxv := func(h api.SearchHit) float64 {
		if h.Max == nil {
			return math.Inf(-1)
		}
		return *h.Max
	}
	switch sortBy {
	case "matches":
		sort.SliceStable(hits, func(i, j int) bool {
			if hits[i].Matches != hits[j].Matches {
				return hits[i].Matches > hits[j].Matches
			}
			return maxv(hits[i]) > maxv(hits[j])
		})
	case "max":
		sort.SliceStable(hits, func(i, j int) bool { return maxv(hits[i]) > maxv(hits[j]) })
	case "density":
		sort.SliceStable(hits, func(i, j int) bool { return hits[i].Density > hits[j].Density })
	case "sparsity":
		sort.SliceStable(hits, func(i, j int) bool { return hits[i].Density < hits[j].Density })
	case "unit":
	default:
		return nil, apiErr(http.StatusBadRequest, "sort must be unit, max, density, sparsity or matches")
	}
	resp.Total = len(hits)
	if offset < len(hits) {
		resp.Hits = hits[offset:min(len(hits), offset+limit)]
	}
	if x.store != nil { // labels for the page shown, once explained
		for i := range resp.Hits {
			if h := &resp.Hits[i]; h.Label == "" {
				if e, err := x.store.Explanation(h.Hook, h.Unit); err == nil && e != nil {
					h.Label = e.Label
				}
			}
		}
	}
	return resp, nil
}

// matchTokens finds token ids whose text equals the query, ignoring case and
// surrounding space (and the Ġ/▁ space markers of byte-level and
// SentencePiece vocabularies); the query is read as tokenizer.Display
// shows it.
func (x *atlasIndex) matchTokens(q string) []int32 {
	norm := func(s string) string {
		s = strings.NewReplacer("Ġ", " ", "▁", " ").Replace(s)
		return strings.ToLower(strings.TrimSpace(s))
	}
	want := norm(tokenizer.Display(q)) // "<0x0A>" and "\n" find ↵ as stored
	var ids []int32
	for id, t := range x.toks {
		if norm(t) == want {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
