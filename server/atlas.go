package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/explain"
	"github.com/glia-dev/glia/tokenizer"
)

// unitSummary is what search lists about a unit, kept in memory (a few
// dozen bytes per unit: 36,864 units of GPT-2 small are about 1 MB).
type unitSummary struct {
	Max     float32
	Mean    float32
	Density float32
	TopTok  int32 // center token of the top example, -1 if none
}

// atlasIndex holds an open atlas and in-memory summaries for search.
type atlasIndex struct {
	a      *atlas.Atlas
	hooks  []atlas.HookSpec
	hookNo map[string]int
	units  [][]unitSummary // [hook][unit]
	toks   map[int32]string
	mu     sync.Mutex     // serialises Atlas.Unit (its token table is filled lazily)
	store  *explain.Store // glia explain's tables; nil when the atlas has none

	// byToken maps a token id to units whose top examples are centred on it,
	// built in the background from the examples table.
	ready   chan struct{}
	byToken map[int32][]tokHit
	idxErr  error
	cancel  context.CancelFunc
}

type tokHit struct {
	hook, unit int32
	n          int32   // top examples centred on the token
	best       float32 // their highest activation
}

func newAtlasIndex(a *atlas.Atlas) (*atlasIndex, error) {
	x := &atlasIndex{a: a, hooks: a.Meta.Settings.Hooks, hookNo: map[string]int{}, toks: map[int32]string{}, ready: make(chan struct{})}
	for i, h := range x.hooks {
		x.hookNo[h.Name] = i
		x.units = append(x.units, make([]unitSummary, h.Width))
		for u := range x.units[i] {
			x.units[i][u] = unitSummary{Max: float32(math.NaN()), TopTok: -1}
		}
	}
	a.TokenText(0) // fill the atlas' token table before any concurrent use
	db := a.DB()
	rows, err := db.Query("SELECT id, text FROM tokens")
	if err != nil {
		return nil, fmt.Errorf("serve: atlas %s: %w", a.Path, err)
	}
	for rows.Next() {
		var id int32
		var t string
		if err := rows.Scan(&id, &t); err != nil {
			rows.Close()
			return nil, err
		}
		x.toks[id] = tokenizer.Display(t) // atlases built before engine.TokenText stored <0x0A>
	}
	rows.Close()
	rows, err = db.Query("SELECT hook, unit, mean, max, density FROM units")
	if err != nil {
		return nil, fmt.Errorf("serve: atlas %s: %w", a.Path, err)
	}
	for rows.Next() {
		var hook string
		var unit int
		var mean, density float64
		var mx *float64
		if err := rows.Scan(&hook, &unit, &mean, &mx, &density); err != nil {
			rows.Close()
			return nil, err
		}
		h, ok := x.hookNo[hook]
		if !ok || unit < 0 || unit >= len(x.units[h]) {
			continue
		}
		s := &x.units[h][unit]
		s.Mean, s.Density = float32(mean), float32(density)
		if mx != nil {
			s.Max = float32(*mx)
		}
	}
	rows.Close()
	// glia explain's tables, only when present (OpenStore would create them).
	var name string
	if db.QueryRow("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'explain_units'").Scan(&name) == nil {
		if x.store, err = explain.OpenStore(db); err != nil {
			return nil, fmt.Errorf("serve: atlas %s: %w", a.Path, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	x.cancel = cancel
	go x.buildTokenIndex(ctx)
	return x, nil
}

func (x *atlasIndex) close() { x.cancel() }

// buildTokenIndex reads the token at the center of every top example.
func (x *atlasIndex) buildTokenIndex(ctx context.Context) {
	defer close(x.ready)
	by := map[int32][]tokHit{}
	rows, err := x.a.DB().QueryContext(ctx, "SELECT hook, unit, rank, activation, substr(tokens, center*4+1, 4) FROM examples WHERE kind = ? ORDER BY hook, unit, rank", atlas.KindTop)
	if err != nil {
		x.idxErr = err
		return
	}
	defer rows.Close()
	for rows.Next() {
		var hook string
		var unit, rank int
		var act float64
		var tb []byte
		if err := rows.Scan(&hook, &unit, &rank, &act, &tb); err != nil {
			x.idxErr = err
			return
		}
		h, ok := x.hookNo[hook]
		if !ok || len(tb) != 4 || unit < 0 || unit >= len(x.units[h]) {
			continue
		}
		tok := int32(binary.LittleEndian.Uint32(tb))
		if rank == 0 || x.units[h][unit].TopTok < 0 {
			x.units[h][unit].TopTok = tok
		}
		hits := by[tok]
		if n := len(hits); n > 0 && hits[n-1].hook == int32(h) && hits[n-1].unit == int32(unit) {
			hits[n-1].n++
			hits[n-1].best = max(hits[n-1].best, float32(act))
		} else {
			by[tok] = append(hits, tokHit{hook: int32(h), unit: int32(unit), n: 1, best: float32(act)})
		}
	}
	x.idxErr = rows.Err()
	x.byToken = by
}

func (x *atlasIndex) tokenText(id int32) string {
	if t, ok := x.toks[id]; ok {
		return t
	}
	return tokenizer.Unknown(id)
}

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

// maxOf is a unit's atlas maximum (NaN when unknown).
func (x *atlasIndex) maxOf(hook string, unit int) float32 {
	h, ok := x.hookNo[hook]
	if !ok || unit < 0 || unit >= len(x.units[h]) {
		return float32(math.NaN())
	}
	return x.units[h][unit].Max
}

// HistBin is one non-empty-range histogram bin; infinite edges are null.
type HistBin struct {
	Lo    *float64 `json:"lo"`
	Hi    *float64 `json:"hi"`
	Count uint64   `json:"count"`
}

// NeuronResponse is GET /api/neurons/{hook}/{unit}.
type NeuronResponse struct {
	ID          string             `json:"id"` // HOOK:UNIT
	Report      *atlas.UnitReport  `json:"report"`
	Hist        []HistBin          `json:"hist_bins"`  // the bins from the first to the last non-empty one
	Neighbours  map[string]string  `json:"neighbours"` // prev, next (same hook), up, down (same index, adjacent hook)
	ModelName   string             `json:"model_name"`
	Tokens      int64              `json:"atlas_tokens"`
	Explanation *Explanation       `json:"explanation"` // null until glia explain has run
	ExplainNote string             `json:"explain_note,omitempty"`
	Hooks       []atlas.HookSpec   `json:"hooks"`
	Extra       map[string]float64 `json:"extra,omitempty"`
}

// Explanation is what glia explain stores for a unit: facets, its logit
// lens, a label and the label's score.
type Explanation struct {
	Label      string     `json:"label"`
	Score      *float64   `json:"score"`
	Facets     []string   `json:"facets"`
	LensTop    []LensItem `json:"lens_top"`
	LensBottom []LensItem `json:"lens_bottom"`
}

// LensItem is one token a unit's output promotes or suppresses.
type LensItem struct {
	Token string  `json:"token"`
	Value float64 `json:"value"`
}

const notExplained = "not explained yet (run glia explain --all)"

// explanation reads what glia explain stored for a unit (nil if nothing).
func (x *atlasIndex) explanation(hook string, unit int) (*Explanation, error) {
	if x.store == nil {
		return nil, nil
	}
	e, err := x.store.Explanation(hook, unit)
	if err != nil || e == nil {
		return nil, err
	}
	out := &Explanation{Label: e.Label, Score: e.Score, Facets: []string{}}
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
			out.LensTop = append(out.LensTop, LensItem{Token: tokenizer.Display(t.Text), Value: float64(t.Logit)})
		}
		for _, t := range lens.Suppressed[:min(10, len(lens.Suppressed))] {
			out.LensBottom = append(out.LensBottom, LensItem{Token: tokenizer.Display(t.Text), Value: float64(t.Logit)})
		}
	}
	return out, nil
}

func (s *Server) needAtlas() (*atlasIndex, error) {
	if s.idx == nil {
		return nil, apiErr(http.StatusNotFound, "this server was started without an atlas")
	}
	return s.idx, nil
}

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
	out := &NeuronResponse{ID: fmt.Sprintf("%s:%d", hook, unit), Report: rep, Hist: histBins(rep.Hist),
		Neighbours: map[string]string{}, ModelName: x.a.Meta.ModelName, Tokens: x.a.Meta.Tokens, Hooks: x.hooks}
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
	out.Explanation, err = x.explanation(hook, unit)
	if err != nil {
		return nil, err
	}
	if out.Explanation == nil {
		out.ExplainNote = notExplained
	}
	return out, nil
}

func histBins(hist []uint64) []HistBin {
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
	out := []HistBin{}
	for i := first; i >= 0 && i <= last && i+1 < len(edges); i++ {
		b := HistBin{Count: hist[i]}
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

// SearchHit is one unit in search results.
type SearchHit struct {
	ID      string   `json:"id"`
	Hook    string   `json:"hook"`
	Unit    int      `json:"unit"`
	Max     *float64 `json:"max"`
	Mean    float64  `json:"mean"`
	Density float64  `json:"density"`
	TopTok  string   `json:"top_token"`         // center token of the top example
	Matches int      `json:"matches,omitempty"` // top examples on the searched token
	Label   string   `json:"label,omitempty"`   // glia explain's label, once explained
}

// SearchResponse is GET /api/search.
type SearchResponse struct {
	Query  map[string]string `json:"query"`
	Total  int               `json:"total"`
	Hits   []SearchHit       `json:"hits"`
	Tokens []string          `json:"tokens,omitempty"` // the token strings a token search matched
	Note   string            `json:"note,omitempty"`
}

func (x *atlasIndex) hit(h, u int) SearchHit {
	s := &x.units[h][u]
	out := SearchHit{ID: fmt.Sprintf("%s:%d", x.hooks[h].Name, u), Hook: x.hooks[h].Name, Unit: u, Mean: float64(s.Mean), Density: float64(s.Density)}
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

// search finds units by token (the center of their top examples), by label
// text (once explained), or lists a layer's or hook's units ranked.
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
	resp := &SearchResponse{Query: map[string]string{}, Hits: []SearchHit{}}
	for k, v := range q {
		if len(v) > 0 && v[0] != "" {
			resp.Query[k] = v[0]
		}
	}
	var hits []SearchHit
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
	maxv := func(h SearchHit) float64 {
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
