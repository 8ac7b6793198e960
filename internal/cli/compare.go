package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/glia-dev/glia/compare"
	"github.com/glia-dev/glia/compare/source"
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
	poolFlag := fs.String("pool", "last", "one vector per prompt: last, mean (over tokens) or pos:N (negative N counts from the end)")
	method := fs.String("method", "cka", "cka, cka-debiased, cka-rbf, rsa or encoding (mean held-out r of ridge models from A's matrix to B's units)")
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
	spec := compare.Spec{Method: compare.Method(*method), RDM: compare.Distance(*rdm), Compare: compare.Comparison(*comp)}
	if !slices.Contains(compare.Methods, spec.Method) {
		return usagef("--method %q: want one of %v", *method, compare.Methods)
	}
	if spec.Method == compare.RSAMethod && !slices.Contains(compare.Distances, spec.RDM) {
		return usagef("--rdm %q: want one of %v", *rdm, compare.Distances)
	}
	if spec.Method == compare.RSAMethod && !slices.Contains(compare.Comparisons, spec.Compare) {
		return usagef("--compare %q: want one of %v", *comp, compare.Comparisons)
	}
	if *topo != "" {
		var q [2]float64
		if _, err := fmt.Sscanf(*topo, "%g,%g", &q[0], &q[1]); err != nil || !(q[0] >= 0 && q[0] < q[1] && q[1] <= 1) {
			return usagef("--topo %q: want LOW,UP quantiles with 0 ≤ LOW < UP ≤ 1", *topo)
		}
		spec.Topo = &q
	}
	spec.Geodesic = *geodesic
	if (spec.Topo != nil || spec.Geodesic) && spec.Method != compare.RSAMethod {
		return usagef("--topo and --geodesic apply to --method rsa only")
	}
	pool, err := source.ParsePool(*poolFlag)
	if err != nil {
		return usagef("--pool: %v", err)
	}
	if len(pos) == 1 {
		pos = append(pos, pos[0])
	}
	g := &sourceGatherer{mf: mf, model2: *model2, promptsPath: *prompts, pool: pool}
	a, err := g.open(pos[0], false)
	if err != nil {
		return err
	}
	b, err := g.open(pos[1], true)
	if err != nil {
		return err
	}
	xa, xb, err := alignAll(a, b)
	if err != nil {
		return err
	}
	values, err := compare.Grid(xa, xb, spec)
	if ce := (*compare.CellError)(nil); errors.As(err, &ce) {
		// Name the matrices: the indices mean nothing to the user.
		var where []string
		if ce.Row >= 0 {
			where = append(where, a[ce.Row].Name)
		}
		if ce.Col >= 0 {
			where = append(where, b[ce.Col].Name)
		}
		return fmt.Errorf("%s: %w", strings.Join(where, " vs "), ce.Err)
	}
	if err != nil {
		return err
	}
	n, _ := xa[0].Dims()
	grid := experiment.Grid{
		Title: fmt.Sprintf("%s over %d stimuli", spec, n), RowTitle: pos[0], ColTitle: pos[1],
		Value: string(spec.Method), Rows: names(a), Cols: names(b), Values: values,
	}
	if *plotPath != "" {
		h := grid.HeatMap()
		h.Limit = 1
		if err := h.Save(*plotPath); err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(Stdout).Encode(struct {
			experiment.Grid
			Method  string `json:"method"`
			Stimuli int    `json:"stimuli"`
			Pool    string `json:"pool,omitempty"`
			HeatMap string `json:"heat_map,omitempty"`
			SourceA string `json:"source_a"`
			SourceB string `json:"source_b"`
		}{grid, spec.String(), n, g.poolUsed(), *plotPath, pos[0], pos[1]})
	}
	printCompareTable(grid)
	if *plotPath != "" {
		fmt.Fprintf(Stdout, "wrote %s\n", *plotPath)
	}
	return nil
}

// sourceGatherer opens compare's sources; it loads each model and reads
// the prompts once, however many sources use them.
type sourceGatherer struct {
	mf          modelFlags
	model2      string
	promptsPath string
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
	if g.promptsPath == "" {
		return nil, usagef("hooks:%s needs --prompts FILE (the stimuli)", glob)
	}
	if g.prompts == nil {
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
	g.usedPool = true
	return hookMatrices(m, glob, g.prompts, g.ids, g.pool)
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

// hookMatrices runs the prompts one at a time through m, reading the hooks
// glob matches, and pools each to one row per prompt. A hook must have
// exactly one position axis, axis 1 ([batch, pos, ...]): an attention
// pattern has two and cannot be pooled to a vector this way.
func hookMatrices(m *engine.Model, glob string, prompts, ids []string, pool source.Pool) ([]*source.Matrix, error) {
	hooks, err := m.MatchHooks(glob)
	if err != nil {
		return nil, err
	}
	infos, err := m.HookPoints()
	if err != nil {
		return nil, err
	}
	for _, h := range infos {
		if slices.Contains(hooks, h.Name) && !slices.Equal(h.PosAxes, []int{1}) {
			return nil, fmt.Errorf("hook %s has position axes %v: compare pools hooks shaped [batch, pos, ...] only", h.Name, h.PosAxes)
		}
	}
	out := make([]*source.Matrix, len(hooks))
	for i, p := range prompts {
		ids32, err := encodePrompt(m, p)
		if err != nil {
			return nil, fmt.Errorf("prompt %d: %w", i+1, err)
		}
		res, err := m.Run(engine.Request{IDs: [][]int32{ids32}, Hooks: hooks, NoLogits: true})
		if err != nil {
			return nil, fmt.Errorf("prompt %d: %w", i+1, err)
		}
		for k, h := range hooks {
			a := res.Acts[h]
			seq := len(ids32)
			width := len(a.Data) / seq
			if out[k] == nil {
				out[k] = &source.Matrix{Name: h, IDs: ids, X: mat.NewDense(len(prompts), width, nil)}
			}
			if _, w := out[k].X.Dims(); w != width {
				return nil, fmt.Errorf("hook %s: %d features at prompt %d, %d before", h, width, i+1, w)
			}
			if err := pool.Apply(a.Data, seq, width, out[k].X.RawRowView(i)); err != nil {
				return nil, fmt.Errorf("prompt %d, hook %s: %w", i+1, h, err)
			}
		}
	}
	return out, nil
}

// alignAll puts every matrix of a and b in the stimulus order of a's first.
func alignAll(a, b []*source.Matrix) (xa, xb []mat.Matrix, err error) {
	ref := a[0]
	for _, ms := range [][]*source.Matrix{a, b} {
		var xs []mat.Matrix
		for _, m := range ms {
			al, err := source.Align(ref, m)
			if err != nil {
				return nil, nil, err
			}
			xs = append(xs, al.X)
		}
		if xa == nil {
			xa = xs
		} else {
			xb = xs
		}
	}
	return xa, xb, nil
}

func names(ms []*source.Matrix) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
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
