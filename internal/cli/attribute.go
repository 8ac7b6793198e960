package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/attribution"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/plot"
)

func init() {
	Register(&Command{Name: "attribute", Summary: "attribution: dla, lens, ig, gradxact, atp (glia attribute -h)", Run: attributeUsage})
	Register(&Command{Name: "attribute dla", Summary: "direct logit attribution at a position: top components and completeness", Run: runDLA})
	Register(&Command{Name: "attribute lens", Summary: "logit lens of a prompt: per layer top tokens and the target's rank and probability", Run: runLens})
	Register(&Command{Name: "attribute ig", Summary: "integrated gradients at a hook (Gauss–Legendre, 50 steps by default) with the completeness delta", Run: runIG})
	Register(&Command{Name: "attribute gradxact", Summary: "gradient × activation at a hook", Run: runGradXAct})
	Register(&Command{Name: "attribute atp", Summary: "attribution patching over hook units (default MLP neurons), the top k re-checked by real patching with Spearman's ρ", Run: runAtP})
}

func attributeUsage(args []string) error {
	fmt.Fprintln(Stderr, "usage: glia attribute dla|lens|ig|gradxact|atp|graph [flags]\n\n"+
		"  dla       direct logit attribution: embeddings, heads, neurons and biases, with completeness\n"+
		"  lens      logit lens: each layer's residual through the final norm and unembedding\n"+
		"  ig        integrated gradients at a hook, with the completeness delta\n"+
		"  gradxact  gradient × activation at a hook\n"+
		"  atp       attribution patching (--prompt clean, --corrupt), re-checked by real patching\n"+
		"  graph     neuron attribution graph of the next-token logits, pruned (docs/attrgraph.md)\n\n"+
		"glia attribute METHOD -h lists its flags; docs/attribution.md has the definitions.")
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		return nil
	}
	return errUsage
}

// attrFlags are the prompt and the target every attribution command reads.
type attrFlags struct {
	mf        modelFlags
	prompt    *string
	ids       *string
	pos       *int
	target    *string
	metric    *string
	objective *string
	top       *int
	asJSON    *bool
}

func (f *attrFlags) register(fs *flag.FlagSet, objectives bool) {
	f.mf.register(fs)
	f.prompt = fs.String("prompt", "", "text (encoded with the model's tokenizer, BOS added)")
	f.ids = fs.String("ids", "", `token ids "3 17 42" (instead of --prompt)`)
	f.pos = fs.Int("pos", -1, "position to explain (negative counts from the end)")
	f.target = fs.String("target", "", "the token whose logit is explained, as text or #ID (default: the model's top token)")
	f.metric = fs.String("metric", "", "logit-diff:A,B: explain logit[A] − logit[B] instead of --target")
	obj := new(string)
	if objectives {
		fs.StringVar(obj, "objective", "logit", "with --target: logit, logprob; or loss (mean next-token loss of the prompt; no --target)")
	}
	f.objective = obj
	f.top = fs.Int("top", 10, "how many entries to print")
	f.asJSON = fs.Bool("json", false, "print the JSON result")
}

// load parses the flags, loads the model and reads the prompt and target.
func (f *attrFlags) load(fs *flag.FlagSet, args []string) (*engine.Model, []int32, attribution.Target, error) {
	var t attribution.Target
	if _, err := parseFlags(fs, args); err != nil {
		return nil, nil, t, err
	}
	switch {
	case *f.prompt != "" && *f.ids != "":
		return nil, nil, t, usagef("give --prompt or --ids, not both")
	case *f.prompt == "" && *f.ids == "":
		return nil, nil, t, usagef(`missing the input: give --prompt TEXT or --ids "1 2 3"`)
	case *f.target != "" && *f.metric != "":
		return nil, nil, t, usagef("give --target or --metric, not both")
	}
	m, err := f.mf.load()
	if err != nil {
		return nil, nil, t, err
	}
	ids, err := f.readPrompt(m, *f.prompt, *f.ids, "")
	if err != nil {
		return nil, nil, t, err
	}
	if t, err = attribution.ParseTarget(m, ids, *f.pos, *f.target, *f.metric, *f.objective); err != nil {
		return nil, nil, t, err
	}
	return m, ids, t, nil
}

// readPrompt reads --prompt or --ids (one sequence); what names the flags.
func (f *attrFlags) readPrompt(m *engine.Model, text, idList, what string) ([]int32, error) {
	if idList != "" {
		seqs, err := parseIDs(idList)
		if err != nil {
			return nil, err
		}
		if len(seqs) != 1 {
			return nil, usagef("--%sids: give one sequence, not %d", what, len(seqs))
		}
		return seqs[0], nil
	}
	return encodePrompt(m, text)
}

// outFlags are --save and --plot, for dla, ig, gradxact and atp.
type outFlags struct{ save, plot *string }

func (o *outFlags) register(fs *flag.FlagSet) {
	o.save = fs.String("save", "", "write the attribution tensors to this .safetensors file (float32; names and figures in its metadata)")
	o.plot = fs.String("plot", "", "draw the attribution to this .png or .svg: a heat map over the prompt (ig, gradxact) or the top components' bars (dla, atp)")
}

// write saves s and draws fig (nil: nothing to draw) where the flags ask.
func (o *outFlags) write(s attribution.Saved, fig interface{ Save(string) error }) error {
	if *o.save != "" {
		if err := s.Save(*o.save); err != nil {
			return err
		}
	}
	if *o.plot != "" {
		return fig.Save(*o.plot)
	}
	return nil
}

// bars is the bar chart of some top components.
func bars(title, value string, names []string, scores []float64) *plot.Bars {
	return &plot.Bars{Title: title, XTitle: value, YTitle: "component", Labels: names, Values: scores}
}

func printJSON(v any) error {
	enc := json.NewEncoder(Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runDLA(args []string) error {
	fs := newFlags("attribute dla")
	var f attrFlags
	f.register(fs, false)
	var o outFlags
	o.register(fs)
	m, ids, t, err := f.load(fs, args)
	if err != nil {
		return err
	}
	r, err := attribution.DLA(m, ids, t)
	if err != nil {
		return err
	}
	desc := r.Target.Describe(m, ids)
	var names []string
	var scores []float64
	for _, c := range r.Top(*f.top) {
		names, scores = append(names, c.Name), append(scores, c.Score)
	}
	if err := o.write(r.Saved(desc), bars(m.Name+": DLA of "+desc, "DLA score (logit units)", names, scores)); err != nil {
		return err
	}
	if *f.asJSON {
		return printJSON(r)
	}
	fmt.Fprintf(Stdout, "%s: %s\n", m.Name, r.Target.Describe(m, ids))
	fmt.Fprintf(Stdout, "logit %.6g (pre-cap %.6g); Σ %d components %.6g; completeness %.2g\n", r.Logit, r.PreCap, len(r.Components), r.Sum, r.Completeness)
	fmt.Fprintf(Stdout, "\n%-16s %10s\n", "component", "score")
	for _, c := range r.Top(*f.top) {
		fmt.Fprintf(Stdout, "%-16s %+10.4f\n", c.Name, c.Score)
	}
	fmt.Fprintf(Stdout, "\n%-6s %10s %10s\n", "layer", "attn", "mlp")
	for l, ld := range r.Layers {
		fmt.Fprintf(Stdout, "%-6d %+10.4f %+10.4f\n", l, ld.Attn, ld.MLP)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(Stdout, "note: %s\n", n)
	}
	return nil
}

func runLens(args []string) error {
	fs := newFlags("attribute lens")
	var f attrFlags
	f.register(fs, false)
	m, ids, t, err := f.load(fs, args)
	if err != nil {
		return err
	}
	if t.Kind != attribution.Logit {
		return usagef("the lens follows one token: give --target, not --metric")
	}
	r, err := attribution.Lens(m, ids, t.Pos, t.Token, *f.top)
	if err != nil {
		return err
	}
	if *f.asJSON {
		return printJSON(r)
	}
	fmt.Fprintf(Stdout, "%s: lens of %s\n\n", m.Name, attribution.Target{Kind: attribution.Logit, Pos: r.Pos, Token: r.Token}.Describe(m, ids))
	fmt.Fprintf(Stdout, "%-26s %6s %8s  top tokens\n", "residual", "rank", "prob")
	for _, l := range r.Layers {
		var top []string
		for _, tp := range l.Top {
			top = append(top, fmt.Sprintf("%q %.3f", tp.Text, tp.Prob))
		}
		fmt.Fprintf(Stdout, "%-26s %6d %8.4f  %s\n", l.Hook, l.Rank, l.Prob, strings.Join(top, ", "))
	}
	return nil
}

// gradFlags are the hook and, for IG, the path.
type gradFlags struct {
	hook              *string
	steps, chunk      *int
	rule              *string
	baseline, baseIDs *string
	corpus, atlasDB   *string
	checkpoint        *bool
}

func (g *gradFlags) register(fs *flag.FlagSet, ig bool) {
	g.hook = fs.String("hook", "hook_embed", "the hook to attribute over (one name)")
	if ig {
		g.steps = fs.Int("steps", 50, "integration steps")
		g.chunk = fs.Int("chunk", 16, "steps per forward and backward pass (memory grows with it)")
		g.rule = fs.String("rule", "gausslegendre", "gausslegendre, riemann_left, riemann_right, riemann_middle or riemann_trapezoid")
		g.baseline = fs.String("baseline", "", "baseline prompt of the same length, or \"mean\" (with --corpus or --atlas) for the hook's mean activation at every position (default: zero at the hook)")
		g.baseIDs = fs.String("baseline-ids", "", "baseline as token ids")
		g.corpus = fs.String("corpus", "", "--baseline mean: a text file, one document a line; the mean is over its first 16,384 tokens (lines cut to 256)")
		g.atlasDB = fs.String("atlas", "", "--baseline mean: an atlas database built over the hook; the mean is its per-unit mean")
		g.checkpoint = fs.Bool("checkpoint", false, "backward pass layer by layer, each layer's forward recomputed (bounded memory for long prompts; on by itself from 1,024 tokens)")
	}
}

// meanBaseline reads --baseline mean's per-position mean from a corpus
// file or an atlas.
func meanBaseline(m *engine.Model, hook, corpus, db string) ([]float32, error) {
	switch {
	case (corpus == "") == (db == ""):
		return nil, usagef("--baseline mean: give --corpus FILE or --atlas DB (one)")
	case db != "":
		a, err := atlas.OpenReadOnly(db)
		if err != nil {
			return nil, fmt.Errorf("--atlas: %w", err)
		}
		defer a.Close()
		return attribution.AtlasMean(m, a, hook)
	}
	f, err := os.Open(corpus)
	if err != nil {
		return nil, fmt.Errorf("--corpus: %w", err)
	}
	defer f.Close()
	seqs, err := attribution.CorpusSequences(m, f, 256, 16384)
	if err != nil {
		return nil, fmt.Errorf("--corpus %s: %w", corpus, err)
	}
	return attribution.CorpusMean(m, hook, seqs)
}

func runIG(args []string) error       { return runGrad(args, true) }
func runGradXAct(args []string) error { return runGrad(args, false) }

func runGrad(args []string, ig bool) error {
	name := "attribute gradxact"
	if ig {
		name = "attribute ig"
	}
	fs := newFlags(name)
	var f attrFlags
	f.register(fs, true)
	var g gradFlags
	g.register(fs, ig)
	var o outFlags
	o.register(fs)
	m, ids, t, err := f.load(fs, args)
	if err != nil {
		return err
	}
	hooks, err := m.MatchHooks(*g.hook)
	if err != nil {
		return fmt.Errorf("--hook: %w", err)
	}
	if len(hooks) != 1 {
		return usagef("--hook %s matches %d hooks; give one", *g.hook, len(hooks))
	}
	var r *attribution.AttrResult
	if ig {
		o := attribution.IGOptions{Steps: *g.steps, Chunk: *g.chunk, Checkpoint: *g.checkpoint}
		if o.Rule, err = attribution.ParseRule(*g.rule); err != nil {
			return fmt.Errorf("--rule: %w", err)
		}
		if *g.baseline == "mean" {
			if o.Mean, err = meanBaseline(m, hooks[0], *g.corpus, *g.atlasDB); err != nil {
				return err
			}
		} else if *g.corpus != "" || *g.atlasDB != "" {
			return usagef("--corpus and --atlas go with --baseline mean")
		} else if *g.baseline != "" || *g.baseIDs != "" {
			if o.Baseline, err = f.readPrompt(m, *g.baseline, *g.baseIDs, "baseline-"); err != nil {
				return fmt.Errorf("--baseline: %w", err)
			}
		}
		r, err = attribution.IG(m, ids, hooks[0], t, o)
	} else {
		r, err = attribution.GradXAct(m, ids, hooks[0], t)
	}
	if err != nil {
		return err
	}
	byPos := r.ByPos()
	top := r.Top(*f.top)
	desc := r.Target.Describe(m, ids)
	hm := &plot.HeatMap{
		Title:  fmt.Sprintf("%s: %s of %s at %s", m.Name, r.Method, desc, r.Hook),
		XTitle: "prompt token", YTitle: "Σ per token", Value: "attribution",
		YLabels: []string{r.Method}, Values: [][]float64{byPos},
	}
	for _, id := range ids {
		hm.XLabels = append(hm.XLabels, m.TokenText(id))
	}
	if err := o.write(r.Saved(desc), hm); err != nil {
		return err
	}
	if *f.asJSON {
		return printJSON(struct {
			*attribution.AttrResult
			ByPos []float64             `json:"by_pos"`
			Top   []attribution.Element `json:"top"`
		}{r, byPos, top})
	}
	fmt.Fprintf(Stdout, "%s: %s of %s at %s %v\n", m.Name, r.Method, r.Target.Describe(m, ids), r.Hook, r.Shape)
	if ig {
		fmt.Fprintf(Stdout, "F %.6g, F(baseline) %.6g, Σ attributions %.6g: delta %.3g (%.3g%% of F − F(baseline)); %d steps %s, %d passes, %.2fs\n",
			r.F, r.FBaseline, r.Sum, r.Delta, 100*r.Relative, r.Steps, r.Rule, r.Forwards, r.Seconds)
	} else {
		fmt.Fprintf(Stdout, "F %.6g, Σ attributions %.6g, %.2fs\n", r.F, r.Sum, r.Seconds)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(Stdout, "note: %s\n", n)
	}
	fmt.Fprintf(Stdout, "\n%4s %-16s %10s\n", "pos", "token", "attr")
	for p, a := range byPos {
		fmt.Fprintf(Stdout, "%4d %-16q %+10.4f\n", p, m.TokenText(ids[p]), a)
	}
	fmt.Fprintf(Stdout, "\n%-20s %10s\n", "element", "attr")
	for _, e := range top {
		fmt.Fprintf(Stdout, "%-20s %+10.4f\n", fmt.Sprint(e.Index), e.Attr)
	}
	return nil
}

func runAtP(args []string) error {
	fs := newFlags("attribute atp")
	var f attrFlags
	f.register(fs, true)
	corrupt := fs.String("corrupt", "", "corrupt prompt, as many tokens as --prompt (the clean one)")
	corruptIDs := fs.String("corrupt-ids", "", "corrupt prompt as token ids")
	hook := fs.String("hook", "blocks.*.mlp.hook_post", "hooks whose units (heads for hook_z, hook_q, hook_k) are the nodes; globs work, commas separate several")
	check := fs.Int("check", 10, "re-check this many top estimates by real patching")
	star := fs.Bool("star", false, "AtP*: both --qk-fix and --graddrop")
	qkFix := fs.Bool("qk-fix", false, "AtP*'s QK fix for query/key hooks (attn.hook_q, hook_k, hook_rot_q, hook_rot_k): exact attention probabilities, linearised from there")
	gradDrop := fs.Bool("graddrop", false, "AtP*'s GradDrop: rank by the mean over layers l of |estimate with l's residual contribution cut from the gradient|")
	per := fs.String("per", "unit", "node granularity: unit (neurons, heads, dimensions, over all positions) or pos (each position, e.g. --hook 'blocks.*.hook_resid_pre')")
	var o outFlags
	o.register(fs)
	m, ids, t, err := f.load(fs, args)
	if err != nil {
		return err
	}
	if *corrupt == "" && *corruptIDs == "" {
		return usagef("missing --corrupt: give the corrupt prompt (or --corrupt-ids)")
	}
	bad, err := f.readPrompt(m, *corrupt, *corruptIDs, "corrupt-")
	if err != nil {
		return fmt.Errorf("--corrupt: %w", err)
	}
	hooks, err := m.MatchHooks(strings.Split(*hook, ",")...)
	if err != nil {
		return fmt.Errorf("--hook: %w", err)
	}
	if *per != "unit" && *per != "pos" {
		return usagef("--per %q: unit or pos", *per)
	}
	r, err := attribution.AtPStar(m, ids, bad, hooks, t, attribution.AtPOptions{Check: *check, QKFix: *qkFix || *star, GradDrop: *gradDrop || *star, Pos: *per == "pos"})
	if err != nil {
		return err
	}
	desc := r.Target.Describe(m, ids)
	var names []string
	var scores []float64
	for _, n := range r.Nodes[:min(len(r.Nodes), *f.top)] {
		names, scores = append(names, fmt.Sprintf("%s:%d", n.Hook, n.Index)), append(scores, n.Estimate)
	}
	if err := o.write(r.Saved(desc), bars(m.Name+": AtP of "+desc, "AtP estimate", names, scores)); err != nil {
		return err
	}
	if *f.asJSON {
		r.Nodes = r.Nodes[:min(len(r.Nodes), max(*f.top, r.Checked))]
		return printJSON(r)
	}
	plain := ""
	if r.PlainSpearman != nil {
		plain = fmt.Sprintf(" (plain AtP on the same nodes: %.3f)", *r.PlainSpearman)
	}
	fmt.Fprintf(Stdout, "%s: AtP of %s\nclean %.6g, corrupt %.6g; %d nodes; top %d re-checked by patching: Spearman ρ %.3f%s; %d passes, %.2fs\n\n",
		m.Name, r.Target.Describe(m, ids), r.Clean, r.Corrupt, len(r.Nodes), r.Checked, r.Spearman, plain, r.Forwards, r.Seconds)
	unit := "unit"
	if *per == "pos" {
		unit = "pos"
	}
	fmt.Fprintf(Stdout, "%-28s %6s %10s %10s %10s %10s\n", "hook", unit, "estimate", "plain", "graddrop", "real")
	opt := func(v *float64) string {
		if v == nil {
			return ""
		}
		return fmt.Sprintf("%+10.4f", *v)
	}
	for _, n := range r.Nodes[:min(len(r.Nodes), *f.top)] {
		fmt.Fprintf(Stdout, "%-28s %6d %+10.4f %10s %10s %10s\n", n.Hook, n.Index, n.Estimate, opt(n.Plain), opt(n.GradDrop), opt(n.Patched))
	}
	return nil
}
