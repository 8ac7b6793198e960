package atlas

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/glia-dev/glia/atlas/atlastest"
	"github.com/glia-dev/glia/corpus"
)

var words = strings.Fields("the cat sat on a mat and dog ran to big red ball happy little girl named lily saw tree sun")

// writeCorpus writes nfiles text files of ndocs documents ("\n\n"-separated)
// into dir, from seed.
func writeCorpus(t testing.TB, dir string, seed uint64, nfiles, ndocs, nwords int) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	x := seed
	for f := 0; f < nfiles; f++ {
		var sb strings.Builder
		for d := 0; d < ndocs; d++ {
			if d > 0 {
				sb.WriteString("\n\n")
			}
			x = mix64(x + 1)
			n := 1 + int(x%uint64(nwords))
			for w := 0; w < n; w++ {
				x = mix64(x + 7)
				if w > 0 {
					sb.WriteByte(' ')
				}
				sb.WriteString(words[x%uint64(len(words))])
			}
			sb.WriteByte('.')
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d.txt", f)), []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testOpts(t testing.TB, out string, paths ...string) BuildOptions {
	t.Helper()
	shards, err := corpus.Resolve(paths)
	if err != nil {
		t.Fatal(err)
	}
	return BuildOptions{Out: out, Shards: shards, CorpusOptions: corpus.Options{DocSep: "\n\n"}, Hooks: "blocks.*.mlp.hook_post",
		Ctx: 32, TopK: 5, Radius: 4, RandomK: 3, Bands: 3, BandK: 2, Batch: 3, Threshold: 1, ThresholdSet: true}
}

func mustBuild(t testing.TB, m Model, o BuildOptions) *BuildResult {
	t.Helper()
	r, err := Build(context.Background(), m, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// queryRows renders each row of query as "prefix col=value …" (blobs in
// hex).
func queryRows(t testing.TB, db *sql.DB, prefix, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		sb.WriteString(prefix)
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = fmt.Sprintf("%x", b)
			}
			fmt.Fprintf(&sb, " %s=%v", cols[i], v)
		}
		out = append(out, sb.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// dump renders every row of every table (except timing meta) as sorted text.
// With stats=false, the floating-point mean/m2/var/std columns are left out.
func dump(t testing.TB, path string, stats bool) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	q := func(prefix, query string) { out = append(out, queryRows(t, db, prefix, query)...) }
	excl := "'" + strings.Join(append([]string{"progress_dummy"}, TimingMetaKeys...), "','") + "'"
	q("meta", "SELECT key, value FROM meta WHERE key NOT IN ("+excl+")")
	if stats {
		q("units", "SELECT * FROM units")
	} else {
		q("units", "SELECT id, hook, unit, count, min, max, n_pos, n_above, density, density_above, hist FROM units")
	}
	q("examples", "SELECT * FROM examples")
	q("windows", "SELECT * FROM windows")
	q("tokens", "SELECT * FROM tokens")
	sort.Strings(out)
	return out
}

func diffDumps(t *testing.T, want, got []string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("row counts differ: want %d, got %d", len(want), len(got))
	}
	shown := 0
	wm := map[string]bool{}
	for _, w := range want {
		wm[w] = true
	}
	gm := map[string]bool{}
	for _, g := range got {
		gm[g] = true
		if !wm[g] && shown < 5 {
			t.Errorf("+ %.300s", g)
			shown++
		}
	}
	for _, w := range want {
		if !gm[w] && shown < 10 {
			t.Errorf("- %.300s", w)
			shown++
		}
	}
}

// naiveUnit is a two-pass reference for one unit.
type naiveVal struct {
	act float32
	key uint64
	h   uint64
}

func TestStatisticsMatchNaive(t *testing.T) {
	dir := t.TempDir()
	c := writeCorpus(t, filepath.Join(dir, "c"), 1, 3, 20, 30)
	m := atlastest.New(2, 24)
	o := testOpts(t, filepath.Join(dir, "a.db"), c)
	res := mustBuild(t, m, o)

	// Reference: pack the corpus again and compute everything from all values.
	p, err := corpus.NewPacker(o.Shards, o.CorpusOptions, m.Encode, m.BOS(), o.Ctx, corpus.Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	type win struct {
		w *corpus.Window
	}
	var wins []*corpus.Window
	for {
		w, err := p.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		wins = append(wins, w)
	}
	var ntok int64
	for _, w := range wins {
		ntok += int64(len(w.IDs))
	}
	if res.Tokens != ntok {
		t.Fatalf("tokens: build %d, packer %d", res.Tokens, ntok)
	}
	a, err := Open(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Verify(); err != nil {
		t.Fatal(err)
	}
	seed := shardSeed(o.Shards[0].Hash)
	for _, hook := range []string{"blocks.0.mlp.hook_post", "blocks.1.mlp.hook_post"} {
		for u := 0; u < m.Width; u++ {
			var vals []naiveVal
			acts := map[uint64]float32{}
			for _, w := range wins {
				out, _ := m.Forward([][]int32{w.IDs}, []string{hook})
				for p := range w.IDs {
					x := out[hook][p*m.Width+u]
					k := posKey(w.Shard, w.Index, p)
					vals = append(vals, naiveVal{x, k, sampleHash(posHash(seed, w.Index, p), unitSeed(hook, u))})
					acts[k] = x
				}
			}
			var sum, mn, mx float64 = 0, math.Inf(1), math.Inf(-1)
			var npos, nabove int64
			hist := make([]uint64, NumBins)
			for _, v := range vals {
				sum += float64(v.act)
				mn = math.Min(mn, float64(v.act))
				mx = math.Max(mx, float64(v.act))
				if v.act > 0 {
					npos++
				}
				if v.act > 1 {
					nabove++
				}
				hist[binOf(v.act)]++
			}
			mean := sum / float64(len(vals))
			var ss float64
			for _, v := range vals {
				ss += (float64(v.act) - mean) * (float64(v.act) - mean)
			}
			variance := ss / float64(len(vals))
			r, err := a.Unit(hook, u)
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("%s:%d", hook, u)
			if r.Count != int64(len(vals)) || *r.Min != mn || *r.Max != mx || r.NPos != npos || r.NAbove != nabove {
				t.Fatalf("%s: count/min/max/npos/nabove = %d %v %v %d %d, want %d %v %v %d %d", name, r.Count, *r.Min, *r.Max, r.NPos, r.NAbove, len(vals), mn, mx, npos, nabove)
			}
			if math.Abs(r.Mean-mean) > 1e-9*(1+math.Abs(mean)) || math.Abs(r.Var-variance) > 1e-9*(1+variance) {
				t.Fatalf("%s: mean/var %v %v, want %v %v", name, r.Mean, r.Var, mean, variance)
			}
			for i := range hist {
				if hist[i] != r.Hist[i] {
					t.Fatalf("%s: histogram bin %d: %d, want %d", name, i, r.Hist[i], hist[i])
				}
			}
			// Top-k: activation descending, ties by position.
			top := append([]naiveVal(nil), vals...)
			sort.Slice(top, func(i, j int) bool {
				return top[i].act > top[j].act || (top[i].act == top[j].act && top[i].key < top[j].key)
			})
			top = top[:o.TopK]
			if len(r.Top) != len(top) {
				t.Fatalf("%s: %d top examples, want %d", name, len(r.Top), len(top))
			}
			for i, e := range r.Top {
				if e.Activation != top[i].act || posKey(e.Shard, e.Window, e.Pos) != top[i].key {
					t.Fatalf("%s: top %d = %v@%d/%d, want %v@%x", name, i, e.Activation, e.Window, e.Pos, top[i].act, top[i].key)
				}
				if e.Acts[e.Center] != e.Activation {
					t.Fatalf("%s: top %d: span activation at centre %v != %v", name, i, e.Acts[e.Center], e.Activation)
				}
				// The span's activations are the unit's at the neighbouring positions.
				for j, x := range e.Acts {
					if want := acts[posKey(e.Shard, e.Window, e.Start+j)]; want != x {
						t.Fatalf("%s: top %d span %d = %v, want %v", name, i, j, x, want)
					}
				}
				if len(e.Tokens) > 2*o.Radius+1 || e.Center > o.Radius {
					t.Fatalf("%s: span too long", name)
				}
			}
			// Random: the k smallest hashes.
			rnd := append([]naiveVal(nil), vals...)
			sort.Slice(rnd, func(i, j int) bool { return rnd[i].h < rnd[j].h })
			for i, e := range r.Random {
				if posKey(e.Shard, e.Window, e.Pos) != rnd[i].key || e.Activation != rnd[i].act {
					t.Fatalf("%s: random %d differs", name, i)
				}
			}
			if len(r.Random) != o.RandomK {
				t.Fatalf("%s: %d random examples", name, len(r.Random))
			}
			// Bands: per octave within Bands of the max, the smallest hashes.
			if mx <= 0 {
				if len(r.Bands) != 0 {
					t.Fatalf("%s: bands for a unit that is never positive", name)
				}
				continue
			}
			top1 := octave(float32(mx))
			nb := 0
			for o2 := top1; o2 > top1-o.Bands; o2-- {
				var in []naiveVal
				for _, v := range rnd { // rnd is sorted by hash
					if v.act > 0 && octave(v.act) == o2 {
						in = append(in, v)
					}
				}
				if len(in) == 0 {
					continue
				}
				bd := r.Bands[nb]
				nb++
				if bd.Octave != o2 {
					t.Fatalf("%s: band octave %d, want %d", name, bd.Octave, o2)
				}
				want := in[:min(len(in), o.BandK)]
				if len(bd.Examples) != len(want) {
					t.Fatalf("%s: band %d has %d examples, want %d", name, o2, len(bd.Examples), len(want))
				}
				for i, e := range bd.Examples {
					if posKey(e.Shard, e.Window, e.Pos) != want[i].key {
						t.Fatalf("%s: band %d example %d differs", name, o2, i)
					}
				}
				if bd.Count != uint64(len(in)) {
					t.Fatalf("%s: band %d count %d, want %d", name, o2, bd.Count, len(in))
				}
			}
			if nb != len(r.Bands) {
				t.Fatalf("%s: %d bands, want %d", name, len(r.Bands), nb)
			}
		}
	}
}

func TestDeterministicAndMergeEqualsConcatenation(t *testing.T) {
	dir := t.TempDir()
	ca := writeCorpus(t, filepath.Join(dir, "ca"), 2, 2, 15, 40)
	cb := writeCorpus(t, filepath.Join(dir, "cb"), 3, 3, 10, 25)
	cc := writeCorpus(t, filepath.Join(dir, "cc"), 4, 1, 12, 20)
	m := atlastest.New(2, 20)
	mustBuild(t, m, testOpts(t, filepath.Join(dir, "a.db"), ca))
	mustBuild(t, m, testOpts(t, filepath.Join(dir, "b.db"), cb, cc))
	mustBuild(t, m, testOpts(t, filepath.Join(dir, "all.db"), ca, cb, cc))
	mustBuild(t, m, testOpts(t, filepath.Join(dir, "all2.db"), ca, cb, cc))
	t.Run("deterministic", func(t *testing.T) {
		diffDumps(t, dump(t, filepath.Join(dir, "all.db"), true), dump(t, filepath.Join(dir, "all2.db"), true))
	})
	t.Run("merge", func(t *testing.T) {
		if err := Merge(filepath.Join(dir, "ab.db"), filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")); err != nil {
			t.Fatal(err)
		}
		want := dump(t, filepath.Join(dir, "all.db"), false)
		got := dump(t, filepath.Join(dir, "ab.db"), false)
		diffDumps(t, want, got)
		// Mean and variance agree up to summation order.
		x, _ := Open(filepath.Join(dir, "all.db"))
		y, _ := Open(filepath.Join(dir, "ab.db"))
		defer x.Close()
		defer y.Close()
		for u := 0; u < 20; u++ {
			rx, _ := x.Unit("blocks.1.mlp.hook_post", u)
			ry, _ := y.Unit("blocks.1.mlp.hook_post", u)
			if math.Abs(rx.Mean-ry.Mean) > 1e-9*(1+math.Abs(rx.Mean)) || math.Abs(rx.Var-ry.Var) > 1e-9*(1+rx.Var) {
				t.Fatalf("unit %d: mean/var %v/%v vs %v/%v", u, rx.Mean, rx.Var, ry.Mean, ry.Var)
			}
		}
		if err := y.Verify(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("merge refuses", func(t *testing.T) {
		o := testOpts(t, filepath.Join(dir, "other.db"), cc)
		o.TopK = 7
		mustBuild(t, m, o)
		err := Merge(filepath.Join(dir, "x.db"), filepath.Join(dir, "a.db"), filepath.Join(dir, "other.db"))
		if err == nil || !strings.Contains(err.Error(), "different settings") {
			t.Fatalf("merge of different settings: %v", err)
		}
		m2 := atlastest.New(2, 20)
		m2.FP = "another"
		mustBuild(t, m2, testOpts(t, filepath.Join(dir, "m2.db"), cc))
		err = Merge(filepath.Join(dir, "x.db"), filepath.Join(dir, "a.db"), filepath.Join(dir, "m2.db"))
		if err == nil || !strings.Contains(err.Error(), "another model") {
			t.Fatalf("merge of different models: %v", err)
		}
		err = Merge(filepath.Join(dir, "a.db"), filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db"))
		if err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("merge onto existing: %v", err)
		}
	})
}

func TestResumeAfterCancel(t *testing.T) {
	dir := t.TempDir()
	c := writeCorpus(t, filepath.Join(dir, "c"), 5, 2, 30, 40)
	m := atlastest.New(1, 16)
	mustBuild(t, m, testOpts(t, filepath.Join(dir, "full.db"), c))
	o := testOpts(t, filepath.Join(dir, "part.db"), c)
	o.CheckpointBatches = 1
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	o.OnCheckpoint = func(tokens, windows int64) {
		n++
		if n == 4 {
			cancel()
		}
	}
	_, err := Build(ctx, m, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled build: %v", err)
	}
	var ee *ExistsError
	if _, err := Build(context.Background(), m, o); !errors.As(err, &ee) || ee.Complete || ee.Tokens == 0 || ee.Differs != nil {
		t.Fatalf("build over an unfinished build without Resume: %v", err)
	}
	o.Resume = true
	o.OnCheckpoint = nil
	r := mustBuild(t, m, o)
	if !r.Resumed {
		t.Fatal("not resumed")
	}
	diffDumps(t, dump(t, filepath.Join(dir, "full.db"), true), dump(t, filepath.Join(dir, "part.db"), true))
	r = mustBuild(t, m, o)
	if !r.AlreadyComplete {
		t.Fatal("resume of a complete build should say so")
	}
	o.Resume = false
	if r = mustBuild(t, m, o); !r.AlreadyComplete || r.Tokens == 0 {
		t.Fatalf("a second build of a complete atlas should say it is complete: %+v", r)
	}
}

// TestIncrementalCheckpoints: a build that checkpoints after every batch
// (rewriting only the units whose examples changed) ends with the same
// database as one that writes once at the end.
func TestIncrementalCheckpoints(t *testing.T) {
	dir := t.TempDir()
	c := writeCorpus(t, filepath.Join(dir, "c"), 3, 2, 30, 40)
	m := atlastest.New(2, 64)
	once := testOpts(t, filepath.Join(dir, "once.db"), c)
	once.CheckpointEvery = time.Hour
	mustBuild(t, m, once)
	every := testOpts(t, filepath.Join(dir, "every.db"), c)
	every.CheckpointBatches = 1
	var checkpoints int
	every.OnCheckpoint = func(int64, int64) { checkpoints++ }
	mustBuild(t, m, every)
	if checkpoints < 5 {
		t.Fatalf("only %d checkpoints", checkpoints)
	}
	diffDumps(t, dump(t, filepath.Join(dir, "once.db"), true), dump(t, filepath.Join(dir, "every.db"), true))
}
