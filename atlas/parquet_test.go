package atlas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/glia-dev/glia/atlas/atlastest"
)

// readParquet reads every row of an exported file back with the library's
// reader, and checks the footer.
func readParquet(t *testing.T, b []byte) ([]ParquetRow, *parquet.File) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	r := parquet.NewGenericReader[ParquetRow](bytes.NewReader(b))
	defer r.Close()
	rows := make([]ParquetRow, r.NumRows())
	n, err := r.Read(rows)
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if n != len(rows) {
		t.Fatalf("read %d of %d rows", n, len(rows))
	}
	return rows, f
}

func TestExportParquet(t *testing.T) {
	dir := t.TempDir()
	src := writeCorpus(t, filepath.Join(dir, "c"), 11, 2, 12, 25)
	db := filepath.Join(dir, "a.db")
	mustBuild(t, atlastest.New(2, 6), testOpts(t, db, src))
	a, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var buf bytes.Buffer
	if err := Export(a, &buf, "parquet"); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if !bytes.HasPrefix(b, []byte("PAR1")) || !bytes.HasSuffix(b, []byte("PAR1")) {
		t.Fatal("not a parquet file")
	}
	rows, f := readParquet(t, b)

	// Schema: the columns pandas sees, strings as UTF8, lists as LIST.
	var names []string
	for _, fl := range f.Schema().Fields() {
		names = append(names, fl.Name())
	}
	want := "hook unit count mean var std min max n_pos n_above density density_above kind band rank activation shard window pos doc start center token text tokens token_texts acts"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("columns\n got %s\nwant %s", got, want)
	}
	logical := map[string]string{}
	for _, fl := range f.Schema().Fields() {
		if lt := fl.Type().LogicalType(); lt != nil {
			logical[fl.Name()] = lt.String()
		}
	}
	for c, lt := range map[string]string{"hook": "STRING", "kind": "STRING", "token": "STRING", "text": "STRING",
		"tokens": "LIST", "token_texts": "LIST", "acts": "LIST"} {
		if logical[c] != lt {
			t.Errorf("column %s: logical type %q, want %s", c, logical[c], lt)
		}
	}
	var meta Meta
	if v, ok := f.Lookup("glia.atlas"); !ok {
		t.Error("no glia.atlas key-value metadata")
	} else if err := json.Unmarshal([]byte(v), &meta); err != nil || meta.ModelFingerprint != a.Meta.ModelFingerprint || meta.Settings.Threshold != 1 {
		t.Errorf("glia.atlas metadata %.200s: %v", v, err)
	}

	// Row counts: one row per stored example.
	var nEx, nUnits int
	records := exampleRecords(t, a.DB(), &a.Meta.Settings)
	nEx = len(records)
	a.DB().QueryRow("SELECT COUNT(*) FROM units").Scan(&nUnits)
	if len(rows) != nEx || nEx == 0 {
		t.Fatalf("%d rows, the atlas holds %d examples", len(rows), nEx)
	}

	// Values: every row equals the database's example and unit rows.
	key := func(hook string, unit int, kind string, band, rank int) string {
		return fmt.Sprintf("%s:%d/%s/%d/%d", hook, unit, kind, band, rank)
	}
	type dbEx struct {
		act                    float64
		shard, pos, start, ctr int
		win, doc               int64
		tokens, acts           []byte
	}
	exs := map[string]dbEx{}
	for _, r := range records {
		exs[key(r.hook, r.unit, r.kind, r.band, r.rank)] = dbEx{act: r.act, shard: r.shard, pos: r.pos, start: r.start,
			ctr: r.center, win: r.win, doc: r.doc, tokens: r.tokens, acts: r.acts}
	}
	units := map[string]*UnitReport{}
	seen := map[string]bool{}
	for i, r := range rows {
		if r.Kind == nil || r.Rank == nil || r.Activation == nil || r.Shard == nil || r.Window == nil || r.Pos == nil ||
			r.Doc == nil || r.Start == nil || r.Center == nil || r.Token == nil || r.Text == nil {
			t.Fatalf("row %d: null example column: %+v", i, r)
		}
		band := 0
		if *r.Kind == KindBand {
			if r.Band == nil {
				t.Fatalf("row %d: band example without band", i)
			}
			band = int(*r.Band)
		} else if r.Band != nil {
			t.Errorf("row %d: %s example with band %d", i, *r.Kind, *r.Band)
		}
		k := key(r.Hook, int(r.Unit), *r.Kind, band, int(*r.Rank))
		e, ok := exs[k]
		if !ok || seen[k] {
			t.Fatalf("row %d: %s: not in the atlas or repeated", i, k)
		}
		seen[k] = true
		if float64(*r.Activation) != float64(float32(e.act)) || int(*r.Shard) != e.shard || *r.Window != e.win || int(*r.Pos) != e.pos ||
			*r.Doc != e.doc || int(*r.Start) != e.start || int(*r.Center) != e.ctr || int(*r.Center) != int(*r.Pos-*r.Start) {
			t.Errorf("row %d: %s: %+v, database %+v", i, k, r, e)
		}
		tok, acts := blobI32(e.tokens), blobF32(e.acts)
		if fmt.Sprint(r.Tokens) != fmt.Sprint(tok) || fmt.Sprint(r.Acts) != fmt.Sprint(acts) || len(r.TokenTexts) != len(tok) {
			t.Errorf("row %d: %s: tokens %v acts %v texts %q, database %v %v", i, k, r.Tokens, r.Acts, r.TokenTexts, tok, acts)
		}
		for j, id := range tok {
			if j < len(r.TokenTexts) && r.TokenTexts[j] != a.TokenText(id) {
				t.Errorf("row %d: token_texts[%d] = %q, want %q", i, j, r.TokenTexts[j], a.TokenText(id))
			}
		}
		if *r.Text != strings.Join(r.TokenTexts, "") || *r.Token != r.TokenTexts[*r.Center] {
			t.Errorf("row %d: text %q token %q from %q", i, *r.Text, *r.Token, r.TokenTexts)
		}
		uk := fmt.Sprintf("%s:%d", r.Hook, r.Unit)
		u := units[uk]
		if u == nil {
			if u, err = a.Unit(r.Hook, int(r.Unit)); err != nil {
				t.Fatal(err)
			}
			units[uk] = u
		}
		if r.Count != u.Count || r.Mean != u.Mean || r.Var != u.Var || r.Std != u.Std || *r.Min != *u.Min || *r.Max != *u.Max ||
			r.NPos != u.NPos || r.NAbove != u.NAbove || r.Density != u.Density || r.DensityAbove != u.DensityAbove {
			t.Errorf("row %d: unit statistics differ from %s", i, uk)
		}
	}
	if len(units) != nUnits {
		t.Errorf("%d units in the file, %d in the atlas", len(units), nUnits)
	}
	// Order: unit by unit, top examples first, in rank order.
	if r := rows[0]; r.Hook != a.Meta.Settings.Hooks[0].Name || r.Unit != 0 || *r.Kind != KindTop || *r.Rank != 0 {
		t.Errorf("first row is %s:%d %s %d", r.Hook, r.Unit, *r.Kind, *r.Rank)
	}
}

// A unit without examples keeps one row, its example columns null.
func TestParquetUnitWithoutExamples(t *testing.T) {
	mx := 2.5
	rows := appendParquetRows(nil, &UnitReport{Hook: "h", Unit: 3, Count: 0})
	rows = appendParquetRows(rows, &UnitReport{Hook: "h", Unit: 4, Count: 7, Max: &mx, Min: &mx,
		Random: []Example{{Rank: 0, Activation: 2.5, Tokens: []int32{5, 6}, Text: []string{"a", "b"}, Acts: []float32{1, 2.5}, Pos: 9, Start: 8, Center: 1}}})
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[ParquetRow](&buf, parquet.DataPageVersion(1))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := readParquet(t, buf.Bytes())
	if len(got) != 2 {
		t.Fatalf("%d rows", len(got))
	}
	r := got[0]
	if r.Hook != "h" || r.Unit != 3 || r.Kind != nil || r.Rank != nil || r.Min != nil || r.Max != nil || r.Text != nil || len(r.Tokens) != 0 {
		t.Errorf("empty unit: %+v", r)
	}
	r = got[1]
	if *r.Kind != KindRandom || *r.Max != 2.5 || r.Band != nil || *r.Token != "b" || *r.Text != "ab" || fmt.Sprint(r.Acts) != "[1 2.5]" {
		t.Errorf("random example: %+v", r)
	}
}
