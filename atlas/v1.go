package atlas

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
)

// Schema 1 kept one row per example, each with its own copy of its span's
// tokens. This glia reads it (Open, Verify) and converts it (Upgrade); it
// resumes and merges schema 2 only.

// checksumV1 is schema 1's order-independent sum of row hashes over units
// and examples.
type checksumV1 uint64

func (c *checksumV1) add(parts ...any) {
	h := uint64(14695981039346656037)
	feed := func(b []byte) {
		for _, x := range b {
			h ^= uint64(x)
			h *= 1099511628211
		}
		h ^= 0xff
		h *= 1099511628211
	}
	var buf [8]byte
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			feed([]byte(v))
		case []byte:
			feed(v)
		case int64:
			binary.LittleEndian.PutUint64(buf[:], uint64(v))
			feed(buf[:])
		case float64:
			if v == 0 {
				v = 0 // SQLite stores -0.0 as 0
			}
			binary.LittleEndian.PutUint64(buf[:], math.Float64bits(v))
			feed(buf[:])
		default:
			panic(fmt.Sprintf("checksum: %T", p))
		}
	}
	*c += checksumV1(mix64(h))
}

func (c checksumV1) String() string { return fmt.Sprintf("%016x", uint64(c)) }

// loadStateV1 reads a schema-1 database into hook states, verifying its
// checksum against want. The windows it returns hold the examples' spans;
// positions outside every span are -1.
func loadStateV1(db *sql.DB, set *Settings, want string) ([]*hookState, *windowStore, map[int32]string, error) {
	hooks := make([]*hookState, len(set.Hooks))
	byName := map[string]*hookState{}
	for i, h := range set.Hooks {
		hooks[i] = newHookState(h, set)
		byName[h.Name] = hooks[i]
	}
	var sum checksumV1
	rows, err := db.Query("SELECT hook, unit, count, mean, m2, min, max, n_pos, n_above, hist FROM units")
	if err != nil {
		return nil, nil, nil, err
	}
	for rows.Next() {
		var name string
		var u int
		var st unitStats
		var mn, mx sql.NullFloat64
		var hb []byte
		if err := rows.Scan(&name, &u, &st.count, &st.mean, &st.m2, &mn, &mx, &st.npos, &st.nabove, &hb); err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		hs := byName[name]
		if hs == nil || u < 0 || u >= hs.spec.Width || len(hb) != 8*NumBins {
			rows.Close()
			return nil, nil, nil, fmt.Errorf("unit row %s:%d does not fit the atlas settings (corrupted?)", name, u)
		}
		st.min, st.max = float32(math.Inf(1)), float32(math.Inf(-1))
		if mn.Valid {
			st.min = float32(mn.Float64)
		}
		if mx.Valid {
			st.max = float32(mx.Float64)
		}
		st.hist = blobU64(hb)
		hs.setStats(u, st)
		hs.count = st.count
		sum.add(name, int64(u), st.count, st.mean, st.m2, float64(st.min), float64(st.max), st.npos, st.nabove, hb)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, nil, err
	}
	ws := newWindowStore()
	rows, err = db.Query("SELECT hook, unit, kind, band, rank, activation, shard, win, pos, doc, start, hash, tokens, acts FROM examples")
	if err != nil {
		return nil, nil, nil, err
	}
	for rows.Next() {
		var name, kind string
		var u, rank, shard, pos int
		var band, win, doc, start, h int64
		var act float64
		var tb, ab []byte
		if err := rows.Scan(&name, &u, &kind, &band, &rank, &act, &shard, &win, &pos, &doc, &start, &h, &tb, &ab); err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		hs := byName[name]
		lo, _ := set.spanOf(pos, set.Ctx)
		if hs == nil || u < 0 || u >= hs.spec.Width || len(tb) != len(ab) || len(tb)%4 != 0 || len(tb)/4 > set.span() ||
			pos < 0 || pos >= set.Ctx || start != int64(lo) || shard < 0 || shard >= 1<<16 || win < 0 || win >= 1<<windowBits {
			rows.Close()
			return nil, nil, nil, fmt.Errorf("example row %s:%d does not fit the atlas settings (corrupted?)", name, u)
		}
		key := posKey(shard, win, pos)
		sum.add(name, int64(u), kind, band, int64(rank), act, int64(key), doc, start, h, tb, ab)
		toks := blobI32(tb)
		ws.putSpan(winID(key), int(start), toks, pos, doc)
		hs.restore(u, exampleRow{kind: kind, band: int32(band), s: sample{act: float32(act), key: key, h: uint64(h)}, acts: blobF32(ab)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, nil, err
	}
	if err := checkSum(sum.String(), want); err != nil {
		return nil, nil, nil, err
	}
	toks, err := readTokens(db)
	if err != nil {
		return nil, nil, nil, err
	}
	return hooks, ws, toks, nil
}

// putSpan records a schema-1 example's span in its window, growing the
// window to cover it; doc is the document at position pos.
func (w *windowStore) putSpan(id uint64, start int, toks []int32, pos int, doc int64) {
	win := w.byID[id]
	for n := start + len(toks); len(win.ids) < n; {
		win.ids = append(win.ids, -1)
		win.docs = append(win.docs, -1)
	}
	copy(win.ids[start:], toks)
	win.docs[pos] = doc
	w.byID[id] = win
}

// examplesV1 reads a unit's example rows from a schema-1 atlas.
func (a *Atlas) examplesV1(hook string, unit int, add func(kind string, band int, e Example)) error {
	rows, err := a.db.Query("SELECT kind, band, rank, activation, shard, win, pos, doc, start, tokens, acts FROM examples WHERE hook = ? AND unit = ? ORDER BY kind, band DESC, rank", hook, unit)
	if err != nil {
		return fmt.Errorf("atlas: reading %s:%d: %w", hook, unit, err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var band int
		var e Example
		var act float64
		var tb, ab []byte
		if err := rows.Scan(&kind, &band, &e.Rank, &act, &e.Shard, &e.Window, &e.Pos, &e.Doc, &e.Start, &tb, &ab); err != nil {
			return err
		}
		e.Activation = float32(act)
		e.Center = e.Pos - e.Start
		e.Tokens, e.Acts = blobI32(tb), blobF32(ab)
		for _, id := range e.Tokens {
			e.Text = append(e.Text, a.TokenText(id))
		}
		add(kind, band, e)
	}
	return rows.Err()
}

// topTokensV1 is TopTokens on a schema-1 atlas.
func (a *Atlas) topTokensV1(ctx context.Context, fn func(hook string, unit, rank int, act float32, token int32)) error {
	rows, err := a.db.QueryContext(ctx, "SELECT hook, unit, rank, activation, substr(tokens, center*4+1, 4) FROM examples WHERE kind = ? ORDER BY hook, unit, rank", KindTop)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var hook string
		var unit, rank int
		var act float64
		var tb []byte
		if err := rows.Scan(&hook, &unit, &rank, &act, &tb); err != nil {
			return err
		}
		if len(tb) == 4 {
			fn(hook, unit, rank, float32(act), int32(binary.LittleEndian.Uint32(tb)))
		}
	}
	return rows.Err()
}
