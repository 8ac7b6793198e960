package api

// RunRequest is POST /api/run: the prompt explorer.
type RunRequest struct {
	Prompt    string   `json:"prompt"`     // BOS is added
	Units     []string `json:"units"`      // HOOK:UNIT to trace per token (at most 64)
	Top       int      `json:"top"`        // top units per token (default 5, at most 20)
	AttnLayer *int     `json:"attn_layer"` // layer whose attention patterns to return (default 0; -1 none)
	// Image models: give image (base64 PNG or JPEG) instead of prompt; hook
	// is the hook whose units are ranked and drawn (default: Grad-CAM's).
	Image string `json:"image"`
	Hook  string `json:"hook"`
}

// RunResponse is the prompt explorer's result.
type RunResponse struct {
	Tokens    []Token     `json:"tokens"`    // the prompt, BOS first
	Units     []UnitTrace `json:"units"`     // the requested units, in order
	TopHooks  []string    `json:"top_hooks"` // hooks ranked for top units
	Top       [][]TopUnit `json:"top"`       // [token] top units, by activation ÷ atlas maximum when known
	Attention *Attention  `json:"attention"` // null when attn_layer is -1 or the model has no pattern hook
	Next      []NextToken `json:"next"`      // the ten likeliest next tokens (image models: classes)
	Image     *ImageRun   `json:"image"`     // image models only; tokens and attention are then empty
}

// UnitTrace is one chosen unit's activation at each token.
type UnitTrace struct {
	ID   string    `json:"id"`        // HOOK:UNIT
	Acts []float32 `json:"acts"`      // [token]
	Max  *float64  `json:"atlas_max"` // the unit's maximum over the atlas corpus, if known
}

// TopUnit is a unit active at a token.
type TopUnit struct {
	ID   string   `json:"id"` // HOOK:UNIT
	Act  float32  `json:"act"`
	Frac *float64 `json:"frac"` // act ÷ atlas max; null when the max is unknown
}

// Attention holds one layer's patterns.
type Attention struct {
	Layer   int           `json:"layer"`
	Pattern [][][]float32 `json:"pattern"` // [head][query][key]
}
