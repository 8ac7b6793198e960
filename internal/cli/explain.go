package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/glia-dev/glia/assets"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/explain"
	"github.com/glia-dev/glia/internal/progress"
)

func init() {
	Register(&Command{Name: "explain", Summary: "explain atlas units: logit lens, input tokens, facets, a label and its simulation score", Args: "[HOOK:UNIT...]", Run: runExplain})
}

// explainModel loads the model an atlas was built with: --model, else the
// atlas's own model when it names a loadable path, else the embedded model.
// The fingerprint must match the atlas's.
func explainModel(a *atlas.Atlas, mf *modelFlags) (*engine.Model, error) {
	f := *mf
	if f.model == "" && a.Meta.ModelName != assets.Stories260KName {
		f.model = a.Meta.ModelName
	}
	m, err := f.load()
	if err != nil {
		if mf.model == "" {
			return nil, fmt.Errorf("loading %s, the model %s was built with: %w (pass it with --model, or use --no-model)", f.model, a.Path, err)
		}
		return nil, err
	}
	if fp := a.Meta.ModelFingerprint; fp != "" && fp != m.Fingerprint() {
		return nil, fmt.Errorf("%s was built with %s (fingerprint %s), but the model loaded is %s (fingerprint %s): pass the atlas's model with --model (and the same --sae directories, if it was built with any), or --no-model",
			a.Path, a.Meta.ModelName, fp, m.Name, m.Fingerprint())
	}
	return m, nil
}

func runExplain(args []string) error {
	fs := newFlags("explain")
	dbPath := fs.String("db", "atlas.db", "atlas database (explanations are stored in it, in explain_* tables)")
	var mf modelFlags
	mf.register(fs)
	noModel := fs.Bool("no-model", false, "work from the atlas alone: no logit lens, facets from token bags")
	all := fs.Bool("all", false, "explain and store every unit of the atlas, and the logit lens of every MLP neuron")
	asJSON := fs.Bool("json", false, "print JSON (one explanation per line; with --all, the summary)")
	llmURL := fs.String("llm", "", "OpenAI-compatible endpoint (e.g. https://api.openai.com/v1) for LLM-written explanations, scored by LLM simulation")
	llmModel := fs.String("llm-model", "gpt-4o-mini", "model name sent to --llm")
	llmKeyEnv := fs.String("llm-key-env", "OPENAI_API_KEY", "environment variable holding the --llm API key (unset: no key is sent)")
	llmTimeout := fs.Duration("llm-timeout", 60*time.Second, "timeout of each --llm request")
	llmRetries := fs.Int("llm-retries", 4, "retries after 429, 5xx, timeouts and network errors, with exponential backoff")
	llmSpans := fs.Int("llm-spans", 12, "held-out examples the LLM simulates per unit")
	seed := fs.Uint64("seed", 1, "k-means seed for the facets")
	units, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *all == (len(units) > 0) {
		fmt.Fprintln(Stderr, "usage: glia explain --db atlas.db [--model M] [--llm URL] HOOK:UNIT...  |  glia explain --db atlas.db --all")
		return errUsage
	}
	a, store, err := openExplained(*dbPath)
	if err != nil {
		return err
	}
	defer a.Close()
	x := &explain.Explainer{Opt: explain.Options{Seed: *seed}}
	if !*noModel {
		m, err := explainModel(a, &mf)
		if err != nil {
			return err
		}
		x.Model = m
		if x.Lens, err = explain.NewLensPlan(m, nil); err != nil {
			fmt.Fprintf(Stderr, "glia explain: note: no logit lens: %v\n", err)
		}
	}
	if *llmURL != "" {
		key := os.Getenv(*llmKeyEnv)
		if key == "" {
			fmt.Fprintf(Stderr, "glia explain: note: $%s is not set; calling %s without an API key\n", *llmKeyEnv, *llmURL)
		}
		retries := *llmRetries
		if retries == 0 {
			retries = -1
		}
		x.LLM = &explain.LLM{URL: *llmURL, Key: key, Model: *llmModel, Timeout: *llmTimeout, Retries: retries, MaxSpans: *llmSpans}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tag := fmt.Sprintf("%s, %s tokens", a.Meta.ModelName, progress.Human(a.Meta.Tokens))
	if !*all {
		for i, u := range units {
			hook, idx, err := atlas.ParseUnit(u)
			if err != nil {
				return err
			}
			r, err := a.Unit(hook, idx)
			if err != nil {
				return err
			}
			e, err := x.Explain(ctx, r)
			if err != nil {
				return err
			}
			if err := store.PutExplanations([]*explain.Explanation{e}); err != nil {
				return err
			}
			if e.Lens != nil {
				if err := store.PutLens([]*explain.NeuronLens{e.Lens}); err != nil {
					return err
				}
			}
			if *asJSON {
				if err := json.NewEncoder(Stdout).Encode(e); err != nil {
					return err
				}
				continue
			}
			if i > 0 {
				fmt.Fprintln(Stdout)
			}
			explain.Render(Stdout, e, tag)
		}
		return nil
	}
	return explainAll(ctx, a, store, x, *asJSON)
}

type unitKey struct {
	hook string
	unit int
}

func explainAll(ctx context.Context, a *atlas.Atlas, store *explain.Store, x *explain.Explainer, asJSON bool) error {
	start := time.Now()
	lenses := map[unitKey]*explain.NeuronLens{}
	var lensStats explain.LensStats
	if x.Lens != nil {
		var batch []*explain.NeuronLens
		var err error
		lensStats, err = x.Lens.All(20, func(l *explain.NeuronLens) error {
			lenses[unitKey{l.Hook, l.Unit}] = l
			batch = append(batch, l)
			if len(batch) >= 4096 {
				err := store.PutLens(batch)
				batch = batch[:0]
				return err
			}
			return ctx.Err()
		})
		if err == nil {
			err = store.PutLens(batch)
		}
		if err != nil {
			return err
		}
		store.SetMeta("lens_model_fingerprint", x.Model.Fingerprint())
		store.SetMeta("lens_notes", strings.Join(x.Lens.Notes, "; "))
		if !asJSON {
			fmt.Fprintf(Stderr, "logit lens: %d MLP neurons × %d tokens in %s (matmul %s, top/bottom-20 selection %s)\n",
				lensStats.Neurons, x.Lens.Vocab, progress.Duration(lensStats.Total), progress.Duration(lensStats.Matmul), progress.Duration(lensStats.Select))
		}
	}
	total := 0
	for _, h := range a.Meta.Settings.Hooks {
		total += h.Width
	}
	var bar *progress.Bar
	if !asJSON {
		bar = progress.New(Stderr, int64(total), "units")
	}
	var pending []*explain.Explanation
	var scores, llmScores []float64
	llmErrors := 0
	flush := func() error {
		err := store.PutExplanations(pending)
		pending = pending[:0]
		return err
	}
	err := a.Units(func(r *atlas.UnitReport) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := x.ExplainLens(ctx, r, lenses[unitKey{r.Hook, r.Unit}])
		if err != nil {
			return err
		}
		sc := math.NaN()
		if e.Score != nil {
			sc = *e.Score
		}
		scores = append(scores, sc)
		if e.LLM != nil {
			v := math.NaN()
			if e.LLM.Score != nil {
				v = *e.LLM.Score
			}
			llmScores = append(llmScores, v)
			if e.LLM.Error != "" {
				llmErrors++
				if llmErrors <= 3 {
					bar.Clear()
					fmt.Fprintf(Stderr, "glia explain: %s:%d: llm: %s\n", r.Hook, r.Unit, e.LLM.Error)
				}
			}
		}
		pending = append(pending, e)
		if len(pending) >= 200 {
			if err := flush(); err != nil {
				return err
			}
		}
		bar.Add(1)
		return nil
	})
	bar.Done()
	if ferr := flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	d := explain.Distribute(scores)
	store.SetMeta("explained_at", time.Now().UTC().Format(time.RFC3339))
	if asJSON {
		out := map[string]any{"db": a.Path, "units": len(scores), "scores": d, "seconds": time.Since(start).Seconds(),
			"lens_neurons": lensStats.Neurons, "lens_seconds": lensStats.Total.Seconds()}
		if x.LLM != nil {
			out["llm_scores"] = explain.Distribute(llmScores)
			out["llm_errors"] = llmErrors
		}
		return json.NewEncoder(Stdout).Encode(out)
	}
	fmt.Fprintf(Stdout, "stored explanations of %d units in %s in %s\n", len(scores), a.Path, progress.Duration(time.Since(start)))
	fmt.Fprintf(Stdout, "no-LLM label scores: %s\n", d)
	if x.LLM != nil {
		fmt.Fprintf(Stdout, "LLM label scores: %s; %d units with LLM errors\n", explain.Distribute(llmScores), llmErrors)
	}
	return nil
}

// openExplained opens an atlas and its explanations store.
func openExplained(path string) (*atlas.Atlas, *explain.Store, error) {
	a, err := atlas.Open(path)
	if err != nil {
		return nil, nil, err
	}
	store, err := explain.OpenStore(a.DB())
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, store, nil
}
