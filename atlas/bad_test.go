package atlas

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/atlas/atlastest"
	"github.com/glia-dev/glia/corpus"
)

func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	m := atlastest.New(1, 8)
	good := writeCorpus(t, filepath.Join(dir, "good"), 1, 1, 10, 10)
	goodDB := filepath.Join(dir, "good.db")
	mustBuild(t, m, testOpts(t, goodDB, good))

	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	copyDB := func(name string) string {
		data, err := os.ReadFile(goodDB)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, data)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("hello\x00\x01\x02 binary"))
	zw.Close()

	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"empty corpus", func() error {
			p := write("empty.txt", []byte("  \n\n  "))
			o := testOpts(t, filepath.Join(dir, "empty.db"), p)
			_, err := Build(context.Background(), m, o)
			if _, serr := os.Stat(o.Out); serr == nil {
				t.Error("an empty-corpus build left its database behind")
			}
			return err
		}, "corpus is empty"},
		// The corpus is checked when it is resolved, before any database.
		{"binary file", func() error {
			_, err := corpus.Resolve([]string{write("bin.dat", []byte("abc\x00\x00\xff\xfe"))})
			return err
		}, "bin.dat looks binary (NUL byte at offset 3"},
		{"binary inside gzip", func() error {
			_, err := corpus.Resolve([]string{write("bin.txt.gz", gz.Bytes())})
			return err
		}, "bin.txt.gz looks binary (NUL byte at offset 5 of its decompressed text"},
		{"invalid utf-8", func() error {
			_, err := corpus.Resolve([]string{write("latin1.txt", bytes.Repeat([]byte{'a', 0xe9, 0xe8}, 100))})
			return err
		}, "latin1.txt: invalid UTF-8 at byte offset 1 (line 1)"},
		{"missing corpus", func() error {
			_, err := corpus.Resolve([]string{filepath.Join(dir, "nope")})
			return err
		}, "no such file"},
		{"jsonl without field", func() error {
			p := write("x.jsonl", []byte(`{"body": "hi"}`+"\n"))
			_, err := Build(context.Background(), m, testOpts(t, filepath.Join(dir, "j.db"), p))
			return err
		}, `x.jsonl:1: no field "text"`},
		{"unknown unit", func() error {
			a, err := Open(goodDB)
			if err != nil {
				return err
			}
			defer a.Close()
			_, err = a.Unit("blocks.0.mlp.hook_post", 8)
			return err
		}, "has units 0..7; 8 does not exist"},
		{"unknown hook", func() error {
			a, err := Open(goodDB)
			if err != nil {
				return err
			}
			defer a.Close()
			_, err = a.Unit("blocks.9.mlp.hook_post", 1)
			return err
		}, "blocks.0.mlp.hook_post (0..7)"},
		{"bad unit syntax", func() error { _, _, err := ParseUnit("blocks.0.mlp.hook_post"); return err }, "HOOK:INDEX"},
		{"another model", func() error {
			p := copyDB("other.db")
			sqlExec(t, p, "UPDATE meta SET value = 'building' WHERE key = 'status'")
			m2 := atlastest.New(1, 8)
			m2.FP = "different"
			o := testOpts(t, p, good)
			o.Resume = true
			_, err := Build(context.Background(), m2, o)
			return err
		}, "built with another model"},
		{"other settings", func() error {
			p := copyDB("settings.db")
			sqlExec(t, p, "UPDATE meta SET value = 'building' WHERE key = 'status'")
			o := testOpts(t, p, good)
			o.Resume = true
			o.TopK = 9
			_, err := Build(context.Background(), m, o)
			return err
		}, "different settings: top_k is 5 in the stored build, 9 in the requested one"},
		{"changed corpus", func() error {
			p := copyDB("changed.db")
			sqlExec(t, p, "UPDATE meta SET value = 'building' WHERE key = 'status'")
			other := writeCorpus(t, filepath.Join(dir, "other"), 2, 1, 10, 10)
			o := testOpts(t, p, other)
			o.Resume = true
			_, err := Build(context.Background(), m, o)
			return err
		}, "has changed since the build started"},
		{"schema version", func() error {
			p := copyDB("v99.db")
			sqlExec(t, p, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
			_, err := Open(p)
			return err
		}, "schema version 99, but this glia reads version 2"},
		{"not an atlas", func() error {
			p := filepath.Join(dir, "plain.db")
			db, _ := sql.Open("sqlite", p)
			db.Exec("CREATE TABLE t (x)")
			db.Close()
			_, err := Open(p)
			return err
		}, "not a glia atlas database"},
		{"not sqlite", func() error {
			_, err := Open(write("text.db", bytes.Repeat([]byte("hello world\n"), 1000)))
			return err
		}, "not a readable SQLite database"},
		{"damaged pages", func() error {
			p := copyDB("damaged.db")
			data, _ := os.ReadFile(p)
			for i := 4096; i < len(data)-4096; i += 997 {
				data[i] ^= 0x5a
			}
			os.WriteFile(p, data, 0o644)
			_, err := Open(p)
			return err
		}, "atlas:"},
		{"edited rows are not extended", func() error {
			p := copyDB("edited.db")
			sqlExec(t, p, "UPDATE meta SET value = 'building' WHERE key = 'status'")
			sqlExec(t, p, "UPDATE units SET max = 1e9 WHERE unit = 3")
			o := testOpts(t, p, good)
			o.Resume = true
			_, err := Build(context.Background(), m, o)
			return err
		}, "checkpoint checksum"},
		{"existing atlas of other settings", func() error {
			o := testOpts(t, goodDB, good)
			o.Radius = 2
			_, err := Build(context.Background(), m, o)
			var ee *ExistsError
			if !errors.As(err, &ee) || !ee.Complete {
				t.Errorf("want a complete *ExistsError, got %v", err)
			}
			return err
		}, "a complete atlas of another build (different settings: radius is 4 in the stored build, 2 in the requested one)"},
		{"existing file that is not an atlas", func() error {
			p := filepath.Join(dir, "mine.db")
			db, _ := sql.Open("sqlite", p)
			db.Exec("CREATE TABLE t (x)")
			db.Close()
			o := testOpts(t, p, good)
			o.Force = true
			_, err := Build(context.Background(), m, o)
			if _, serr := os.Stat(p); serr != nil {
				t.Errorf("Force removed a file that is not an atlas: %v", serr)
			}
			if _, serr := os.Stat(p + "-wal"); serr == nil {
				t.Error("probing a file that is not an atlas switched it to WAL")
			}
			return err
		}, `not a glia atlas (it has a table "t"); it is left alone`},
		{"ctx too long", func() error {
			o := testOpts(t, filepath.Join(dir, "ctx.db"), good)
			o.Ctx = 10000
			_, err := Build(context.Background(), m, o)
			return err
		}, "outside 1..256"},
		{"no hook matches", func() error {
			o := testOpts(t, filepath.Join(dir, "hooks.db"), good)
			o.Hooks = "blocks.*.attn.hook_z"
			_, err := Build(context.Background(), m, o)
			return err
		}, "no hook matches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func sqlExec(t *testing.T, path, q string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q); err != nil {
		t.Fatal(err)
	}
}

func TestLongDocumentNote(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "long.txt")
	os.WriteFile(p, []byte(strings.Repeat("the cat sat on the mat. ", 20)), 0o644)
	o := testOpts(t, filepath.Join(dir, "l.db"), p)
	var log strings.Builder
	o.Log = &log
	r := mustBuild(t, atlastest.New(1, 4), o)
	if !strings.Contains(log.String(), "more than a 32-token window") {
		t.Fatalf("no note about the long document: %q", log.String())
	}
	if r.Windows < 10 {
		t.Fatalf("%d windows", r.Windows)
	}
}

func TestMaxTokens(t *testing.T) {
	dir := t.TempDir()
	c := writeCorpus(t, filepath.Join(dir, "c"), 3, 2, 20, 30)
	o := testOpts(t, filepath.Join(dir, "a.db"), c)
	o.MaxTokens = 100
	r := mustBuild(t, atlastest.New(1, 4), o)
	if r.Tokens != 100 {
		t.Fatalf("%d tokens, want 100", r.Tokens)
	}
}
