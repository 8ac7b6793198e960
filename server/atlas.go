package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
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
	err := x.a.TopTokens(ctx, func(hook string, unit, rank int, act float32, tok int32) {
		h, ok := x.hookNo[hook]
		if !ok || unit < 0 || unit >= len(x.units[h]) {
			return
		}
		if rank == 0 || x.units[h][unit].TopTok < 0 {
			x.units[h][unit].TopTok = tok
		}
		hits := by[tok]
		if n := len(hits); n > 0 && hits[n-1].hook == int32(h) && hits[n-1].unit == int32(unit) {
			hits[n-1].n++
			hits[n-1].best = max(hits[n-1].best, act)
		} else {
			by[tok] = append(hits, tokHit{hook: int32(h), unit: int32(unit), n: 1, best: act})
		}
	})
	if err != nil {
		x.idxErr = err
		return
	}
	x.byToken = by
}

func (x *atlasIndex) tokenText(id int32) string {
	if t, ok := x.toks[id]; ok {
		return t
	}
	return tokenizer.Unknown(id)
}

// maxOf is a unit's atlas maximum (NaN when unknown).
func (x *atlasIndex) maxOf(hook string, unit int) float32 {
	h, ok := x.hookNo[hook]
	if !ok || unit < 0 || unit >= len(x.units[h]) {
		return float32(math.NaN())
	}
	return x.units[h][unit].Max
}

const notExplained = "not explained yet (run glia explain --all)"

func (s *Server) needAtlas() (*atlasIndex, error) {
	if s.idx == nil {
		return nil, apiErr(http.StatusNotFound, "this server was started without an atlas")
	}
	return s.idx, nil
}
