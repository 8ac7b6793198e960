package atlas

import (
	"database/sql"
	"testing"
)

// exampleRecord is one example as schema 1 stored it (a row of its
// examples table), read from a schema-2 atlas: tests compare exports and
// reports with the stored examples through it.
type exampleRecord struct {
	hook, kind                string
	unit, band, rank          int
	act                       float64
	shard, pos, start, center int
	win, doc                  int64
	tokens, acts              []byte
}

func exampleRecords(t testing.TB, db *sql.DB, set *Settings) []exampleRecord {
	t.Helper()
	rows, err := db.Query("SELECT hook, unit, blob FROM examples ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	type raw struct {
		hook string
		unit int
		blob []byte
	}
	var raws []raw
	for rows.Next() {
		var r raw
		if err := rows.Scan(&r.hook, &r.unit, &r.blob); err != nil {
			t.Fatal(err)
		}
		raws = append(raws, r)
	}
	rows.Close()
	var out []exampleRecord
	for _, r := range raws {
		ex, err := decodeExamples(r.blob, set, r.hook, r.unit)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ex {
			var tb, docs []byte
			if err := db.QueryRow("SELECT tokens, docs FROM windows WHERE id = ?", int64(winID(e.s.key))).Scan(&tb, &docs); err != nil {
				t.Fatal(err)
			}
			shard, win, pos := splitKey(e.s.key)
			lo, hi := set.spanOf(pos, len(tb)/4)
			out = append(out, exampleRecord{hook: r.hook, kind: e.kind, unit: r.unit, band: int(e.band), rank: e.rank,
				act: float64(e.s.act), shard: shard, pos: pos, start: lo, center: pos - lo, win: win,
				doc: blobI64(docs)[pos], tokens: tb[4*lo : 4*hi], acts: f32Blob(e.acts)})
		}
	}
	return out
}
