package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/glia-dev/glia/compare"
	"github.com/glia-dev/glia/compare/source"
	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/experiment"
)

func init() {
	Register(&Command{
		Name:    "compare",
		Summary: "compare representations (CKA, RSA): hooks × hooks of models, or against recordings",
		Args:    "A [B]",
		Help: `A and B are each hooks:GLOB (the model's hooks over --prompts, pooled by --pool; B uses
--model2 when given) or a file of stimuli × features: FILE.npy, FILE.csv (first column the
stimulus id) or FILE.safetensors[:TENSOR-GLOB] (ids in the "stimulus_ids" metadata). Without B,
A is compared with itself. Every matrix of A is compared with every matrix of B over the same
stimuli, aligned by id where both sides have ids (a --prompts line "ID<TAB>TEXT" gives one).
Stimuli are --prompts lines or, with --corpus, windows of --window tokens. With --repeats, B's
matrices are repeated measurements of one recording (runs, sessions, subjects): rsa reports
rsatoolbox's noise ceiling, encoding and pls the split-half Spearman–Brown ceiling.
Prints the table and writes it as a heat map (--plot). See docs/compare.md.`,
		Run: runCompare,
	})
}

func runCompare(args []string) error {
	fs := newFlags("compare")
	var mf modelFlags
	mf.register(fs)
	model2 := fs.String("model2", "", "the model of B's hooks:GLOB (default: --model)")
	prompts := fs.String("prompts", "", "stimuli for hooks:GLOB sources: a text file, one prompt per line (ID<TAB>TEXT lines give ids)")
	var corpusPaths stringList
	fs.Var(&corpusPaths, "corpus", "stimuli for hooks:GLOB sources: windows of --window tokens of this corpus (repeatable; as glia atlas build reads it); ids SHARD#INDEX")
	window := fs.Int("window", 64, "with --corpus: tokens per window")
	maxStimuli := fs.Int("max-stimuli", 1000, "with --corpus: at most this many windows (0: all)")
	batch := fs.Int("batch", 8, "stimuli per forward pass (prompts of several lengths are padded on the right under a mask)")
	repeats := fs.Bool("repeats", false, "B's matrices are repeated measurements of one recording: score against them together, with noise ceilings")
	dataRDM := fs.String("data-rdm", "", "with --repeats and --method rsa: the recording's RDM distance: euclidean, correlation, cosine, mahalanobis or crossnobis (default --rdm)")
	noise := fs.String("noise", "shrinkage-diag", "with --data-rdm mahalanobis or crossnobis: the noise precision from the repetitions' residuals: shrinkage-diag, shrinkage-eye, diag, full or none (identity)")
	poolFlag := fs.String("pool", "last", "one vector per prompt: last, mean (over tokens) or pos:N (negative N counts from the end)")
	method := fs.String("method", "cka", "cka, cka-debiased, cka-rbf, rsa, encoding (mean held-out r of ridge models from A's matrix to B's units) or pls (Brain-Score: median held-out r of 25-component PLS, 10 splits of 90/10)")
	rdm := fs.String("rdm", "correlation", "with --method rsa: the RDM distance: euclidean (squared, per feature, as rsatoolbox), correlation or cosine")
	comp := fs.String("compare", "spearman", "with --method rsa: how RDMs are compared: spearman, rho-a, tau-a, tau-b, pearson, cosine, cosine-whitened or pearson-whitened")
	topo := fs.String("topo", "", `with --method rsa: "LOW,UP" quantiles of a geo-topological transform of each RDM (e.g. 0.1,0.9)`)
	geodesic := fs.Bool("geodesic", false, "with --method rsa: then replace each RDM by its geodesic transform (shortest paths)")
	plotPath := fs.String("plot", "compare.png", `the heat map (.png or .svg); "" for none`)
	asJSON := fs.Bool("json", false, "print the result as JSON instead of a table")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usagef("want one or two sources (A [B]), got %d", len(pos))
	}
	spec := compare.Spec{Method: compare.Method(*method), RDM: compare.Distance(*rdm), Compare: compare.Comparison(*comp), Geodesic: *geodesic}
	if *topo != "" {
		var q [2]float64
		if _, err := fmt.Sscanf(*topo, "%g,%g", &q[0], &q[1]); err != nil {
			return usagef("--topo %q: want LOW,UP quantiles with 0 ≤ LOW < UP ≤ 1", *topo)
		}
		spec.Topo = &q
	}
	if err := spec.Check(); err != nil {
		return settingUsage(err)
	}
	rep := compare.Repeated{RDM: compare.Distance(*dataRDM)}
	if *noise != "none" {
		rep.Noise = compare.NoiseMethod(*noise)
	}
	switch {
	case !*repeats && (*dataRDM != "" || isSet(fs, "noise")):
		return usagef("--data-rdm and --noise apply to --repeats only")
	case *prompts != "" && len(corpusPaths) > 0:
		return usagef("give --prompts or --corpus, not both")
	case *window < 1:
		return usagef("--window %d: want at least 1 token", *window)
	}
	if err := rep.Check(); err != nil {
		return settingUsage(err)
	}
	pool, err := source.ParsePool(*poolFlag)
	if err != nil {
		return usagef("--pool: %v", err)
	}
	if len(pos) == 1 {
		if *repeats {
			return usagef("--repeats needs B, the repeated recording")
		}
		pos = append(pos, pos[0])
	}
	g := &sourceGatherer{mf: mf, model2: *model2, promptsPath: *prompts, corpus: corpusPaths, window: *window,
		maxStimuli: *maxStimuli, batch: *batch, pool: pool}
	a, err := g.open(pos[0], false)
	if err != nil {
		return err
	}
	b, err := g.open(pos[1], true)
	if err != nil {
		return err
	}
	xa, xb, err := source.AlignAll(a, b)
	if err != nil {
		return err
	}
	out := compareOutput{spec: spec, pos: pos, rows: source.Names(a), cols: source.Names(b), g: g, plot: *plotPath, asJSON: *asJSON}
	out.n, _ = xa[0].Dims()
	if *repeats {
		rep.Reps = xb
		r, err := rep.Score(xa, spec)
		if err != nil {
			return source.NameCell(err, a, b)
		}
		out.cols = []string{fmt.Sprintf("%s (%d repetitions)", pos[1], len(xb))}
		out.repeated = r
		for _, v := range r.Scores {
			out.values = append(out.values, []float64{v})
		}
		return out.write()
	}
	if out.values, err = compare.Grid(xa, xb, spec); err != nil {
		return source.NameCell(err, a, b)
	}
	return out.write()
}

// settingUsage is a compare.SettingError as a usage error naming the flag.
func settingUsage(err error) error {
	var se *compare.SettingError
	if errors.As(err, &se) {
		flag := strings.ReplaceAll(se.Setting, "_", "-")
		if se.Setting == "topo" && !strings.Contains(se.Want, "quantiles") {
			return usagef("--topo and --geodesic apply to --method rsa only")
		}
		return usagef("--%s %q: %s", flag, se.Value, se.Want)
	}
	return err
}

// compareOutput is a comparison's result and how to show it.
type compareOutput struct {
	spec       compare.Spec
	pos        []string
	rows, cols []string
	values     [][]float64
	n          int
	repeated   *compare.RepeatedScore
	g          *sourceGatherer
	plot       string
	asJSON     bool
}

func (o *compareOutput) write() error {
	grid := experiment.Grid{
		Title: fmt.Sprintf("%s over %d stimuli", o.spec, o.n), RowTitle: o.pos[0], ColTitle: o.pos[1],
		Value: string(o.spec.Method), Rows: o.rows, Cols: o.cols, Values: o.values,
	}
	if o.plot != "" {
		h := grid.HeatMap()
		h.Limit = 1
		if err := h.Save(o.plot); err != nil {
			return err
		}
	}
	if o.asJSON {
		return json.NewEncoder(Stdout).Encode(struct {
			experiment.Grid
			Method   string                 `json:"method"`
			Stimuli  int                    `json:"stimuli"`
			Pool     string                 `json:"pool,omitempty"`
			HeatMap  string                 `json:"heat_map,omitempty"`
			SourceA  string                 `json:"source_a"`
			SourceB  string                 `json:"source_b"`
			Repeated *compare.RepeatedScore `json:"repeated,omitempty"`
		}{grid, o.spec.String(), o.n, o.g.poolUsed(), o.plot, o.pos[0], o.pos[1], o.repeated})
	}
	printCompareTable(grid)
	if r := o.repeated; r != nil {
		if r.Ceiling != nil {
			fmt.Fprintf(Stdout, "noise ceiling (rsatoolbox, over the repetitions' RDMs): lower %.4f, upper %.4f\n", r.Ceiling.Lower, r.Ceiling.Upper)
		}
		if r.Reliability != nil {
			fmt.Fprintf(Stdout, "split-half Spearman–Brown ceiling (median over units): %.4f; ceiled scores:", *r.Reliability)
			for _, v := range r.Ceiled {
				fmt.Fprintf(Stdout, " %.4f", v)
			}
			fmt.Fprintln(Stdout)
		}
	}
	if o.plot != "" {
		fmt.Fprintf(Stdout, "wrote %s\n", o.plot)
	}
	return nil
}

// sourceGatherer opens compare's sources; it loads each model and reads
// the prompts once, however many sources use them.
type sourceGatherer struct {
	mf          modelFlags
	model2      string
	promptsPath string
	corpus      []string
	window      int
	maxStimuli  int
	batch       int
	pool        source.Pool
	prompts     []string
	ids         []string
	models      map[string]*engine.Model
	usedPool    bool
}

func (g *sourceGatherer) poolUsed() string {
	if g.usedPool {
		return g.pool.String()
	}
	return ""
}

func (g *sourceGatherer) open(spec string, second bool) ([]*source.Matrix, error) {
	if glob, ok := strings.CutPrefix(spec, "hooks:"); ok {
		model := g.mf.model
		if second && g.model2 != "" {
			model = g.model2
		}
		return g.hooks(model, glob)
	}
	path, tensors := spec, ""
	if i := strings.LastIndex(spec, ".safetensors:"); i >= 0 {
		path, tensors = spec[:i+len(".safetensors")], spec[i+len(".safetensors:"):]
	}
	return source.Open(path, tensors)
}

func (g *sourceGatherer) hooks(model, glob string) ([]*source.Matrix, error) {
	if g.promptsPath == "" && len(g.corpus) == 0 {
		return nil, usagef("hooks:%s needs --prompts FILE or --corpus PATH (the stimuli)", glob)
	}
	if g.prompts == nil && g.promptsPath != "" {
		var err error
		if g.prompts, g.ids, err = readPrompts(g.promptsPath); err != nil {
			return nil, err
		}
	}
	if g.models == nil {
		g.models = map[string]*engine.Model{}
	}
	m := g.models[model]
	if m == nil {
		f := g.mf
		f.model = model
		var err error
		if m, err = f.load(); err != nil {
			return nil, err
		}
		g.models[model] = m
	}
	// Stimuli are tokenized by each model: corpus windows of two models
	// with different tokenizers hold different text under the same ids.
	var stimuli []source.Stimulus
	var err error
	if len(g.corpus) > 0 {
		stimuli, err = source.WindowStimuli(m, g.corpus, corpus.Options{}, g.window, g.maxStimuli)
	} else {
		stimuli, err = source.PromptStimuli(m, g.prompts, g.ids)
	}
	if err != nil {
		return nil, err
	}
	g.usedPool = true
	return source.HookMatrices(m, glob, stimuli, g.pool, g.batch)
}

// readPrompts reads one prompt per non-empty line; when every line is
// ID<TAB>TEXT the ids are returned too.
func readPrompts(path string) (prompts, ids []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	tabs := 0
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		id, text, ok := strings.Cut(line, "\t")
		if ok {
			tabs++
		}
		prompts = append(prompts, line)
		ids = append(ids, id)
		if ok {
			prompts[len(prompts)-1] = text
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("--prompts %s: %w", path, err)
	}
	if len(prompts) == 0 {
		return nil, nil, fmt.Errorf("--prompts %s: no prompts", path)
	}
	switch tabs {
	case 0:
		ids = nil
	case len(prompts):
	default:
		return nil, nil, fmt.Errorf("--prompts %s: %d of %d lines are ID<TAB>TEXT: give ids on every line or none", path, tabs, len(prompts))
	}
	return prompts, ids, nil
}

// printCompareTable prints the grid with full row names; columns are
// numbered and their names listed above, as they are usually long.
func printCompareTable(g experiment.Grid) {
	fmt.Fprintf(Stdout, "%s\n", g.Title)
	for c, name := range g.Cols {
		fmt.Fprintf(Stdout, "  [%d] %s\n", c, name)
	}
	w := 0
	for _, r := range g.Rows {
		w = max(w, len(r))
	}
	printGridRows(g, w, 7, 4, func(c int) string { return fmt.Sprintf("[%d]", c) })
}
