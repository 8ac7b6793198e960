package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	defaultcorpus "github.com/glia-dev/glia/assets/corpus"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/internal/progress"
)

// atlasModelOpener is swapped by tests for a fake model.
var atlasModelOpener = openAtlasModel

func init() {
	Register(&Command{Name: "atlas", Summary: "neuron atlas: build, merge, show, export (glia atlas -h)", Run: atlasUsage})
	Register(&Command{Name: "atlas build", Summary: "build a neuron atlas (what makes each unit fire) into SQLite", Args: "[CORPUS...]", Run: atlasBuild})
	Register(&Command{Name: "atlas merge", Summary: "merge atlases built over corpus shards", Args: "A.db B.db [C.db...]", Run: atlasMerge})
	Register(&Command{Name: "atlas show", Summary: "show one unit of an atlas: statistics and examples", Args: "HOOK:UNIT...", Run: atlasShow})
	Register(&Command{Name: "atlas export", Summary: "export an atlas as jsonl, csv or parquet", Run: atlasExport})
}

func atlasUsage(args []string) error {
	w := Stdout
	if len(args) > 0 && args[0] != "-h" && args[0] != "--help" && args[0] != "help" {
		w = Stderr
		fmt.Fprintf(w, "glia atlas: unknown subcommand %q\n\n", args[0])
	}
	fmt.Fprintln(w, `Usage:
  glia atlas build [--model M] [--corpus PATH [PATH...]] [--out atlas.db] [--hooks PATTERN] [--ctx 128]
                   [--top-k 20] [--max-tokens N] [--batch B] [--resume]
  glia atlas merge A.db B.db [C.db...] --out OUT.db
  glia atlas show --db atlas.db HOOK:UNIT [--json]
  glia atlas export --db atlas.db --format jsonl|csv|parquet [--out FILE]

With no arguments, glia atlas build builds the atlas of the embedded model
over the embedded story corpus into ./atlas.db. See docs/atlas.md.`)
	if w == Stderr {
		return errUsage
	}
	return nil
}

func atlasBuild(args []string) error {
	fs := newFlags("atlas build")
	var mf modelFlags
	mf.register(fs)
	var paths stringList
	fs.Var(&paths, "corpus", "corpus path: a text file, a directory of them, or .jsonl; .gz works (repeatable; more paths may follow as arguments; default: the embedded stories)")
	out := fs.String("out", "atlas.db", "output SQLite database")
	hooks := fs.String("hooks", atlas.DefaultHooks, "hook pattern (glob) whose units to record")
	ctxLen := fs.Int("ctx", 128, "window length in tokens")
	topK := fs.Int("top-k", 20, "top activating examples kept per unit")
	radius := fs.Int("window", 15, "tokens kept on each side of an example's token")
	threshold := fs.Float64("threshold", 0.5, "activation density is also counted above this value")
	randomK := fs.Int("random-k", 8, "random examples kept per unit")
	bands := fs.Int("bands", 6, "activation bands (octaves below the unit's max) sampled per unit")
	bandK := fs.Int("band-k", 3, "examples sampled per band")
	maxTokens := fs.Int64("max-tokens", 0, "stop after this many tokens (0: the whole corpus)")
	batch := fs.Int("batch", 8, "windows per forward pass")
	resume := fs.Bool("resume", false, "continue an interrupted build of --out")
	textField := fs.String("text-field", "text", "JSON field holding the text in .jsonl files")
	docSep := fs.String("doc-sep", "", `split plain text files into documents at this string (e.g. "<|endoftext|>"); default: one document per file`)
	ckEvery := fs.Duration("checkpoint-every", 15*time.Second, "checkpoint interval")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	paths = append(paths, rest...)
	copt := corpus.Options{TextField: *textField, DocSep: *docSep}
	if *textField == "text" {
		copt.TextField = ""
	}
	var shards []corpus.Shard
	if len(paths) == 0 {
		if mf.model != "" {
			fmt.Fprintln(Stderr, "glia atlas build: note: no --corpus given; using the embedded story corpus, which suits the embedded model")
		}
		sh, err := corpus.FSShard(defaultcorpus.FS(), defaultcorpus.Name)
		if err != nil {
			return err
		}
		shards = []corpus.Shard{sh}
		if copt.DocSep == "" {
			copt.DocSep = defaultcorpus.DocSep
		}
	} else {
		if shards, err = corpus.Resolve(paths); err != nil {
			return err
		}
	}
	m, err := atlasModelOpener(&mf)
	if err != nil {
		return err
	}
	var bar *progress.Bar
	if !*asJSON {
		bar = progress.New(Stderr, 0, "tokens")
	}
	opt := atlas.BuildOptions{Out: *out, Shards: shards, CorpusOptions: copt, Hooks: *hooks, Ctx: *ctxLen,
		TopK: *topK, Radius: *radius, Threshold: float32(*threshold), ThresholdSet: true, RandomK: *randomK,
		Bands: *bands, BandK: *bandK, Batch: *batch, MaxTokens: *maxTokens, Resume: *resume,
		CheckpointEvery: *ckEvery, Log: logWriter{bar},
		OnProgress: func(done, total int64) { bar.SetTotal(total); bar.Set(done, 0) }}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := atlas.Build(ctx, m, opt)
	bar.Done()
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(Stdout).Encode(map[string]any{
			"out": *out, "model": m.Name(), "units": res.Units, "tokens": res.Tokens, "windows": res.Windows,
			"resumed": res.Resumed, "already_complete": res.AlreadyComplete, "seconds": res.Elapsed.Seconds(),
			"forward_seconds": res.ForwardTime.Seconds(), "update_seconds": res.UpdateTime.Seconds(),
			"checkpoint_seconds": res.CheckpointTime.Seconds()})
	}
	if res.AlreadyComplete {
		fmt.Fprintf(Stdout, "%s is already complete (%d tokens); nothing to do\n", *out, res.Tokens)
		return nil
	}
	s := res.Elapsed.Seconds()
	fmt.Fprintf(Stdout, "wrote %s: %d units of %s over %d tokens in %s (%s tokens/s; forward %.1fs, update %.1fs, checkpoints %.1fs)\n",
		*out, res.Units, m.Name(), res.Tokens, progress.Duration(res.Elapsed), progress.Human(int64(float64(res.Tokens)/max(s, 1e-9))),
		res.ForwardTime.Seconds(), res.UpdateTime.Seconds(), res.CheckpointTime.Seconds())
	printNextSteps(*out)
	return nil
}

// printNextSteps suggests what to look at, starting with the unit that
// fired hardest.
func printNextSteps(db string) {
	a, err := atlas.Open(db)
	if err != nil {
		return
	}
	defer a.Close()
	var hook string
	var unit int
	if err := a.DB().QueryRow(`SELECT hook, unit FROM units ORDER BY max DESC LIMIT 1`).Scan(&hook, &unit); err != nil {
		return
	}
	fmt.Fprintf(Stdout, "next: glia atlas show --db %s %s:%d   (the unit that fired hardest)\n", db, hook, unit)
	fmt.Fprintf(Stdout, "      glia explain --db %s --all   (labels, logit lens, facets)\n", db)
	fmt.Fprintf(Stdout, "      glia serve --db %s   (web UI on http://127.0.0.1:8765)\n", db)
}

// logWriter prints notices above the progress bar.
type logWriter struct{ bar *progress.Bar }

func (l logWriter) Write(p []byte) (int, error) {
	l.bar.Clear()
	return Stderr.Write(p)
}

func atlasMerge(args []string) error {
	fs := newFlags("atlas merge")
	out := fs.String("out", "", "output database (must not exist)")
	inputs, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *out == "" || len(inputs) < 2 {
		fmt.Fprintln(Stderr, "usage: glia atlas merge A.db B.db [C.db...] --out OUT.db")
		return errUsage
	}
	if err := atlas.Merge(*out, inputs...); err != nil {
		return err
	}
	a, err := atlas.Open(*out)
	if err != nil {
		return err
	}
	defer a.Close()
	fmt.Fprintf(Stdout, "wrote %s: %d corpus paths, %d tokens\n", *out, len(a.Meta.Corpus), a.Meta.Tokens)
	return nil
}

func atlasShow(args []string) error {
	fs := newFlags("atlas show")
	dbPath := fs.String("db", "atlas.db", "atlas database")
	asJSON := fs.Bool("json", false, "machine-readable output (everything stored about the unit)")
	top := fs.Int("top", 10, "top examples to show (0: all)")
	color := fs.String("color", "auto", "colour tokens by activation: auto, always or never")
	units, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(units) == 0 {
		fmt.Fprintln(Stderr, "usage: glia atlas show --db atlas.db HOOK:UNIT (e.g. blocks.3.mlp.hook_post:117)")
		return errUsage
	}
	a, err := atlas.Open(*dbPath)
	if err != nil {
		return err
	}
	defer a.Close()
	useColor := *color == "always" || (*color == "auto" && progress.IsTerminal(Stdout) && os.Getenv("NO_COLOR") == "")
	for i, u := range units {
		hook, idx, err := atlas.ParseUnit(u)
		if err != nil {
			return err
		}
		r, err := a.Unit(hook, idx)
		if err != nil {
			return err
		}
		if *asJSON {
			if err := json.NewEncoder(Stdout).Encode(r); err != nil {
				return err
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(Stdout)
		}
		tag := fmt.Sprintf("%s, %s tokens", a.Meta.ModelName, progress.Human(a.Meta.Tokens))
		if a.Meta.Status != atlas.StatusComplete {
			tag += ", build not finished"
		}
		atlas.Render(Stdout, r, atlas.RenderOptions{Color: useColor, MaxTop: *top, MaxBand: 2, MaxRand: 5, ModelTag: tag})
	}
	return nil
}

func atlasExport(args []string) error {
	fs := newFlags("atlas export")
	dbPath := fs.String("db", "atlas.db", "atlas database")
	format := fs.String("format", "jsonl", "jsonl (one unit per line, everything), csv (unit statistics) or parquet")
	out := fs.String("out", "", "output file (default: standard output)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	a, err := atlas.Open(*dbPath)
	if err != nil {
		return err
	}
	defer a.Close()
	var w io.Writer = Stdout
	var f *os.File
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			return err
		}
		w = f
	} else if *format == "parquet" && progress.IsTerminal(Stdout) {
		return errors.New("parquet is binary; give --out FILE")
	}
	err = atlas.Export(a, w, strings.ToLower(*format))
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(*out)
		}
	}
	return err
}
