package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	defaultcorpus "github.com/glia-dev/glia/assets/corpus"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/internal/progress"
)

// atlasModelOpener is swapped by tests for a fake model.
var atlasModelOpener = openAtlasModel

// newBuildBar is swapped by tests for a bar that draws on a buffer.
var newBuildBar = progress.New

func init() {
	Register(&Command{Name: "atlas", Summary: "neuron atlas: build, merge, show, export (glia atlas -h)", Run: atlasUsage})
	Register(&Command{Name: "atlas build", Summary: "build a neuron atlas (what makes each unit fire) into SQLite", Args: "[CORPUS...]", Run: atlasBuild})
	Register(&Command{Name: "atlas merge", Summary: "merge atlases built over corpus shards or slices", Args: "A.db B.db [C.db...]", Run: atlasMerge})
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
                   [--top-k 20] [--max-tokens N] [--batch B] [--resume | --force]
                   [--shard I/N | --shards N]
  glia atlas build --model M --images DIR|FILE|IDX[:N] [--hooks PATTERN] [--top-k 15] [--out img.db] [--resume | --force]
  glia atlas merge A.db B.db [C.db...] --out OUT.db   (also: all slices of one build, any order)
  glia atlas upgrade OLD.db --out NEW.db
  glia atlas show --db atlas.db HOOK:UNIT [--json]
  glia atlas export --db atlas.db --format jsonl|csv|parquet [--out FILE]

With no arguments, glia atlas build builds the atlas of the embedded model
over the embedded story corpus into ./atlas.db. See docs/atlas.md.`)
	if w == Stderr {
		return errUsage
	}
	return nil
}

// atlasBuildFlags names the flag of each atlas.BuildOptions field that an
// atlas error may name (atlas.OptionError.Option).
var atlasBuildFlags = map[string]string{"Ctx": "--ctx", "TopK": "--top-k", "Radius": "--window", "RandomK": "--random-k",
	"Bands": "--bands", "BandK": "--band-k", "Batch": "--batch"}

func atlasBuild(args []string) error {
	if wantsImages(args) {
		return atlasBuildImages(args)
	}
	fs := newFlags("atlas build")
	var mf modelFlags
	mf.register(fs)
	opt := atlas.DefaultBuildOptions()
	var paths stringList
	fs.Var(&paths, "corpus", "corpus path: a text file, a directory of them, or .jsonl; .gz works (repeatable; more paths may follow as arguments; default: the embedded stories)")
	out := fs.String("out", "atlas.db", "output SQLite database")
	fs.StringVar(&opt.Hooks, "hooks", opt.Hooks, "hook pattern (glob) whose units to record; attention's hook_q/k/v/z record a unit per head and index (head*d_head+i)")
	fs.IntVar(&opt.Ctx, "ctx", opt.Ctx, "window length in tokens")
	fs.IntVar(&opt.TopK, "top-k", opt.TopK, "top activating examples kept per unit")
	fs.IntVar(&opt.Radius, "window", opt.Radius, "tokens kept on each side of an example's token")
	fs.Var((*float32Flag)(&opt.Threshold), "threshold", "activation density is also counted above this value")
	fs.IntVar(&opt.RandomK, "random-k", opt.RandomK, "random examples kept per unit")
	fs.IntVar(&opt.Bands, "bands", opt.Bands, "activation bands (octaves below the unit's max) sampled per unit")
	fs.IntVar(&opt.BandK, "band-k", opt.BandK, "examples sampled per band")
	fs.Int64Var(&opt.MaxTokens, "max-tokens", opt.MaxTokens, "stop after this many tokens (0: the whole corpus)")
	fs.IntVar(&opt.Batch, "batch", opt.Batch, "windows per forward pass")
	fs.BoolVar(&opt.Resume, "resume", false, "continue an unfinished build of --out")
	fs.BoolVar(&opt.Force, "force", false, "replace the atlas in --out, complete or not, with a new build")
	fs.StringVar(&opt.CorpusOptions.TextField, "text-field", opt.CorpusOptions.TextField, "JSON field holding the text in .jsonl files")
	fs.StringVar(&opt.CorpusOptions.DocSep, "doc-sep", opt.CorpusOptions.DocSep, `split plain text files into documents at this string (e.g. "<|endoftext|>"); default: one document per file`)
	fs.DurationVar(&opt.CheckpointEvery, "checkpoint-every", opt.CheckpointEvery, "checkpoint interval")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	var slice sliceFlags
	slice.register(fs)
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	var from string
	if opt.Slice, from, err = slice.resolve(os.Getenv); err != nil {
		return err
	}
	if from != "" && !opt.Slice.Whole() {
		fmt.Fprintf(Stderr, "glia atlas build: building slice %s of the corpus (from %s)\n", opt.Slice, from)
	}
	if opt.Resume && opt.Force {
		fmt.Fprintln(Stderr, "glia atlas build: give --resume (continue the build in --out) or --force (replace it), not both")
		return errUsage
	}
	paths = append(paths, rest...)
	if len(paths) == 0 {
		if mf.model != "" {
			fmt.Fprintln(Stderr, "glia atlas build: note: no --corpus given; using the embedded story corpus, which suits the embedded model")
		}
		sh, err := corpus.FSShard(defaultcorpus.FS(), defaultcorpus.Name)
		if err != nil {
			return err
		}
		opt.Shards = []corpus.Shard{sh}
		if opt.CorpusOptions.DocSep == "" {
			opt.CorpusOptions.DocSep = defaultcorpus.DocSep
		}
	} else if opt.Shards, err = corpus.Resolve(paths); err != nil {
		return err
	}
	m, err := atlasModelOpener(&mf)
	if err != nil {
		return err
	}
	if eng, ok := m.(interface{ Engine() *engine.Model }); ok {
		if eng.Engine().Tokenizer == nil {
			return fmt.Errorf("%s has no tokenizer (no tokenizer.json or tokenizer.model beside its weights), so it cannot read a text corpus; give a model with one", eng.Engine().Name)
		}
	}
	var bar *progress.Bar
	if !*asJSON {
		unit := "bytes"
		if opt.MaxTokens > 0 {
			unit = "tokens"
		}
		var total int64 = opt.MaxTokens
		if total == 0 {
			for _, sh := range opt.Shards {
				total += sh.TextBytes()
			}
		}
		bar = newBuildBar(Stderr, total, unit)
	}
	opt.Out, opt.Log = *out, logWriter{bar}
	opt.OnProgress = func(p atlas.Progress) { showBuildProgress(bar, p) }
	opt.OnTokenize = func(file string, n int, done bool) {
		if done {
			bar.Status("")
		} else {
			bar.Status(fmt.Sprintf("tokenizing %s (%s bytes)", filepath.Base(file), progress.Human(int64(n))))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := atlas.Build(ctx, m, opt)
	bar.Done()
	if err != nil {
		return atlasBuildHint(err)
	}
	if *asJSON {
		return json.NewEncoder(Stdout).Encode(map[string]any{
			"out": *out, "model": m.Name(), "units": res.Units, "tokens": res.Tokens, "windows": res.Windows,
			"resumed": res.Resumed, "already_complete": res.AlreadyComplete, "replaced": res.Replaced, "seconds": res.Elapsed.Seconds(),
			"forward_seconds": res.ForwardTime.Seconds(), "update_seconds": res.UpdateTime.Seconds(),
			"checkpoint_seconds": res.CheckpointTime.Seconds()})
	}
	if res.AlreadyComplete {
		fmt.Fprintf(Stdout, "%s is already complete (%d tokens, the same model, corpus and settings); nothing to do (--force rebuilds it)\n", *out, res.Tokens)
		printNextSteps(*out)
		return nil
	}
	s := res.Elapsed.Seconds()
	fmt.Fprintf(Stdout, "wrote %s: %d units of %s over %d tokens in %s (%s tokens/s; forward %.1fs, update %.1fs, checkpoints %.1fs)\n",
		*out, res.Units, m.Name(), res.Tokens, progress.Duration(res.Elapsed), progress.Human(int64(float64(res.Tokens)/max(s, 1e-9))),
		res.ForwardTime.Seconds(), res.UpdateTime.Seconds(), res.CheckpointTime.Seconds())
	printNextSteps(*out)
	return nil
}

// showBuildProgress draws a build's progress: corpus bytes against their
// real total (tokens against --max-tokens when that is given), the tokens,
// and rate and ETA of this run's work only.
func showBuildProgress(bar *progress.Bar, p atlas.Progress) {
	if p.MaxTokens > 0 {
		bar.SetBase(p.StartTokens)
		bar.SetTotal(p.MaxTokens)
		bar.SetCount(progress.Count{})
		bar.Set(p.Tokens, 0)
		return
	}
	bar.SetBase(p.StartBytes)
	bar.SetTotal(p.TotalBytes)
	bar.SetCount(progress.Count{N: p.Tokens, Base: p.StartTokens, Unit: "tokens"})
	bar.Set(p.Bytes, 0)
}

// atlasBuildHint adds to an atlas error the flags that resolve it.
func atlasBuildHint(err error) error {
	var oe *atlas.OptionError
	var ee *atlas.ExistsError
	var ie *atlas.InterruptedError
	var se *atlas.SettingsError
	switch {
	case errors.As(err, &oe) && atlasBuildFlags[oe.Option] != "":
		return fmt.Errorf("%s: %w", atlasBuildFlags[oe.Option], err)
	case errors.As(err, &ee) && ee.NotAtlas != nil:
		return fmt.Errorf("%w; choose another --out", err)
	case errors.As(err, &ee) && ee.Complete:
		return fmt.Errorf("%w; pass --force to rebuild it, or choose another --out", err)
	case errors.As(err, &ee) && ee.Differs != nil:
		return fmt.Errorf("%w; pass --force to start over with these settings, or --resume with the ones it was started with", err)
	case errors.As(err, &ee):
		return fmt.Errorf("%w; pass --resume to continue it, or --force to start over", err)
	case errors.As(err, &ie) && ie.Tokens > 0:
		return fmt.Errorf("%w; run the same command with --resume to continue", err)
	case errors.As(err, &se):
		return fmt.Errorf("%w; pass --force to start over with these settings", err)
	}
	return schemaHint(err)
}

// float32Flag is a float32 flag.
type float32Flag float32

func (f *float32Flag) String() string { return strconv.FormatFloat(float64(*f), 'g', -1, 32) }
func (f *float32Flag) Set(v string) error {
	x, err := strconv.ParseFloat(v, 32)
	if err != nil {
		return errors.New("not a number")
	}
	*f = float32Flag(x)
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
	if err := refuseImageMerge(inputs); err != nil {
		return err
	}
	if err := atlas.Merge(*out, inputs...); err != nil {
		return schemaHint(err)
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
	img, err := a.ImageInfo()
	if err != nil {
		return err
	}
	useColor := *color == "always" || (*color == "auto" && progress.IsTerminal(Stdout) && os.Getenv("NO_COLOR") == "")
	for i, u := range units {
		hook, idx, err := atlas.ParseUnit(u)
		if err != nil {
			return err
		}
		if img != nil {
			if err := showImageUnit(a, hook, idx, i > 0, *asJSON, *top); err != nil {
				return err
			}
			continue
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
	err = exportAtlas(a, w, strings.ToLower(*format))
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
