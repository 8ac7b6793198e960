package api

// AttributeRequest is POST /api/attribute: one attribution of a prompt, as
// glia attribute (docs/attribution.md).
type AttributeRequest struct {
	Method    string `json:"method"`    // dla, lens, ig, gradxact or atp
	Prompt    string `json:"prompt"`    // BOS added (atp: the clean prompt)
	Corrupt   string `json:"corrupt"`   // atp: the corrupt prompt, as many tokens
	Pos       *int   `json:"pos"`       // position, negative from the end; null: the last
	Target    string `json:"target"`    // a token as text or #ID; "": the model's most likely token
	Metric    string `json:"metric"`    // logit-diff:A,B instead of target
	Objective string `json:"objective"` // ig, gradxact: logit (default), logprob or loss
	Hook      string `json:"hook"`      // ig, gradxact: one hook name (default hook_embed); atp: a glob, or several separated by commas (default blocks.*.mlp.hook_post)
	Steps     int    `json:"steps"`     // ig: 50 by default
	Rule      string `json:"rule"`      // ig: gausslegendre (default), riemann_left|right|middle|trapezoid
	Baseline  string `json:"baseline"`  // ig: a prompt of the same length; "": zero at the hook
	Top       int    `json:"top"`       // entries returned (default 20)
	// atp: AtP*'s refinements (QK fix and GradDrop), and "pos" for
	// position nodes (default "unit").
	Star bool   `json:"star,omitempty"`
	Per  string `json:"per,omitempty"`
}

// AttributeResponse is one attribution and the figure that checks it.
type AttributeResponse struct {
	Method string  `json:"method"`
	Tokens []Token `json:"tokens"` // the prompt
	Target string  `json:"target"` // what is explained, in words
	// Value is what is explained: the logit (logit difference; before a
	// soft-cap for dla), or F for ig and gradxact; Sum is Σ attributions.
	Value float64 `json:"value"`
	Sum   float64 `json:"sum"`
	// Check is dla's completeness |Sum − Value|, ig's relative delta
	// |Sum − (F − F(baseline))| / |F − F(baseline)|, or atp's Spearman ρ
	// between the re-checked estimates and real patching; 0 for lens and
	// gradxact.
	Check      float64     `json:"check"`
	Components []AttrScore `json:"components"`       // dla: components; ig, gradxact: hook elements; by |score|
	ByPos      []float64   `json:"by_pos,omitempty"` // ig, gradxact: summed per prompt token
	Lens       []LensRow   `json:"lens,omitempty"`   // lens: per residual stream
	Notes      []string    `json:"notes,omitempty"`  // what is exact and what is not
	Seconds    float64     `json:"seconds"`
}

// AttrScore is one attributed component or hook element.
type AttrScore struct {
	Name  string   `json:"name"` // L3H2, L3N17, embed…; an index into the hook, "[0 5 17]"; atp: HOOK:UNIT
	Score float64  `json:"score"`
	Real  *float64 `json:"real,omitempty"` // atp: the effect of really patching it (the top ones)
}

// LensRow is one residual stream read through the unembedding.
type LensRow struct {
	Hook string      `json:"hook"`
	Rank int         `json:"target_rank"` // 0: the target is the top token
	Prob float64     `json:"target_prob"`
	Top  []NextToken `json:"top"`
}
