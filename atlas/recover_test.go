package atlas

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glia-dev/glia/atlas/atlastest"
)

// failingModel fails its nth Forward call (counting from 1), after calling
// before (if set).
type failingModel struct {
	Model
	n, calls int
	before   func()
}

func (f *failingModel) Forward(ids [][]int32, hooks []string) (map[string][]float32, error) {
	f.calls++
	if f.before != nil {
		f.before()
	}
	if f.calls == f.n {
		return nil, errors.New("forward failed")
	}
	return f.Model.Forward(ids, hooks)
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// TestNoFileWithoutWork: a build that stops before its first checkpoint
// with tokens leaves no database, and a database left by such a build (or
// by a kill while it was created) does not block the next build, with or
// without Resume.
func TestNoFileWithoutWork(t *testing.T) {
	dir := t.TempDir()
	c := writeCorpus(t, filepath.Join(dir, "c"), 1, 2, 20, 30)
	m := atlastest.New(1, 8)
	want := filepath.Join(dir, "want.db")
	mustBuild(t, m, testOpts(t, want, c))

	t.Run("forward fails at once", func(t *testing.T) {
		o := testOpts(t, filepath.Join(dir, "fail.db"), c)
		_, err := Build(context.Background(), &failingModel{Model: m, n: 1}, o)
		if err == nil || exists(o.Out) || exists(o.Out+"-wal") {
			t.Fatalf("error %v; database left: %v", err, exists(o.Out))
		}
	})
	t.Run("forward fails after a checkpoint", func(t *testing.T) {
		o := testOpts(t, filepath.Join(dir, "late.db"), c)
		o.CheckpointBatches = 1
		_, err := Build(context.Background(), &failingModel{Model: m, n: 4}, o)
		if err == nil || !exists(o.Out) {
			t.Fatalf("error %v; a database with work in it must stay", err)
		}
		o.Resume = true
		mustBuild(t, m, o)
		diffDumps(t, dump(t, want, true), dump(t, o.Out, true))
	})
	t.Run("interrupted before the first batch", func(t *testing.T) {
		o := testOpts(t, filepath.Join(dir, "int.db"), c)
		ctx, cancel := context.WithCancel(context.Background())
		slow := &failingModel{Model: m, before: func() { cancel(); time.Sleep(50 * time.Millisecond) }}
		_, err := Build(ctx, slow, o)
		var ie *InterruptedError
		if !errors.As(err, &ie) || ie.Tokens != 0 || !errors.Is(err, context.Canceled) || exists(o.Out) {
			t.Fatalf("error %v; database left: %v", err, exists(o.Out))
		}
	})
	for _, tc := range []struct {
		name   string
		make   func(path string)
		resume bool
	}{
		{"database without tables", func(p string) {
			db, _ := openSQLite(p)
			db.Exec("PRAGMA user_version = 1")
			db.Close()
		}, false},
		{"tables without meta", func(p string) {
			db, _ := openSQLite(p)
			db.Exec(schemaSQL)
			db.Close()
		}, true},
		{"first checkpoint not reached, corpus changed since", func(p string) {
			other := writeCorpus(t, filepath.Join(t.TempDir(), "o"), 9, 1, 5, 5)
			o := testOpts(t, p, other)
			mustBuild(t, m, o)
			sqlExec(t, p, "UPDATE progress SET tokens = 0")
			sqlExec(t, p, "UPDATE meta SET value = 'building' WHERE key = 'status'")
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "stale.db")
			tc.make(p)
			o := testOpts(t, p, c)
			o.Resume = tc.resume
			r := mustBuild(t, m, o)
			if !r.Replaced || r.Resumed {
				t.Fatalf("result %+v, want a replaced database", r)
			}
			diffDumps(t, dump(t, want, true), dump(t, p, true))
		})
	}
	t.Run("force rebuilds a complete atlas", func(t *testing.T) {
		o := testOpts(t, filepath.Join(dir, "force.db"), c)
		o.TopK = 2
		mustBuild(t, m, o)
		o = testOpts(t, o.Out, c)
		o.Force = true
		if r := mustBuild(t, m, o); !r.Replaced || r.AlreadyComplete {
			t.Fatalf("result %+v", r)
		}
		diffDumps(t, dump(t, want, true), dump(t, o.Out, true))
	})
}

// TestResumeProgress: a resumed build reports where it started, so that
// rate and ETA count only its own work; bytes end at the corpus size.
func TestResumeProgress(t *testing.T) {
	dir := t.TempDir()
	c := writeCorpus(t, filepath.Join(dir, "c"), 3, 3, 30, 40)
	m := atlastest.New(1, 8)
	o := testOpts(t, filepath.Join(dir, "p.db"), c, writeCorpus(t, filepath.Join(dir, "d"), 4, 1, 10, 20))
	o.CheckpointBatches = 2
	ctx, cancel := context.WithCancel(context.Background())
	bytesAt := map[int64]int64{}
	var last Progress
	reports := 0
	o.OnProgress = func(p Progress) {
		if reports > 0 && (p.Bytes < last.Bytes || p.Tokens <= last.Tokens) || p.StartTokens != 0 || reports == 0 && p.Tokens != 0 {
			t.Errorf("progress %+v after %+v", p, last)
		}
		bytesAt[p.Tokens], last = p.Bytes, p
		reports++
	}
	o.OnCheckpoint = func(tokens, _ int64) {
		if tokens > 300 {
			cancel()
		}
	}
	if _, err := Build(ctx, m, o); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	o.Resume, o.OnCheckpoint = true, nil
	var first, end *Progress
	o.OnProgress = func(p Progress) {
		if first == nil {
			first = &p
		}
		end = &p
	}
	mustBuild(t, m, o)
	if first.StartTokens == 0 || first.StartTokens != first.Tokens || first.Bytes != first.StartBytes || bytesAt[first.StartTokens] != first.StartBytes {
		t.Fatalf("resumed at %+v; the first run was at %d bytes after %d tokens", first, bytesAt[first.StartTokens], first.StartTokens)
	}
	if end.Bytes != end.TotalBytes || end.TotalBytes != o.Shards[0].TextBytes()+o.Shards[1].TextBytes() {
		t.Fatalf("ended at %+v", end)
	}
}

// TestAttentionHooks: a [batch, pos, head, d_head] hook records one unit per
// head and index, numbered head*d_head+i; a [batch, head, q, k] hook is
// refused before any file is made, or left out of a glob.
func TestAttentionHooks(t *testing.T) {
	dir := t.TempDir()
	c := writeCorpus(t, filepath.Join(dir, "c"), 5, 1, 20, 30)
	m := &atlastest.AttnFake{Fake: atlastest.New(1, 8), Heads: 4, DHead: 3}
	o := testOpts(t, filepath.Join(dir, "z.db"), c)
	o.Hooks = "blocks.0.attn.*"
	var log strings.Builder
	o.Log = &log
	r := mustBuild(t, m, o)
	if r.Units != 12 || !strings.Contains(log.String(), "leaving out 1 hooks") {
		t.Fatalf("%d units, log %q", r.Units, log.String())
	}
	a, err := Open(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for u := 0; u < 12; u++ {
		rep, err := a.Unit("blocks.0.attn.hook_z", u)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Index[0] != u/3 || rep.Index[1] != u%3 {
			t.Fatalf("unit %d index %v", u, rep.Index)
		}
		for _, e := range rep.Top {
			prev := int32(0)
			if e.Center > 0 {
				prev = e.Tokens[e.Center-1]
			}
			if e.Pos == 0 {
				prev = 0
			}
			if want := atlastest.Act(200, u, e.Tokens[e.Center], prev); e.Activation != want {
				t.Fatalf("unit %d: top activation %v, the model gives %v", u, e.Activation, want)
			}
		}
	}
	o = testOpts(t, filepath.Join(dir, "pattern.db"), c)
	o.Hooks = "blocks.0.attn.hook_pattern"
	_, err = Build(context.Background(), m, o)
	var pe *PairHookError
	if !errors.As(err, &pe) || exists(o.Out) || !strings.Contains(err.Error(), "[batch, 4, pos, pos]") {
		t.Fatalf("error %v; database made: %v", err, exists(o.Out))
	}
}

// TestMergeRefusesTwice: the same atlas, by path or by content, merges once;
// a settings mismatch names the setting and both values.
func TestMergeRefusesTwice(t *testing.T) {
	dir := t.TempDir()
	m := atlastest.New(1, 8)
	a := filepath.Join(dir, "a.db")
	o := testOpts(t, a, writeCorpus(t, filepath.Join(dir, "c"), 1, 1, 10, 10))
	mustBuild(t, m, o)
	data, _ := os.ReadFile(a)
	os.WriteFile(filepath.Join(dir, "copy.db"), data, 0o644)
	os.Symlink(a, filepath.Join(dir, "link.db"))
	o.Out, o.TopK = filepath.Join(dir, "k.db"), 7
	o.CorpusOptions.DocSep = ""
	mustBuild(t, m, o)
	for _, tc := range []struct{ b, want string }{
		{"a.db", "a.db and " + filepath.Join(dir, "a.db") + " are the same file"},
		{"link.db", "link.db are the same file"},
		{"copy.db", "were both built over corpus path"},
		{"k.db", `top_k is 5 in ` + a + `, 7 in ` + filepath.Join(dir, "k.db") + `; doc_sep is "\n\n" in ` + a + `, none (one document per file) in`},
	} {
		out := filepath.Join(dir, "out.db")
		err := Merge(out, a, filepath.Join(dir, tc.b))
		if err == nil || !strings.Contains(err.Error(), tc.want) || exists(out) {
			t.Errorf("merge a.db %s: %v, want %q", tc.b, err, tc.want)
		}
	}
}
