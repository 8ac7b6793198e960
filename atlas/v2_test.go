package atlas

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/atlas/atlastest"
)

// v1Fixture is testdata/v1.db, built by glia at 259cc4d (schema 1) with
// atlastest.New(2, 12) over writeCorpus(dir, 7, 2, 12, 30) and testOpts.
func v1Fixture(t *testing.T, dir string) (v1, corpusDir string) {
	t.Helper()
	data, err := os.ReadFile("testdata/v1.db")
	if err != nil {
		t.Fatal(err)
	}
	v1 = filepath.Join(dir, "v1.db")
	if err := os.WriteFile(v1, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return v1, writeCorpus(t, filepath.Join(dir, "c"), 7, 2, 12, 30)
}

// reports reads every unit of an atlas as JSON lines.
func reports(t *testing.T, path string) []string {
	t.Helper()
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var out []string
	if err := a.Units(func(r *UnitReport) error {
		b, err := json.Marshal(r)
		out = append(out, string(b))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := a.Verify(); err != nil {
		t.Fatalf("verify %s: %v", path, err)
	}
	return out
}

func sameLines(t *testing.T, what string, want, got []string) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: %d units, want %d", what, len(got), len(want))
	}
	for i := range want {
		if want[i] != got[i] {
			j := 0
			for j < len(want[i]) && j < len(got[i]) && want[i][j] == got[i][j] {
				j++
			}
			j = max(0, j-200)
			t.Fatalf("%s: unit %d differs:\n-%.400s\n+%.400s", what, i, want[i][j:], got[i][j:])
		}
	}
}

// TestSchema1 reads a schema-1 atlas as it is and upgraded, and finds the
// same units as a schema-2 build of the same corpus; resume and merge ask
// for the upgrade.
func TestSchema1(t *testing.T) {
	dir := t.TempDir()
	v1, c := v1Fixture(t, dir)
	m := atlastest.New(2, 12)
	v2 := filepath.Join(dir, "v2.db")
	mustBuild(t, m, testOpts(t, v2, c))
	want := reports(t, v2)
	sameLines(t, "schema 1 read as it is", want, reports(t, v1))
	up := filepath.Join(dir, "up.db")
	if err := Upgrade(v1, up); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "schema 1 upgraded", want, reports(t, up))
	if err := Upgrade(up, filepath.Join(dir, "again.db")); err == nil || !strings.Contains(err.Error(), "already a schema-2") {
		t.Errorf("upgrade of a schema-2 atlas: %v", err)
	}
	var se *SchemaError
	if err := Merge(filepath.Join(dir, "m.db"), v1, v2); !errors.As(err, &se) || se.Version != 1 {
		t.Errorf("merge of a schema-1 atlas: %v", err)
	}
	// The upgraded atlas merges like any schema-2 atlas.
	other := writeCorpus(t, filepath.Join(dir, "o"), 8, 1, 10, 20)
	mustBuild(t, m, testOpts(t, filepath.Join(dir, "o.db"), other))
	mustBuild(t, m, testOpts(t, filepath.Join(dir, "both.db"), c, other))
	if err := Merge(filepath.Join(dir, "m.db"), up, filepath.Join(dir, "o.db")); err != nil {
		t.Fatal(err)
	}
	a, b := reports(t, filepath.Join(dir, "both.db")), reports(t, filepath.Join(dir, "m.db"))
	for i := range a {
		var x, y UnitReport
		json.Unmarshal([]byte(a[i]), &x)
		json.Unmarshal([]byte(b[i]), &y)
		x.Mean, x.Var, x.Std, y.Mean, y.Var, y.Std = 0, 0, 0, 0, 0, 0
		jx, _ := json.Marshal(x)
		jy, _ := json.Marshal(y)
		if string(jx) != string(jy) {
			t.Fatalf("upgraded and merged, unit %d:\n%s\n%s", i, jx, jy)
		}
	}
}

// sliceBuild is the child process of TestSlicesMergeToOneBuild:
// "corpus|out|I/N|maxTokens".
func sliceBuild(spec string) int {
	p := strings.Split(spec, "|")
	o := testOpts(childTB{}, p[1], p[0])
	var err error
	if o.Slice, err = ParseSlice(p[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Sscan(p[3], &o.MaxTokens)
	if _, err := Build(context.Background(), atlastest.New(2, 20), o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestSlicesMergeToOneBuild builds N slices of a corpus, in N processes or
// in this one, merges them in a scrambled order, and gets the atlas of one
// build: every row the same (mean and variance to summation order).
func TestSlicesMergeToOneBuild(t *testing.T) {
	dir := t.TempDir()
	ca := writeCorpus(t, filepath.Join(dir, "ca"), 2, 2, 15, 40)
	cb := writeCorpus(t, filepath.Join(dir, "cb"), 3, 1, 10, 25)
	m := atlastest.New(2, 20)
	for _, tc := range []struct {
		name      string
		n         int
		maxTokens int64
		processes bool
		order     []int
	}{
		{"2 slices", 2, 0, false, []int{1, 0}},
		{"3 processes", 3, 0, true, []int{2, 0, 1}},
		{"5 slices, token limit", 5, 700, false, []int{3, 1, 4, 0, 2}},
		{"more slices than windows", 40, 200, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			os.MkdirAll(sub, 0o755)
			one := testOpts(t, filepath.Join(sub, "one.db"), ca, cb)
			one.MaxTokens = tc.maxTokens
			mustBuild(t, m, one)
			var parts []string
			for i := 0; i < tc.n; i++ {
				out := filepath.Join(sub, fmt.Sprintf("s%02d.db", i))
				parts = append(parts, out)
				if tc.processes {
					cmd := exec.Command(os.Args[0], "-test.run=^$")
					cmd.Env = append(os.Environ(), fmt.Sprintf("GLIA_ATLAS_SLICE=%s|%s|%d/%d|%d", ca, out, i, tc.n, tc.maxTokens))
					if b, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("slice %d: %v\n%s", i, err, b)
					}
					continue
				}
				o := testOpts(t, out, ca, cb)
				o.MaxTokens, o.Slice = tc.maxTokens, Slice{Index: i, Count: tc.n}
				mustBuild(t, m, o)
			}
			if tc.processes {
				// The processes built over ca alone.
				os.Remove(filepath.Join(sub, "one.db"))
				one.Shards = one.Shards[:1]
				mustBuild(t, m, one)
			}
			in := parts
			if tc.order != nil {
				in = nil
				for _, i := range tc.order {
					in = append(in, parts[i])
				}
			}
			merged := filepath.Join(sub, "merged.db")
			if err := Merge(merged, in...); err != nil {
				t.Fatal(err)
			}
			diffDumps(t, dump(t, filepath.Join(sub, "one.db"), false), dump(t, merged, false))
			closeStats(t, filepath.Join(sub, "one.db"), merged)
			if tc.n < 3 {
				return
			}
			// A slice built in batches of another size does not fit.
			o := testOpts(t, filepath.Join(sub, "b2.db"), ca, cb)
			o.MaxTokens, o.Slice, o.Batch, o.Shards = tc.maxTokens, Slice{Index: 0, Count: tc.n}, 2, one.Shards
			mustBuild(t, m, o)
			if err := Merge(filepath.Join(sub, "x.db"), append([]string{o.Out}, parts[1:]...)...); err == nil || !strings.Contains(err.Error(), "different batches") {
				t.Errorf("merge of slices of different batches: %v", err)
			}
			if err := Merge(filepath.Join(sub, "part.db"), parts[1:]...); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("slices 0/%d are missing", tc.n)) {
				t.Errorf("merge without slice 0: %v", err)
			}
		})
	}
}

// closeStats compares every unit's mean and variance.
func closeStats(t *testing.T, a, b string) {
	t.Helper()
	x, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	y, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	for _, h := range x.Meta.Settings.Hooks {
		for u := 0; u < h.Width; u++ {
			rx, err1 := x.Unit(h.Name, u)
			ry, err2 := y.Unit(h.Name, u)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if math.Abs(rx.Mean-ry.Mean) > 1e-9*(1+math.Abs(rx.Mean)) || math.Abs(rx.Var-ry.Var) > 1e-9*(1+rx.Var) {
				t.Fatalf("%s:%d: mean/var %v/%v vs %v/%v", h.Name, u, rx.Mean, rx.Var, ry.Mean, ry.Var)
			}
		}
	}
	if err := y.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedExamples: a damaged examples blob is a *BlobError that names
// its unit, when read and when resumed.
func TestDamagedExamples(t *testing.T) {
	dir := t.TempDir()
	c := writeCorpus(t, filepath.Join(dir, "c"), 4, 1, 12, 30)
	m := atlastest.New(1, 8)
	good := filepath.Join(dir, "good.db")
	mustBuild(t, m, testOpts(t, good, c))
	for _, tc := range []struct {
		name, edit string
	}{
		{"flipped byte", "UPDATE examples SET blob = substr(blob, 1, 20) || x'ff' || substr(blob, 22) WHERE unit = 5"},
		{"cut short", "UPDATE examples SET blob = substr(blob, 1, 40) WHERE unit = 5"},
		{"checksum refitted", "UPDATE examples SET blob = x'01ffff0000000000', checksum = 2166392262 WHERE unit = 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, _ := os.ReadFile(good)
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".db")
			os.WriteFile(p, data, 0o644)
			db, err := sql.Open("sqlite", p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tc.edit); err != nil {
				t.Fatal(err)
			}
			var blob []byte
			var crc int64
			db.QueryRow("SELECT blob, checksum FROM examples WHERE unit = 5").Scan(&blob, &crc)
			if tc.name == "checksum refitted" && int64(crcOf(blob)) != crc {
				db.Exec("UPDATE examples SET checksum = ? WHERE unit = 5", int64(crcOf(blob)))
			}
			db.Close()
			a, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			check := func(what string, err error) {
				var be *BlobError
				if !errors.As(err, &be) || be.Hook != "blocks.0.mlp.hook_post" || be.Unit != 5 || !strings.Contains(err.Error(), "hook_post:5") {
					t.Errorf("%s: want a *BlobError naming blocks.0.mlp.hook_post:5, got %v", what, err)
				}
			}
			_, err = a.Unit("blocks.0.mlp.hook_post", 5)
			check("Unit", err)
			check("Verify", a.Verify())
			if _, err := a.Unit("blocks.0.mlp.hook_post", 4); err != nil {
				t.Errorf("an intact unit: %v", err)
			}
			check("export", Export(a, io.Discard, "jsonl"))
		})
	}
}

func crcOf(b []byte) uint32 { return crc32Of(b) }

// FuzzExamplesBlob: the decoder never panics nor allocates more than its
// input can hold, and what it accepts encodes back to the same bytes.
func FuzzExamplesBlob(f *testing.F) {
	set := &Settings{Ctx: 32, TopK: 5, Radius: 4, RandomK: 3, Bands: 3, BandK: 2}
	spec := HookSpec{Name: "h", Width: 1}
	hs := newHookState(spec, set)
	ids := make([]int32, 32)
	docs := make([]int64, 32)
	acts := make([]float32, 32)
	for i := range acts {
		acts[i] = float32(i%7) - 2.5
	}
	bt := &batch{b: 1, t: 32, ids: [][]int32{ids}, docs: [][]int64{docs}, keys: make([]uint64, 32), hash: make([]uint64, 32), tokens: 32}
	for p := 0; p < 32; p++ {
		bt.keys[p] = posKey(1, 3, p)
		bt.hash[p] = posHash(5, 3, p)
	}
	hs.update(0, 1, acts, bt)
	good := encodeExamples(nil, hs.examples(0, func(uint64) int { return 32 }))
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 5, 0, 0, 0, 0, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		ex, err := decodeExamples(b, set, "h", 0)
		if err != nil {
			var be *BlobError
			if !errors.As(err, &be) || be.Hook != "h" || be.Offset > len(b) {
				t.Fatalf("error %v is not a *BlobError naming the unit", err)
			}
			return
		}
		if got := encodeExamples(nil, ex); string(got) != string(b) {
			t.Fatalf("re-encoded blob differs:\n%x\n%x", b, got)
		}
	})
}

// FuzzHist: the histogram decoder never panics, and what it accepts
// encodes back to the same bytes.
func FuzzHist(f *testing.F) {
	h := make([]uint64, NumBins)
	h[0], h[81], h[82], h[NumBins-1] = 3, 1<<40, 7, 1
	f.Add(encodeHist(nil, h))
	f.Add([]byte{0xa3, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeHist(b)
		if err != nil {
			return
		}
		if len(got) != NumBins || string(encodeHist(nil, got)) != string(b) {
			t.Fatalf("%x does not round-trip", b)
		}
	})
}
