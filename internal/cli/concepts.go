package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/glia-dev/glia/concepts"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/intervene"
)

func init() {
	Register(&Command{Name: "concepts", Summary: "concept neurons: units specific to one corpus of several (LAPE, LNA, AUROC/AurA, differences, CULNIG), verified by ablation", Run: runConcepts})
}

// conceptFlags are glia concepts' settings.
type conceptFlags struct {
	mf                  modelFlags
	corpora, eval       stringList
	methods, hooks      string
	ctx, maxTok, evalTk int
	docSep, textField   string
	batch, sample, boot int
	params              concepts.Params
	verify              string
	amplify             float64
	generate, genLen    int
	seed                uint64
	csv, jsonOut, pq    string
	plot                string
	show                int
}

func (f *conceptFlags) register() *flag.FlagSet {
	fs := newFlags("concepts")
	f.mf.register(fs)
	fs.Var(&f.corpora, "corpus", "NAME=PATH: one concept's corpus (repeatable, at least 2; text, .jsonl, directories, .gz)")
	fs.Var(&f.eval, "eval", "NAME=PATH: a corpus to verify on (repeatable; default: the --corpus corpora). Give held-out text under the concepts' names")
	fs.StringVar(&f.methods, "method", "all", "methods, comma-separated: lape, lna, auroc, freq-diff, mean-diff, culnig (a backward pass per batch), all")
	fs.StringVar(&f.hooks, "hooks", "blocks.*.mlp.hook_post", "hooks whose units are scored (glob; laid out [batch, pos, units])")
	fs.IntVar(&f.ctx, "ctx", 128, "window length in tokens")
	fs.IntVar(&f.maxTok, "max-tokens", 20000, "tokens per --corpus at most (0 = all)")
	fs.IntVar(&f.evalTk, "eval-max-tokens", 20000, "tokens per verification corpus at most (0 = all)")
	fs.StringVar(&f.docSep, "doc-sep", "", "split plain text files into documents at this string (e.g. '<|endoftext|>')")
	fs.StringVar(&f.textField, "text-field", "text", "JSON Lines field holding the text")
	fs.IntVar(&f.batch, "batch", 8, "windows per forward")
	fs.IntVar(&f.sample, "sample", 1024, "windows kept per corpus for AUROC and the bootstrap (all when fewer; memory: sample × units × 12 bytes)")
	fs.IntVar(&f.boot, "bootstrap", 500, "bootstrap resamples for the differences' 95% intervals")
	fs.Float64Var(&f.params.TopRate, "top-rate", 0.01, "LAPE and LNA: fraction of all units kept")
	fs.Float64Var(&f.params.Bar, "bar", 0.95, "LAPE and LNA: percentile of all activation probabilities a corpus must exceed")
	fs.Float64Var(&f.params.Lambda, "lambda", 0.109375, "LNA's λ")
	fs.Float64Var(&f.params.Rate, "rate", 0.01, "AUROC and the differences: fraction of units kept per concept")
	fs.Float64Var(&f.params.CULNIGRate, "culnig-rate", 0.003, "CULNIG: fraction of units per concept before the z-score filter")
	fs.Float64Var(&f.params.ZScore, "zscore", 0.5, "CULNIG: z-score across concepts a unit needs")
	fs.StringVar(&f.params.Control, "control", "", "CULNIG: NAME of the control corpus subtracted (not a concept)")
	fs.StringVar(&f.verify, "verify", "zero", "deactivate each concept's units and measure the loss on every corpus: zero, aura (AurA's α), none")
	fs.Float64Var(&f.amplify, "amplify", 0, "also multiply each concept's units by this factor and measure (0 = off)")
	fs.IntVar(&f.generate, "generate", 0, "with --amplify: sample this many generations per concept and report which corpus they resemble (unigram likelihood)")
	fs.IntVar(&f.genLen, "gen-len", 48, "tokens per generation")
	fs.Uint64Var(&f.seed, "seed", 0, "seed for the window sample and the bootstrap")
	fs.StringVar(&f.csv, "csv", "", "write the units table as CSV to FILE")
	fs.StringVar(&f.jsonOut, "json", "", "write the full report as JSON to FILE (- for stdout, instead of the text)")
	fs.StringVar(&f.pq, "parquet", "", "write the units table as Parquet to FILE")
	fs.StringVar(&f.plot, "plot", "", "draw each method's verification matrix to FILE.png|.svg (FILE-METHOD.EXT with several methods)")
	fs.IntVar(&f.show, "show", 5, "units listed per concept in the text output")
	return fs
}

// namedPath splits NAME=PATH (a bare path is named after its file).
func namedPath(s string) (name, path string) {
	if n, p, ok := strings.Cut(s, "="); ok {
		return n, p
	}
	base := filepath.Base(s)
	return strings.TrimSuffix(base, filepath.Ext(base)), s
}

func (f *conceptFlags) windows(m *engine.Model, specs []string, maxTok int) ([]concepts.Corpus, error) {
	var out []concepts.Corpus
	for _, s := range specs {
		name, path := namedPath(s)
		w, err := intervene.Windows(m, intervene.Text{Paths: []string{path}, DocSep: f.docSep, TextField: f.textField, Ctx: f.ctx, MaxTokens: maxTok})
		if err != nil {
			return nil, fmt.Errorf("corpus %s: %w", s, err)
		}
		out = append(out, concepts.Corpus{Name: name, Windows: w})
	}
	return out, nil
}

func runConcepts(args []string) error {
	var f conceptFlags
	fs := f.register()
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(f.corpora) < 2 {
		return fmt.Errorf("give at least two --corpus NAME=PATH (one per concept)")
	}
	methods, err := concepts.ParseMethods(f.methods)
	if err != nil {
		return err
	}
	mode := concepts.Mode(f.verify)
	if f.generate > 0 && f.amplify == 0 {
		return fmt.Errorf("--generate needs --amplify FACTOR (the units are amplified while generating)")
	}
	if f.verify != "none" && mode != concepts.ModeZero && mode != concepts.ModeAurA {
		return fmt.Errorf("--verify must be zero, aura or none (got %q)", f.verify)
	}
	f.params.Bootstrap, f.params.Seed = f.boot, f.seed
	m, err := f.mf.load()
	if err != nil {
		return err
	}
	hooks, err := m.MatchHooks(f.hooks)
	if err != nil {
		return err
	}
	find, err := f.windows(m, f.corpora, f.maxTok)
	if err != nil {
		return err
	}
	eval := find
	if len(f.eval) > 0 {
		if eval, err = f.windows(m, f.eval, f.evalTk); err != nil {
			return err
		}
	}
	rep, results, err := concepts.Run(m, find, eval, concepts.RunOptions{Methods: methods, Params: f.params, Verify: concepts.Mode(f.verify),
		Amplify: f.amplify, Batch: f.batch, Collect: concepts.Options{Hooks: hooks, Batch: f.batch, Sample: f.sample, Seed: f.seed},
		Collected: func(s *concepts.Stats) {
			fmt.Fprintf(Stderr, "collected %s: %d windows, %d tokens\n", s.Name, s.Windows, s.Tokens)
		}})
	if err != nil {
		return err
	}
	text := f.jsonOut != "-"
	if text {
		printCorpora(Stdout, rep)
	}
	for i := range rep.Methods {
		mr := &rep.Methods[i]
		if f.plot != "" && len(mr.Verify) > 0 {
			path := f.plot
			if len(methods) > 1 {
				ext := filepath.Ext(path)
				path = strings.TrimSuffix(path, ext) + "-" + string(mr.Method) + ext
			}
			if err := mr.Verify[0].HeatMap().Save(path); err != nil {
				return err
			}
		}
		if f.generate > 0 {
			if mr.Shift, err = concepts.GenerationShift(m, results[i], find, concepts.GenOptions{Factor: f.amplify, Samples: f.generate, Len: f.genLen, Seed: f.seed}); err != nil {
				return err
			}
		}
		if text {
			printMethod(Stdout, *mr, f.show)
		}
	}
	if err := writeConceptFiles(&f, rep, results); err != nil {
		return err
	}
	if f.jsonOut == "-" {
		return concepts.WriteJSON(Stdout, rep)
	}
	return nil
}

func writeConceptFiles(f *conceptFlags, rep *concepts.Report, results []*concepts.Result) error {
	write := func(path string, fn func(io.Writer) error) error {
		if path == "" || path == "-" {
			return nil
		}
		out, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := fn(out); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}
	if err := write(f.csv, func(w io.Writer) error { return concepts.WriteCSV(w, results) }); err != nil {
		return err
	}
	if err := write(f.pq, func(w io.Writer) error { return concepts.WriteParquet(w, results) }); err != nil {
		return err
	}
	return write(f.jsonOut, func(w io.Writer) error { return concepts.WriteJSON(w, rep) })
}

// printCorpora heads the text report.
func printCorpora(w io.Writer, rep *concepts.Report) {
	fmt.Fprintf(w, "model %s\n", rep.Model)
	for _, c := range rep.Corpora {
		fmt.Fprintf(w, "  corpus %-12s %6d windows %8d tokens (%d sampled)\n", c.Name, c.Windows, c.Tokens, c.Sampled)
	}
}

// printMethod is one method's part of the text report, printed as soon as
// it is done: units per concept, layer shares, the verification matrices
// and the generation shift.
func printMethod(w io.Writer, mr concepts.MethodReport, show int) {
	fmt.Fprintf(w, "\n== %s: %d (unit, concept) rows\n", mr.Method, len(mr.Rows))
	var layers []string
	for _, l := range mr.Layers {
		layers = append(layers, l.String())
	}
	fmt.Fprintf(w, "units per layer: %s\n", strings.Join(layers, ", "))
	byConcept := map[string][]concepts.Row{}
	var order []string
	for _, x := range mr.Rows {
		if _, ok := byConcept[x.Concept]; !ok {
			order = append(order, x.Concept)
		}
		byConcept[x.Concept] = append(byConcept[x.Concept], x)
	}
	for _, c := range order {
		rows := byConcept[c]
		var names []string
		for _, x := range rows[:min(show, len(rows))] {
			names = append(names, fmt.Sprintf("%s (%.3g)", x.Name, x.Score))
		}
		more := ""
		if len(rows) > show {
			more = fmt.Sprintf(" … +%d", len(rows)-show)
		}
		fmt.Fprintf(w, "  %-12s %3d units: %s%s\n", c, len(rows), strings.Join(names, ", "), more)
	}
	for _, mx := range mr.Verify {
		printMatrix(w, mx)
	}
	if g := mr.Shift; g != nil {
		fmt.Fprintf(w, "generations with each concept's units ×%g: share most like each corpus (unigram likelihood)\n  %-12s", g.Factor, "")
		for _, c := range g.Corpora {
			fmt.Fprintf(w, " %10s", c)
		}
		fmt.Fprintln(w)
		for i, c := range g.Concepts {
			fmt.Fprintf(w, "  %-12s", c)
			for _, v := range g.Share[i] {
				fmt.Fprintf(w, " %10.2f", v)
			}
			fmt.Fprintln(w)
		}
	}
	if mr.OwnColumn != nil {
		fmt.Fprintf(w, "own units raise own loss most: %.1f%% of concepts (against other concepts' units), %.1f%% (against other corpora)\n", 100**mr.OwnColumn, 100**mr.OwnRow)
	}
}

func printMatrix(w io.Writer, mx *concepts.Matrix) {
	what := string(mx.Mode)
	if mx.Mode == concepts.ModeScale {
		what = fmt.Sprintf("×%g", mx.Factor)
	}
	fmt.Fprintf(w, "loss change with each concept's units %s (rows) on each corpus (columns), ± standard error over positions:\n", what)
	if len(mx.Corpora) > 12 {
		fmt.Fprintf(w, "  (%d × %d: see --json or --plot; diagonal below)\n", len(mx.Concepts), len(mx.Corpora))
		for i, c := range mx.Concepts {
			for j, k := range mx.Corpora {
				if k == c {
					x := mx.Cells[i][j]
					fmt.Fprintf(w, "  %-12s %4d units  own Δ %+.4f ± %s\n", c, x.Units, x.Delta, stdErr(x.StdErr))
				}
			}
		}
		return
	}
	fmt.Fprintf(w, "  %-12s %5s", "", "units")
	for _, c := range mx.Corpora {
		fmt.Fprintf(w, " %18s", c)
	}
	fmt.Fprintln(w)
	if len(mx.Cells) > 0 {
		fmt.Fprintf(w, "  %-12s %5s", "(loss before)", "")
		for _, x := range mx.Cells[0] {
			fmt.Fprintf(w, " %18.4f", x.Before)
		}
		fmt.Fprintln(w)
	}
	for i, row := range mx.Cells {
		fmt.Fprintf(w, "  %-12s %5d", mx.Concepts[i], row[0].Units)
		for _, x := range row {
			fmt.Fprintf(w, " %18s", fmt.Sprintf("%+.4f ± %s", x.Delta, stdErr(x.StdErr)))
		}
		fmt.Fprintln(w)
	}
}
