package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"strings"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/experiment"
	"github.com/glia-dev/glia/intervene"
)

func init() {
	Register(&Command{Name: "ablate", Summary: "measure interventions on corpora: next-token loss before and after, per corpus", Run: runAblate})
}

// interveneFlags are the flags that intervention values need.
type interveneFlags struct {
	specs        stringList
	meanCorpus   stringList
	atlas        string
	resampleText string
	seed         uint64
}

func (f *interveneFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.specs, "intervene", "intervention HOOK[pos][units] OP VALUE, e.g. 'blocks.3.mlp.hook_post[:,117]=0' (repeatable; see docs/interventions.md)")
	fs.Var(&f.meanCorpus, "mean-corpus", "reference corpus for =mean ablation (repeatable path)")
	fs.StringVar(&f.atlas, "atlas", "", "atlas database whose per-unit means =mean ablation uses")
	fs.StringVar(&f.resampleText, "resample-text", "", "prompt whose activations =resample uses (default: another row of the batch)")
	fs.Uint64Var(&f.seed, "seed", 0, "seed choosing the row =resample takes")
}

func (f *interveneFlags) compile(m *engine.Model, docSep string) ([]engine.Intervention, error) {
	o := intervene.Options{Seed: f.seed}
	switch {
	case f.atlas != "" && len(f.meanCorpus) > 0:
		return nil, fmt.Errorf("give --atlas or --mean-corpus, not both")
	case f.atlas != "":
		o.Means = &intervene.AtlasMeans{Path: f.atlas}
	case len(f.meanCorpus) > 0:
		o.Means = &intervene.CorpusMeans{Text: intervene.Text{Paths: f.meanCorpus, DocSep: docSep, Ctx: 128}}
	}
	if f.resampleText != "" {
		ids, err := encodePrompt(m, f.resampleText)
		if err != nil {
			return nil, fmt.Errorf("--resample-text: %w", err)
		}
		o.ResampleIDs = ids
	}
	return compileSpecs(m, f.specs, o)
}

// compileSpecs parses and compiles intervention specs.
func compileSpecs(m *engine.Model, specs []string, o intervene.Options) ([]engine.Intervention, error) {
	var out []engine.Intervention
	for _, s := range specs {
		sp, err := intervene.Parse(s)
		if err != nil {
			return nil, err
		}
		iv, err := sp.Compile(m, o)
		if err != nil {
			return nil, err
		}
		out = append(out, iv)
	}
	return out, nil
}

// interventionsFor compiles --intervene specs for commands without mean or
// resample sources (glia generate).
func interventionsFor(m *engine.Model, specs []string) ([]engine.Intervention, error) {
	return compileSpecs(m, specs, intervene.Options{})
}

func runAblate(args []string) error {
	fs := newFlags("ablate")
	var mf modelFlags
	mf.register(fs)
	var iv interveneFlags
	iv.register(fs)
	var corpora stringList
	fs.Var(&corpora, "corpus", "NAME=PATH: a corpus to measure on (repeatable; text, .jsonl, directories, .gz)")
	ctx := fs.Int("ctx", 128, "window length in tokens")
	maxTokens := fs.Int("max-tokens", 20000, "tokens per corpus at most (0 = all)")
	docSep := fs.String("doc-sep", "", "split plain text files into documents at this string (e.g. '<|endoftext|>')")
	textField := fs.String("text-field", "text", "JSON Lines field holding the text")
	batch := fs.Int("batch", 8, "windows per forward")
	top := fs.Int("top", 10, "most affected tokens to list per corpus")
	asJSON := fs.Bool("json", false, "machine-readable output")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(iv.specs) == 0 {
		return fmt.Errorf("give at least one --intervene SPEC")
	}
	if len(corpora) == 0 {
		return fmt.Errorf("give at least one --corpus NAME=PATH")
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	ivs, err := iv.compile(m, *docSep)
	if err != nil {
		return err
	}
	var results []*experiment.LossEffect
	for _, c := range corpora {
		name, path, ok := strings.Cut(c, "=")
		if !ok {
			name, path = c, c
		}
		wins, err := intervene.Windows(m, intervene.Text{Paths: []string{path}, DocSep: *docSep, TextField: *textField, Ctx: *ctx, MaxTokens: *maxTokens})
		if err != nil {
			return fmt.Errorf("--corpus %s: %w", c, err)
		}
		r, err := experiment.LossOnCorpus(m, name, wins, ivs, experiment.AblateOptions{Batch: *batch, Top: *top})
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	if *asJSON {
		return json.NewEncoder(Stdout).Encode(map[string]any{"model": m.Name, "interventions": []string(iv.specs), "corpora": jsonSafe(results)})
	}
	fmt.Fprintf(Stdout, "model %s; interventions: %s\n", m.Name, strings.Join(iv.specs, "; "))
	fmt.Fprintf(Stdout, "%-14s %7s %7s %12s %11s %9s %9s %9s\n", "corpus", "windows", "tokens", "loss before", "loss after", "delta", "se(pos)", "se(win)")
	for _, r := range results {
		fmt.Fprintf(Stdout, "%-14s %7d %7d %12.4f %11.4f %+9.4f %9s %9s\n", r.Corpus, r.Windows, r.Tokens, r.Before, r.After, r.Delta, stdErr(r.StdErr), stdErr(r.WindowStdErr))
	}
	for _, r := range results {
		fmt.Fprintf(Stdout, "\nmost affected target tokens in %s (sum of loss change):\n", r.Corpus)
		for _, t := range r.Top {
			fmt.Fprintf(Stdout, "  %-16q n=%-5d mean %+8.4f  sum %+9.3f\n", t.Token, t.Count, t.MeanDelta, t.SumDelta)
		}
	}
	return nil
}

// stdErr prints a standard error, "n/a" where it is undefined (one window).
func stdErr(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", v)
}

// jsonSafe replaces NaN standard errors (one window) by nil for JSON.
func jsonSafe(rs []*experiment.LossEffect) []map[string]any {
	var out []map[string]any
	for _, r := range rs {
		b, _ := json.Marshal(struct {
			experiment.LossEffect
			WindowStdErr *float64 `json:"window_stderr"`
		}{LossEffect: *r, WindowStdErr: finiteOrNil(r.WindowStdErr)})
		var m map[string]any
		json.Unmarshal(b, &m)
		out = append(out, m)
	}
	return out
}

func finiteOrNil(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
