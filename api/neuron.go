package api

// NeuronResponse is GET /api/neurons/{hook}/{unit}.
type NeuronResponse struct {
	ID          string             `json:"id"`                     // HOOK:UNIT
	Report      *UnitReport        `json:"report"`                 // what the atlas holds about the unit
	Hist        []HistBin          `json:"hist_bins"`              // the bins from the first to the last non-empty one
	Neighbours  map[string]string  `json:"neighbours"`             // prev, next (same hook), up, down (same index, adjacent hook): HOOK:UNIT
	ModelName   string             `json:"model_name"`             // the atlas' model
	Tokens      int64              `json:"atlas_tokens"`           // corpus tokens the atlas read
	Explanation *Explanation       `json:"explanation"`            // null until glia explain has run
	ExplainNote string             `json:"explain_note,omitempty"` // why there is no explanation
	Hooks       []HookSpec         `json:"hooks"`                  // the atlas' hooks, for navigation
	Extra       map[string]float64 `json:"extra,omitempty"`        // further statistics by name
	Images      *ImageUnit         `json:"images,omitempty"`       // an image atlas' exemplars (absent for text atlases)
}

// UnitReport is everything the atlas holds about one unit (atlas.UnitReport).
type UnitReport struct {
	Hook         string    `json:"hook"`
	Unit         int       `json:"unit"`
	Index        []int     `json:"index,omitempty"` // the unit per axis, for hooks with several (HookSpec.Axes): [head, i]
	Axes         []int     `json:"axes,omitempty"`  // the hook's axes after [batch, pos], when several
	Count        int64     `json:"count"`           // tokens seen
	Mean         float64   `json:"mean"`
	Var          float64   `json:"var"`
	Std          float64   `json:"std"`
	Min          *float64  `json:"min"`           // null when nothing was seen
	Max          *float64  `json:"max"`           // null when nothing was seen
	NPos         int64     `json:"n_pos"`         // tokens with activation > 0
	NAbove       int64     `json:"n_above"`       // tokens with activation > threshold
	Density      float64   `json:"density"`       // fraction of tokens > 0
	DensityAbove float64   `json:"density_above"` // fraction of tokens > threshold
	Threshold    float32   `json:"threshold"`
	Hist         []uint64  `json:"hist"`   // counts over the atlas' fixed bins (hist_bins gives their edges)
	Top          []Example `json:"top"`    // top activating examples, best first
	Bands        []Band    `json:"bands"`  // examples sampled per activation octave
	Random       []Example `json:"random"` // examples at random tokens
}

// Example is one stored context of a unit (atlas.Example).
type Example struct {
	Rank       int       `json:"rank"`
	Activation float32   `json:"activation"` // the unit's activation at the example's token
	Shard      int       `json:"shard"`      // corpus path index
	Window     int64     `json:"window"`     // window number within the shard
	Pos        int       `json:"pos"`        // the token's position in its window
	Doc        int64     `json:"doc"`        // document number within the shard
	Start      int       `json:"start"`      // window position of tokens[0]
	Center     int       `json:"center"`     // index of the example's token in tokens (pos-start)
	Tokens     []int32   `json:"tokens"`     // token ids
	Text       []string  `json:"text"`       // display form of each token
	Acts       []float32 `json:"acts"`       // the unit's activation at each token
}

// Band is a set of sampled examples whose activation lies in one octave.
type Band struct {
	Octave   int       `json:"octave"` // octaves below the unit's max
	Lo       float64   `json:"lo"`     // activations in [lo, hi)
	Hi       float64   `json:"hi"`
	Count    uint64    `json:"count"` // tokens of the whole corpus in the band
	QLo      float64   `json:"q_lo"`  // fraction of tokens below lo
	QHi      float64   `json:"q_hi"`  // fraction of tokens below hi
	Examples []Example `json:"examples"`
}

// HistBin is one histogram bin; infinite edges are null.
type HistBin struct {
	Lo    *float64 `json:"lo"`
	Hi    *float64 `json:"hi"`
	Count uint64   `json:"count"`
}

// Explanation is what glia explain stored for a unit: facets, its logit
// lens, a label and the label's score.
type Explanation struct {
	Label      string     `json:"label"`
	Score      *float64   `json:"score"`       // how well the label predicts activations; null when unscored
	Facets     []string   `json:"facets"`      // sub-patterns, when the unit has several
	LensTop    []LensItem `json:"lens_top"`    // tokens the unit's output promotes most
	LensBottom []LensItem `json:"lens_bottom"` // tokens it suppresses most
}

// LensItem is one token a unit's output promotes or suppresses.
type LensItem struct {
	Token string  `json:"token"` // display text
	Value float64 `json:"value"` // logit contribution
}
