package explain

import (
	"context"
	"fmt"
	"math"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
)

// Explanation is everything glia says about one unit.
type Explanation struct {
	Hook         string      `json:"hook"`
	Unit         int         `json:"unit"`
	Label        string      `json:"label"` // no-LLM label
	Cues         []Cue       `json:"cues"`  // what the no-LLM simulator reads
	Score        *float64    `json:"score"` // Pearson r of the no-LLM simulation on held-out tokens; null if undefined
	HeldOut      int         `json:"held_out_tokens"`
	ExplTokens   int         `json:"explanation_tokens"`
	Density      float64     `json:"density"`       // atlas: fraction of corpus tokens > 0
	DensityAbove float64     `json:"density_above"` // atlas: fraction > its threshold
	AtlasThresh  float64     `json:"atlas_threshold"`
	Max          *float64    `json:"max"`
	Input        *InputSide  `json:"input"`
	Lens         *NeuronLens `json:"lens,omitempty"` // MLP neurons and residual-stream dictionary features
	Facets       *Facets     `json:"facets"`
	LLM          *LLMResult  `json:"llm,omitempty"`
}

// LLMResult is an LLM-written explanation and its simulation score.
type LLMResult struct {
	Model   string   `json:"model"`
	Label   string   `json:"label"`
	Score   *float64 `json:"score"`
	HeldOut int      `json:"held_out_tokens"`
	Error   string   `json:"error,omitempty"`
}

// Explainer explains units of one atlas.
type Explainer struct {
	Model *engine.Model // for the lens and the facets' residual stream; nil: neither
	Lens  *LensPlan     // nil: no output side
	LLM   *LLM          // nil: no LLM explanation
	Opt   Options
	cache repCache
}

// Explain explains one unit from its atlas report.
func (x *Explainer) Explain(ctx context.Context, r *atlas.UnitReport) (*Explanation, error) {
	return x.ExplainLens(ctx, r, nil)
}

// ExplainLens is Explain with the unit's lens already computed (nil:
// compute it when the Explainer has a LensPlan and the unit is an MLP neuron).
func (x *Explainer) ExplainLens(ctx context.Context, r *atlas.UnitReport, lens *NeuronLens) (*Explanation, error) {
	o := x.Opt.withDefaults()
	e := &Explanation{Hook: r.Hook, Unit: r.Unit, Density: r.Density, DensityAbove: r.DensityAbove, AtlasThresh: float64(r.Threshold), Max: r.Max, Lens: lens}
	if x.Lens != nil && lens == nil {
		if layer, ok := ParseMLPHook(r.Hook); ok {
			l, err := x.Lens.Neuron(layer, r.Unit, 20)
			if err != nil {
				return nil, err
			}
			e.Lens = l
		} else if l, ok, err := x.Lens.Feature(r.Hook, r.Unit, 20); err != nil {
			return nil, err
		} else if ok {
			e.Lens = l
		}
	}
	if err := x.explainInputs(ctx, e, r, o); err != nil {
		return nil, err
	}
	return e, nil
}

// explainInputs fills everything but the lens (which may come from a table).
func (x *Explainer) explainInputs(ctx context.Context, e *Explanation, r *atlas.UnitReport, o Options) error {
	expl, held := split(r)
	e.Input = inputSide(expl, o)
	e.ExplTokens = e.Input.Tokens
	e.Cues = chooseCues(e.Input, expl, o.MaxCues)
	e.Label = labelText(e.Cues, e.Lens)
	sc, n := scoreSpans(held, func(s span) []float64 { return simulate(e.Cues, s.tokens) })
	e.HeldOut = n
	if !math.IsNaN(sc) {
		e.Score = &sc
	}
	f, err := facets(x.Model, &x.cache, r.Hook, r.Top, o.Facets, o.Seed)
	if err != nil {
		return fmt.Errorf("explain: facets of %s:%d: %w", r.Hook, r.Unit, err)
	}
	e.Facets = f
	if x.LLM != nil {
		e.LLM = x.LLM.explainAndScore(ctx, e, expl, held)
	}
	return nil
}
