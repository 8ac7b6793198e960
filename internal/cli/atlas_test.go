package cli

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/atlas/atlastest"
	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/internal/progress"
)

// runCLI runs glia with args, returning exit code, stdout and stderr.
func atlasCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	oldOut, oldErr := Stdout, Stderr
	Stdout, Stderr = &out, &errb
	defer func() { Stdout, Stderr = oldOut, oldErr }()
	t.Setenv("GLIA_NO_SIMD_WARNING", "1")
	code := Main(args)
	return code, out.String(), errb.String()
}

func fakeAtlasModel(t *testing.T) {
	old := atlasModelOpener
	atlasModelOpener = func(mf *modelFlags) (atlas.Model, error) {
		if mf.model == "missing" {
			return nil, fmt.Errorf("no model %q", mf.model)
		}
		return atlastest.New(2, 12), nil
	}
	t.Cleanup(func() { atlasModelOpener = old })
}

func writeStories(t *testing.T, dir string, n int) string {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	for i := 0; i < n; i++ {
		text := strings.Repeat(fmt.Sprintf("story %d: the cat sat on the mat with dog %d. ", i, i*7), 3+i%4)
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("s%02d.txt", i)), []byte(text), 0o644)
	}
	return dir
}

func TestAtlasCommands(t *testing.T) {
	fakeAtlasModel(t)
	dir := t.TempDir()
	a := writeStories(t, filepath.Join(dir, "a"), 6)
	b := writeStories(t, filepath.Join(dir, "b"), 4)
	db := filepath.Join(dir, "atlas.db")
	flags := []string{"--ctx", "32", "--top-k", "4", "--window", "3", "--batch", "2"}

	code, out, errs := atlasCLI(t, append([]string{"atlas", "build", "--corpus", a, b, "--out", db}, flags...)...)
	if code != 0 || !strings.Contains(out, "wrote "+db+": 24 units of fake") {
		t.Fatalf("build: %d %q %q", code, out, errs)
	}
	if strings.Contains(errs, "\r") {
		t.Fatalf("progress bar drawn on a non-terminal: %q", errs)
	}
	t.Run("show", func(t *testing.T) {
		code, out, errs := atlasCLI(t, "atlas", "show", "--db", db, "blocks.1.mlp.hook_post:3")
		if code != 0 || !strings.Contains(out, "blocks.1.mlp.hook_post:3") || !strings.Contains(out, "Top activations") || !strings.Contains(out, "[[") {
			t.Fatalf("show: %d %q %q", code, out, errs)
		}
		if strings.Contains(out, "\x1b[") {
			t.Fatal("colour on a non-terminal")
		}
		code, out, _ = atlasCLI(t, "atlas", "show", "--db", db, "blocks.1.mlp.hook_post:3", "--color", "always")
		if code != 0 || !strings.Contains(out, "\x1b[48;5;") {
			t.Fatalf("no colour with --color always: %q", out)
		}
		code, out, _ = atlasCLI(t, "atlas", "show", "blocks.1.mlp.hook_post:3", "--db", db, "--json")
		var r atlas.UnitReport
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil || len(r.Top) != 4 || r.Unit != 3 || len(r.Top[0].Text) != len(r.Top[0].Tokens) {
			t.Fatalf("show --json: %d %q", code, out)
		}
	})
	t.Run("show errors", func(t *testing.T) {
		code, _, errs := atlasCLI(t, "atlas", "show", "--db", db, "blocks.1.mlp.hook_post:12")
		if code != 1 || !strings.Contains(errs, "units 0..11; 12 does not exist") {
			t.Fatalf("unknown unit: %d %q", code, errs)
		}
		code, _, errs = atlasCLI(t, "atlas", "show", "--db", filepath.Join(dir, "none.db"), "x:1")
		if code != 1 || !strings.Contains(errs, "no such file") {
			t.Fatalf("missing db: %d %q", code, errs)
		}
	})
	t.Run("export", func(t *testing.T) {
		code, out, errs := atlasCLI(t, "atlas", "export", "--db", db, "--format", "jsonl")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != 24 {
			t.Fatalf("export jsonl: %d, %d lines, %q", code, len(lines), errs)
		}
		var r atlas.UnitReport
		if err := json.Unmarshal([]byte(lines[13]), &r); err != nil || r.Hook != "blocks.1.mlp.hook_post" || r.Unit != 1 {
			t.Fatalf("jsonl line: %v %+v", err, r)
		}
		code, out, _ = atlasCLI(t, "atlas", "export", "--db", db, "--format", "csv")
		if code != 0 || len(strings.Split(strings.TrimSpace(out), "\n")) != 25 {
			t.Fatalf("export csv: %d %q", code, out)
		}
	})
	t.Run("merge", func(t *testing.T) {
		da, dbb, dm := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db"), filepath.Join(dir, "m.db")
		for _, c := range [][]string{{a, da}, {b, dbb}} {
			if code, _, errs := atlasCLI(t, append([]string{"atlas", "build", "--corpus", c[0], "--out", c[1]}, flags...)...); code != 0 {
				t.Fatal(errs)
			}
		}
		code, out, errs := atlasCLI(t, "atlas", "merge", da, dbb, "--out", dm)
		if code != 0 || !strings.Contains(out, "2 corpus paths") {
			t.Fatalf("merge: %d %q %q", code, out, errs)
		}
		_, x, _ := atlasCLI(t, "atlas", "show", "--db", db, "blocks.0.mlp.hook_post:7", "--json")
		_, y, _ := atlasCLI(t, "atlas", "show", "--db", dm, "blocks.0.mlp.hook_post:7", "--json")
		var rx, ry atlas.UnitReport
		json.Unmarshal([]byte(x), &rx)
		json.Unmarshal([]byte(y), &ry)
		jx, _ := json.Marshal(rx.Top)
		jy, _ := json.Marshal(ry.Top)
		if string(jx) != string(jy) || rx.Count != ry.Count {
			t.Fatalf("merged top examples differ:\n%s\n%s", jx, jy)
		}
	})
	t.Run("build errors", func(t *testing.T) {
		code, _, errs := atlasCLI(t, "atlas", "build", "--corpus", a, "--out", db)
		if code != 1 || !strings.Contains(errs, "a complete atlas of another build (different settings: ctx is 32 in the stored build, 128 in the requested one") || !strings.Contains(errs, "pass --force to rebuild it") {
			t.Fatalf("existing output: %d %q", code, errs)
		}
		code, out, _ := atlasCLI(t, append([]string{"atlas", "build", "--corpus", a, b, "--out", db, "--resume"}, flags...)...)
		if code != 0 || !strings.Contains(out, "already complete") {
			t.Fatalf("resume of complete build: %d %q", code, out)
		}
		code, _, errs = atlasCLI(t, "atlas", "build", "--model", "missing", "--corpus", a, "--out", filepath.Join(dir, "x.db"))
		if code != 1 || !strings.Contains(errs, `no model "missing"`) {
			t.Fatalf("missing model: %d %q", code, errs)
		}
		code, _, _ = atlasCLI(t, "atlas", "nope")
		if code != 2 {
			t.Fatalf("unknown subcommand: %d", code)
		}
	})
}

// TestAtlasDefaultBuild is glia's main job on a fresh machine: `glia atlas
// build` with no arguments, the embedded model over the embedded corpus.
func TestAtlasDefaultBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the embedded model")
	}
	t.Chdir(t.TempDir())
	start := time.Now()
	code, out, errs := atlasCLI(t, "atlas", "build")
	if code != 0 {
		t.Fatalf("glia atlas build: %d %q %q", code, out, errs)
	}
	if el := time.Since(start); el > 2*time.Minute {
		t.Fatalf("default build took %s, more than 2 minutes", el)
	}
	if !strings.Contains(out, "wrote atlas.db: 860 units") {
		t.Fatalf("output %q", out)
	}
	// Run twice, the main job says it is done (issue 13, item 4).
	if code, out, errs := atlasCLI(t, "atlas", "build"); code != 0 || !strings.Contains(out, "atlas.db is already complete") {
		t.Fatalf("second glia atlas build: %d %q %q", code, out, errs)
	}
	code, out, errs = atlasCLI(t, "atlas", "show", "blocks.4.mlp.hook_post:0")
	if code != 0 || !strings.Contains(out, "Top activations") {
		t.Fatalf("show: %d %q %q", code, out, errs)
	}
}

// TestAtlasBuildDType: --dtype reaches the model, is recorded in the
// atlas's model name, and a float32 atlas refuses to resume in bf16.
func TestAtlasBuildDType(t *testing.T) {
	out := filepath.Join(t.TempDir(), "a.db")
	code, stdout, stderr := atlasCLI(t, "atlas", "build", "--out", out, "--max-tokens", "256", "--json")
	if code != 0 {
		t.Fatalf("f32 build: %d %s", code, stderr)
	}
	code, stdout, stderr = atlasCLI(t, "atlas", "build", "--out", out, "--resume", "--dtype", "bf16", "--max-tokens", "512", "--json")
	if code == 0 || !strings.Contains(stderr, "another model") {
		t.Fatalf("bf16 resume of an f32 atlas: code %d\n%s%s", code, stdout, stderr)
	}
	out = filepath.Join(t.TempDir(), "b.db")
	code, stdout, stderr = atlasCLI(t, "atlas", "build", "--out", out, "--dtype", "bf16", "--max-tokens", "256", "--json")
	if code != 0 {
		t.Fatalf("bf16 build: %d %s", code, stderr)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || !strings.HasSuffix(fmt.Sprint(sum["model"]), " bf16") {
		t.Fatalf("summary %q (%v): model should carry bf16", stdout, err)
	}
}

// TestAtlasBuildProgress (issue 13, items 1 and 2): one large file shows
// progress by bytes against the file's real size, and a spinner while it
// is tokenized; a resumed run's rate counts only its own work.
func TestAtlasBuildProgress(t *testing.T) {
	fakeAtlasModel(t)
	old := newBuildBar
	newBuildBar = progress.NewForced
	t.Cleanup(func() { newBuildBar = old })
	dir := t.TempDir()
	big := filepath.Join(dir, "big.txt")
	text := strings.Repeat("the cat sat on the mat. ", corpus.TokenizeNoteBytes/24+1)
	os.WriteFile(big, []byte(text), 0o644)
	code, out, errs := atlasCLI(t, "atlas", "build", "--corpus", big, "--out", filepath.Join(dir, "a.db"), "--ctx", "256", "--batch", "64", "--top-k", "2")
	if code != 0 {
		t.Fatalf("build: %d %q %q", code, out, errs)
	}
	size := progress.Human(int64(len(text)))
	for _, want := range []string{"tokenizing big.txt (" + size + " bytes)", "/" + size + " bytes", size + "/" + size + " bytes 100%"} {
		if !strings.Contains(errs, want) {
			t.Errorf("progress lacks %q:\n%s", want, errs)
		}
	}
	if strings.Contains(errs, "tokens 50%") {
		t.Errorf("a guessed total: %q", errs)
	}

	var buf bytes.Buffer
	bar := progress.NewForced(&buf, 0, "bytes")
	showBuildProgress(bar, atlas.Progress{Tokens: 490_500, StartTokens: 490_500, Bytes: 4_200_000, StartBytes: 4_200_000, TotalBytes: 12_000_000})
	bar.Done()
	if want := "4.20M/12.00M bytes  35%  490.5k tokens  0 tokens/s"; !strings.Contains(buf.String(), want) {
		t.Fatalf("resumed, nothing done yet: %q, want %q (no rate from earlier work)", buf.String(), want)
	}
}

// TestAtlasBuildRecovers (issue 13, items 3-5): inputs are checked before a
// database is made, a database without work does not block the next build,
// a second build of a complete atlas succeeds, --force rebuilds it, and a
// model without a tokenizer says so.
func TestAtlasBuildRecovers(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (int, string, string) {
		return atlasCLI(t, append([]string{"atlas", "build", "--max-tokens", "256"}, args...)...)
	}
	bin := filepath.Join(dir, "bin.txt")
	os.WriteFile(bin, []byte("Once upon a time\n\xe9t\xe9"), 0o644)
	db := filepath.Join(dir, "a.db")
	code, _, errs := run("--corpus", bin, "--out", db)
	if _, err := os.Stat(db); code != 1 || err == nil || !strings.Contains(errs, bin+": invalid UTF-8 at byte offset 17 (line 2)") {
		t.Fatalf("invalid UTF-8: %d %q; database made: %v", code, errs, err == nil)
	}
	code, _, errs = run("--model", filepath.Join("..", "..", "testdata", "hf-tiny", "llama"), "--out", db)
	if _, err := os.Stat(db); code != 1 || err == nil || !strings.Contains(errs, "has no tokenizer") {
		t.Fatalf("model without a tokenizer: %d %q; database made: %v", code, errs, err == nil)
	}
	// A kill while the file was made leaves a database without tables.
	if sdb, err := sql.Open("sqlite", db); err != nil {
		t.Fatal(err)
	} else if _, err := sdb.Exec("PRAGMA journal_mode=WAL"); err != nil {
		t.Fatal(err)
	} else {
		sdb.Close()
	}
	if code, out, errs := run("--out", db); code != 0 || !strings.Contains(errs, "replacing "+db) || !strings.Contains(out, "wrote "+db) {
		t.Fatalf("over a database without work: %d %q %q", code, out, errs)
	}
	if code, out, errs := run("--out", db); code != 0 || !strings.Contains(out, db+" is already complete (256 tokens") {
		t.Fatalf("second build: %d %q %q", code, out, errs)
	}
	if code, out, errs := run("--out", db, "--top-k", "3"); code != 1 || !strings.Contains(errs, "top_k is 20 in the stored build, 3 in the requested one); pass --force") {
		t.Fatalf("other settings: %d %q %q", code, out, errs)
	}
	if code, out, errs := run("--out", db, "--top-k", "3", "--force"); code != 0 || !strings.Contains(out, "wrote "+db) {
		t.Fatalf("--force: %d %q %q", code, out, errs)
	}
	if code, _, errs := run("--out", db, "--ctx", "9999"); code != 1 || !strings.Contains(errs, "--ctx: atlas: window length 9999 is outside 1..512") {
		t.Fatalf("--ctx: %d %q", code, errs)
	}
}

// TestAtlasAttentionHooks (issue 13, item 6): hook_z records a unit per head
// and index, numbered head*d_head+i; hook_pattern is refused before a
// database is made.
func TestAtlasAttentionHooks(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "z.db")
	code, out, errs := atlasCLI(t, "atlas", "build", "--hooks", "blocks.0.attn.hook_z", "--max-tokens", "512", "--out", db)
	if code != 0 || !strings.Contains(out, "wrote "+db+": 64 units") {
		t.Fatalf("hook_z: %d %q %q", code, out, errs)
	}
	code, out, errs = atlasCLI(t, "atlas", "show", "--db", db, "blocks.0.attn.hook_z:25")
	if code != 0 || !strings.Contains(out, "blocks.0.attn.hook_z:25  (head 3, index 1 of 8)") {
		t.Fatalf("show: %d %q %q", code, out, errs)
	}
	p := filepath.Join(dir, "p.db")
	code, _, errs = atlasCLI(t, "atlas", "build", "--hooks", "blocks.0.attn.hook_pattern", "--out", p)
	if _, err := os.Stat(p); code != 1 || err == nil || !strings.Contains(errs, "hook blocks.0.attn.hook_pattern is [batch, 8, pos, pos]") {
		t.Fatalf("hook_pattern: %d %q; database made: %v", code, errs, err == nil)
	}
}

// TestAtlasMergeTwice (issue 13, item 7).
func TestAtlasMergeTwice(t *testing.T) {
	fakeAtlasModel(t)
	dir := t.TempDir()
	a := filepath.Join(dir, "a.db")
	if code, _, errs := atlasCLI(t, "atlas", "build", "--corpus", writeStories(t, filepath.Join(dir, "s"), 3), "--out", a, "--ctx", "32"); code != 0 {
		t.Fatal(errs)
	}
	code, _, errs := atlasCLI(t, "atlas", "merge", a, a, "--out", filepath.Join(dir, "m.db"))
	if code != 1 || !strings.Contains(errs, a+" and "+a+" are the same file") {
		t.Fatalf("merge a a: %d %q", code, errs)
	}
}
