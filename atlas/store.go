package atlas

import (
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"sort"
	"time"
)

// schemaSQL is schema 2 (docs/atlas.md, "The database"). Units are rows
// keyed by id = the unit's index over all hooks in settings order; a unit's
// examples are one blob (blob.go) in the examples row of the same id; the
// token windows they show are stored once. Every row of units, examples and
// windows carries the CRC-32C of its content, and the progress row the sum
// of their mixed checksums, so a checkpoint rewrites only what changed and
// still checks the whole.
const schemaSQL = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE units (id INTEGER PRIMARY KEY, hook TEXT NOT NULL, unit INTEGER NOT NULL,
	count INTEGER NOT NULL, mean REAL NOT NULL, m2 REAL NOT NULL, var REAL NOT NULL, std REAL NOT NULL,
	min REAL, max REAL, n_pos INTEGER NOT NULL, n_above INTEGER NOT NULL,
	density REAL NOT NULL, density_above REAL NOT NULL, hist BLOB NOT NULL, checksum INTEGER NOT NULL);
CREATE UNIQUE INDEX units_hook_unit ON units (hook, unit);
CREATE TABLE examples (id INTEGER PRIMARY KEY, hook TEXT NOT NULL, unit INTEGER NOT NULL,
	n INTEGER NOT NULL, blob BLOB NOT NULL, checksum INTEGER NOT NULL);
CREATE TABLE windows (id INTEGER PRIMARY KEY, shard INTEGER NOT NULL, win INTEGER NOT NULL,
	tokens BLOB NOT NULL, docs BLOB NOT NULL, checksum INTEGER NOT NULL);
CREATE TABLE tokens (id INTEGER PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE progress (id INTEGER PRIMARY KEY CHECK (id = 1), cursor TEXT NOT NULL, windows INTEGER NOT NULL,
	tokens INTEGER NOT NULL, corpus_windows INTEGER NOT NULL, corpus_tokens INTEGER NOT NULL, checksum TEXT NOT NULL);
`

// Tables that take part in the checkpoint checksum.
const (
	tableUnits = iota + 1
	tableExamples
	tableWindows
)

// rowSum is a row's term of the checkpoint checksum: order-independent
// (terms are added), and tied to the table and id so that rows cannot
// move.
func rowSum(table int, id uint64, crc uint32) uint64 {
	return mix64(mix64(id*8+uint64(table)) ^ uint64(crc))
}

// unitsCRC is the CRC-32C of a unit's stored statistics.
func unitsCRC(buf []byte, st unitStats, hb []byte) ([]byte, uint32) {
	le := binary.LittleEndian
	f := func(v float64) uint64 {
		if v == 0 {
			v = 0 // SQLite stores -0.0 as 0
		}
		return math.Float64bits(v)
	}
	buf = le.AppendUint64(buf[:0], uint64(st.count))
	buf = le.AppendUint64(buf, f(st.mean))
	buf = le.AppendUint64(buf, f(st.m2))
	buf = le.AppendUint64(buf, f(float64(st.min)))
	buf = le.AppendUint64(buf, f(float64(st.max)))
	buf = le.AppendUint64(buf, uint64(st.npos))
	buf = le.AppendUint64(buf, uint64(st.nabove))
	return buf, crc32.Update(crc32.Checksum(buf, crcTable), crcTable, hb)
}

func windowCRC(tb, db []byte) uint32 {
	return crc32.Update(crc32.Checksum(tb, crcTable), crcTable, db)
}

func i64Blob(v []int64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return b
}

func blobI64(b []byte) []int64 {
	v := make([]int64, len(b)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v
}

// unitBase is the id of each hook's unit 0.
func unitBase(hooks []HookSpec) []int64 {
	base := make([]int64, len(hooks))
	var n int64
	for i, h := range hooks {
		base[i] = n
		n += int64(h.Width)
	}
	return base
}

// writeState writes a checkpoint in one transaction: every unit's
// statistics (they change with every token), the examples of units whose
// examples changed since the last checkpoint, the windows and token texts
// that came into or went out of use, the progress row and the meta table.
// With create, the same transaction first makes the tables, so that a new
// database is either a complete first checkpoint or has no tables at all.
func writeState(db *sql.DB, meta *Meta, hooks []*hookState, ws *windowStore, prog progressRow, tokenText func(int32) string, create bool) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if create {
		if _, err := tx.Exec(schemaSQL); err != nil {
			return err
		}
	}
	if _, err := tx.Exec("DELETE FROM units"); err != nil {
		return err
	}
	units := newRowWriter(tx, "INSERT INTO units", 16)
	examples := newRowWriter(tx, "INSERT OR REPLACE INTO examples", 6)
	var sum uint64
	var hbuf []uint64
	var cbuf, hb, blob []byte
	var tmp []sample
	type exUpdate struct {
		hs  *hookState
		u   int
		sum uint64
	}
	var exNew []exUpdate
	var written int64
	base := unitBase(meta.Settings.Hooks)
	for i, hs := range hooks {
		name := hs.spec.Name
		for u := 0; u < hs.spec.Width; u++ {
			id := base[i] + int64(u)
			st := hs.stats(u, hbuf)
			hbuf = st.hist
			v, sd, dens, densA := unitRow(st)
			hb = encodeHist(hb[:0], st.hist)
			var crc uint32
			cbuf, crc = unitsCRC(cbuf, st, hb)
			if err := units.add(id, name, u, st.count, st.mean, st.m2, v, sd, nullableF32(st.min), nullableF32(st.max),
				st.npos, st.nabove, dens, densA, append(make([]byte, 0, len(hb)), hb...), int64(crc)); err != nil {
				return err
			}
			sum += rowSum(tableUnits, uint64(id), crc)
			written += unitRowBytes + int64(len(hb))
			es := hs.exSum[u]
			if hs.allDirty || hs.dirty[u] {
				var n int
				blob, n, tmp = hs.appendBlob(blob[:0], u, ws.length, tmp)
				crc := crc32.Checksum(blob, crcTable)
				if err := examples.add(id, name, u, n, append([]byte(nil), blob...), int64(crc)); err != nil {
					return err
				}
				es = rowSum(tableExamples, uint64(id), crc)
				written += int64(len(blob))
				exNew = append(exNew, exUpdate{hs, u, es})
			}
			sum += es
		}
	}
	if err := units.flush(); err != nil {
		return err
	}
	if err := examples.flush(); err != nil {
		return err
	}
	stored, toks, wsum, err := writeWindows(tx, ws, inUse(hooks), tokenText)
	if err != nil {
		return err
	}
	sum += wsum
	cur, _ := json.Marshal(prog.Cursor)
	if _, err := tx.Exec("INSERT OR REPLACE INTO progress VALUES (1, ?, ?, ?, ?, ?, ?)", string(cur), prog.Windows, prog.Tokens,
		prog.CorpusWindows, prog.CorpusTokens, fmt.Sprintf("%016x", sum)); err != nil {
		return err
	}
	meta.UpdatedAt = time.Now().UTC().Format(time.RFC3339)
	for k, v := range meta.kv() {
		if _, err := tx.Exec("INSERT OR REPLACE INTO meta VALUES (?, ?)", k, v); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, x := range exNew {
		x.hs.exSum[x.u] = x.sum
	}
	for _, hs := range hooks {
		clear(hs.dirty)
		hs.allDirty = false
	}
	for id := range ws.byID {
		if _, ok := stored[id]; !ok {
			delete(ws.byID, id)
		}
	}
	ws.stored, ws.toks = stored, toks
	ws.written = written
	return nil
}

// unitRowBytes is about what a units row takes besides its histogram.
const unitRowBytes = 120

// pendingBytes estimates what the next checkpoint writes, as writeState
// counts it: every units row, and the examples of the units changed since
// the last checkpoint, their spans taken whole.
func pendingBytes(hooks []*hookState) int64 {
	var n int64
	for _, hs := range hooks {
		dirty := int64(hs.spec.Width)
		if !hs.allDirty {
			dirty = 0
			for _, d := range hs.dirty {
				if d {
					dirty++
				}
			}
		}
		hist := int64(len(hs.hist)/hs.spec.Width) / 4 // a quarter of the bins filled, a few bytes each
		n += int64(hs.spec.Width)*(unitRowBytes+hist) + dirty*int64(hs.slots)*int64(22+4*hs.span)
	}
	return n
}

// writeWindows brings the windows and tokens tables to the windows in use:
// it inserts the new ones and deletes those no longer used. It returns what
// the tables then hold and the windows' checksum terms.
func writeWindows(tx *sql.Tx, ws *windowStore, use map[uint64]bool, tokenText func(int32) string) (map[uint64]uint64, map[int32]bool, uint64, error) {
	stored := make(map[uint64]uint64, len(use))
	var sum uint64
	ids := make([]uint64, 0, len(use))
	for id := range use {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	ins := newRowWriter(tx, "INSERT INTO windows", 6)
	toks := map[int32]bool{}
	for _, id := range ids {
		w, ok := ws.byID[id]
		if !ok {
			return nil, nil, 0, fmt.Errorf("an example points into window %d, which is not kept (a bug)", id)
		}
		for _, t := range w.ids {
			if t >= 0 {
				toks[t] = true
			}
		}
		if s, ok := ws.stored[id]; ok {
			stored[id] = s
			sum += s
			continue
		}
		tb, db := i32Blob(w.ids), i64Blob(w.docs)
		crc := windowCRC(tb, db)
		if err := ins.add(int64(id), int64(id>>windowBits), int64(id&(1<<windowBits-1)), tb, db, int64(crc)); err != nil {
			return nil, nil, 0, err
		}
		stored[id] = rowSum(tableWindows, id, crc)
		sum += stored[id]
	}
	if err := ins.flush(); err != nil {
		return nil, nil, 0, err
	}
	if err := deleteGone(tx, "windows", ws.stored, stored); err != nil {
		return nil, nil, 0, err
	}
	insT := newRowWriter(tx, "INSERT INTO tokens", 2)
	var tids []int32
	for t := range toks {
		if !ws.toks[t] {
			tids = append(tids, t)
		}
	}
	sort.Slice(tids, func(i, j int) bool { return tids[i] < tids[j] })
	for _, t := range tids {
		if err := insT.add(t, tokenText(t)); err != nil {
			return nil, nil, 0, err
		}
	}
	if err := insT.flush(); err != nil {
		return nil, nil, 0, err
	}
	if err := deleteGone(tx, "tokens", ws.toks, toks); err != nil {
		return nil, nil, 0, err
	}
	return stored, toks, sum, nil
}

// deleteGone deletes the rows of table whose ids are in was but not in now.
func deleteGone[K int32 | uint64, V any](tx *sql.Tx, table string, was, now map[K]V) error {
	var del *sql.Stmt
	for id := range was {
		if _, ok := now[id]; ok {
			continue
		}
		if del == nil {
			var err error
			if del, err = tx.Prepare("DELETE FROM " + table + " WHERE id = ?"); err != nil {
				return err
			}
			defer del.Close()
		}
		if _, err := del.Exec(int64(id)); err != nil {
			return err
		}
	}
	return nil
}

// loadState reads the units, examples and windows of a schema-2 db into
// fresh hook states and a window store, checking each row's checksum and
// their sum against want (the progress row's; "" skips the sum). A damaged
// examples row is a *BlobError naming its unit. shardOffset is added to
// every stored shard number (merging).
func loadState(db *sql.DB, set *Settings, shardOffset int, want string) ([]*hookState, *windowStore, map[int32]string, error) {
	hooks := make([]*hookState, len(set.Hooks))
	byName := map[string]int{}
	for i, h := range set.Hooks {
		hooks[i] = newHookState(h, set)
		hooks[i].allDirty = false
		byName[h.Name] = i
	}
	base := unitBase(set.Hooks)
	find := func(table, name string, u int, id int64) (*hookState, error) {
		i, ok := byName[name]
		if !ok || u < 0 || u >= set.Hooks[i].Width || id != base[i]+int64(u) {
			return nil, fmt.Errorf("%s row %d (%s:%d) does not fit the atlas settings (corrupted?)", table, id, name, u)
		}
		return hooks[i], nil
	}
	var sum uint64
	rows, err := db.Query("SELECT id, hook, unit, count, mean, m2, min, max, n_pos, n_above, hist, checksum FROM units")
	if err != nil {
		return nil, nil, nil, err
	}
	seen := 0
	var cbuf []byte
	for rows.Next() {
		var id, crc int64
		var name string
		var u int
		var st unitStats
		var mn, mx sql.NullFloat64
		var hb []byte
		if err := rows.Scan(&id, &name, &u, &st.count, &st.mean, &st.m2, &mn, &mx, &st.npos, &st.nabove, &hb, &crc); err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		hs, err := find("unit", name, u, id)
		if err == nil {
			if st.hist, err = decodeHist(hb); err != nil {
				err = fmt.Errorf("unit %s:%d: %v (corrupted?)", name, u, err)
			}
		}
		if err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		st.min, st.max = float32(math.Inf(1)), float32(math.Inf(-1))
		if mn.Valid {
			st.min = float32(mn.Float64)
		}
		if mx.Valid {
			st.max = float32(mx.Float64)
		}
		var got uint32
		if cbuf, got = unitsCRC(cbuf, st, hb); int64(got) != crc {
			rows.Close()
			return nil, nil, nil, fmt.Errorf("the statistics of %s:%d do not match their checkpoint checksum (%08x, stored %08x): the database was damaged or edited; rebuild it", name, u, got, crc)
		}
		hs.setStats(u, st)
		hs.count = st.count
		sum += rowSum(tableUnits, uint64(id), got)
		seen++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, nil, err
	}
	total := int(base[len(base)-1]) + set.Hooks[len(base)-1].Width
	if seen != total && seen != 0 {
		return nil, nil, nil, fmt.Errorf("the database holds %d unit rows, the settings say %d (corrupted?)", seen, total)
	}
	ws := newWindowStore()
	rows, err = db.Query("SELECT id, shard, win, tokens, docs, checksum FROM windows")
	if err != nil {
		return nil, nil, nil, err
	}
	for rows.Next() {
		var id, shard, win, crc int64
		var tb, dbb []byte
		if err := rows.Scan(&id, &shard, &win, &tb, &dbb, &crc); err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		if got := windowCRC(tb, dbb); int64(got) != crc || len(tb)%4 != 0 || len(dbb) != 2*len(tb) || len(tb) > 4*set.Ctx ||
			uint64(id) != uint64(shard)<<windowBits|uint64(win) {
			rows.Close()
			return nil, nil, nil, fmt.Errorf("window %d (shard %d, window %d) is damaged (checksum %08x, stored %08x; %d token bytes, %d doc bytes): rebuild the atlas", id, shard, win, got, crc, len(tb), len(dbb))
		}
		sum += rowSum(tableWindows, uint64(id), windowCRC(tb, dbb))
		nid := uint64(id) + uint64(shardOffset)<<windowBits
		ws.byID[nid] = window{ids: blobI32(tb), docs: blobI64(dbb)}
		ws.stored[nid] = rowSum(tableWindows, nid, windowCRC(tb, dbb))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, nil, err
	}
	rows, err = db.Query("SELECT id, hook, unit, blob, checksum FROM examples")
	if err != nil {
		return nil, nil, nil, err
	}
	for rows.Next() {
		var id, crc int64
		var name string
		var u int
		var blob []byte
		if err := rows.Scan(&id, &name, &u, &blob, &crc); err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		hs, err := find("examples", name, u, id)
		if err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		got := crc32.Checksum(blob, crcTable)
		if int64(got) != crc {
			rows.Close()
			return nil, nil, nil, &BlobError{Hook: name, Unit: u, Reason: fmt.Sprintf("checksum %08x, stored %08x", got, crc)}
		}
		ex, err := decodeExamples(blob, set, name, u)
		if err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		for _, e := range ex {
			if len(ws.byID[winID(e.s.key)+uint64(shardOffset)<<windowBits].ids) == 0 {
				rows.Close()
				return nil, nil, nil, &BlobError{Hook: name, Unit: u, Reason: fmt.Sprintf("an example points into window %d, which the atlas does not hold", winID(e.s.key))}
			}
			e.s.key += uint64(shardOffset) << (posBits + windowBits)
			hs.restore(u, e)
		}
		hs.exSum[u] = rowSum(tableExamples, uint64(id), got)
		sum += hs.exSum[u]
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, nil, err
	}
	if err := checkSum(fmt.Sprintf("%016x", sum), want); err != nil {
		return nil, nil, nil, err
	}
	toks, err := readTokens(db)
	if err != nil {
		return nil, nil, nil, err
	}
	for id := range toks {
		ws.toks[id] = true
	}
	return hooks, ws, toks, nil
}

// checkSum compares a recomputed checkpoint checksum with the stored one
// ("" skips the check).
func checkSum(got, want string) error {
	if want != "" && got != want {
		return fmt.Errorf("the stored state does not match its checkpoint checksum (%s, stored %s): the database was damaged or edited; rebuild it", got, want)
	}
	return nil
}

// readTokens reads the tokens table.
func readTokens(db *sql.DB) (map[int32]string, error) {
	toks := map[int32]string{}
	rows, err := db.Query("SELECT id, text FROM tokens")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int32
		var s string
		if err := rows.Scan(&id, &s); err != nil {
			return nil, err
		}
		toks[id] = s
	}
	return toks, rows.Err()
}
