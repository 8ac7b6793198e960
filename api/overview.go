package api

// Overview is GET /api/overview: what the server serves.
type Overview struct {
	Model *ModelSummary `json:"model"`                // null without a model
	Atlas *AtlasSummary `json:"atlas"`                // null without an atlas
	Hooks []HookRow     `json:"hooks"`                // the model's hook points, then atlas hooks the model lacks
	Patch string        `json:"patch_file,omitempty"` // name of the patch result given at start-up
	Limit Limits        `json:"limits"`               // what one request may cost
}

// ModelSummary describes the loaded model.
type ModelSummary struct {
	Name        string `json:"name"`        // the model's name (its directory or file)
	Type        string `json:"model_type"`  // config.json's model_type ("?" when absent)
	Dims        Dims   `json:"dims"`        // architecture sizes
	Params      int64  `json:"params"`      // number of parameters
	Fingerprint string `json:"fingerprint"` // hash of the weights; atlases record it
	Tokenizer   bool   `json:"tokenizer"`   // a tokenizer is loaded (text in and out)
}

// Dims are the model's sizes, under TransformerLens' names.
type Dims struct {
	Layers  int `json:"n_layers"`
	DModel  int `json:"d_model"`
	Heads   int `json:"n_heads"`           // query heads
	KVHeads int `json:"n_key_value_heads"` // key/value heads (fewer than n_heads with grouped-query attention)
	DHead   int `json:"d_head"`
	DMLP    int `json:"d_mlp"`   // width of blocks.{l}.mlp.hook_post
	Vocab   int `json:"d_vocab"` // vocabulary size
	MaxCtx  int `json:"n_ctx"`   // longest sequence the position scheme supports (0: unbounded)
}

// Limits bound what one request may cost (server.Limits on the wire).
type Limits struct {
	MaxBody         int64   `json:"max_body"`          // request body bytes
	MaxPromptChars  int     `json:"max_prompt_chars"`  // characters of any prompt
	MaxPromptTokens int     `json:"max_prompt_tokens"` // tokens of any prompt, BOS included
	MaxNew          int     `json:"max_new"`           // generated tokens per intervention request
	MaxPatchTokens  int     `json:"max_patch_tokens"`  // tokens of a patching prompt
	MaxPatchCells   int     `json:"max_patch_cells"`   // layers × columns of a patching sweep
	MaxSpecs        int     `json:"max_specs"`         // intervention specs per request
	TimeoutSeconds  float64 `json:"timeout_seconds"`   // per request, queueing included
	MaxRuns         int     `json:"max_runs"`          // model runs at once
	MaxQueue        int     `json:"max_queue"`         // model requests waiting for a run slot before 429
	MaxCacheBytes   int64   `json:"max_cache_bytes"`   // tensor bytes one /api/cache answer may hold
	MaxBatch        int     `json:"max_batch"`         // sequences per /api/cache request
	MaxStimuli      int     `json:"max_stimuli"`       // prompts per /api/compare request
}

// HookRow is one hook point in the overview.
type HookRow struct {
	Name    string `json:"name"`            // e.g. blocks.3.mlp.hook_post
	Shape   []int  `json:"shape,omitempty"` // at batch 1, one position; absent for atlas-only hooks
	InAtlas bool   `json:"in_atlas"`        // the atlas recorded this hook
	Units   int    `json:"units,omitempty"` // atlas units of this hook
}

// AtlasSummary describes the atlas.
type AtlasSummary struct {
	ModelName   string     `json:"model_name"`        // the model the atlas was built from
	Fingerprint string     `json:"model_fingerprint"` // that model's fingerprint
	Matches     *bool      `json:"matches_model"`     // the loaded model is that model; null without a model
	Status      string     `json:"status"`            // build status (complete, partial…)
	Tokens      int64      `json:"tokens"`            // corpus tokens read
	Windows     int64      `json:"windows"`           // context windows read
	Units       int        `json:"units"`             // units over all hooks
	Settings    Settings   `json:"settings"`          // how the atlas was built
	Corpus      []string   `json:"corpus"`            // corpus file names
	Hooks       []HookSpec `json:"hooks"`             // recorded hooks
	Kind        string     `json:"kind,omitempty"`    // "images" for an image atlas (Tokens then counts images); absent for text
}

// Settings are an atlas' build settings (atlas.Settings).
type Settings struct {
	Hooks     []HookSpec `json:"hooks"`     // recorded hooks
	Ctx       int        `json:"ctx"`       // window length in tokens
	TopK      int        `json:"top_k"`     // top activating examples per unit
	Radius    int        `json:"radius"`    // tokens kept either side of an example's token
	Threshold float32    `json:"threshold"` // density is also counted above this
	RandomK   int        `json:"random_k"`  // random examples per unit
	Bands     int        `json:"bands"`     // activation bands (octaves below the max) sampled per unit
	BandK     int        `json:"band_k"`    // examples per band
}

// HookSpec is one recorded hook and its number of units (atlas.HookSpec).
type HookSpec struct {
	Name  string `json:"name"`
	Width int    `json:"width"` // units
	// Axes are the hook's axes after [batch, pos] when it has more than one
	// ([n_heads, d_head] for attention); unit u is then the row-major flat
	// index, u = head*d_head + i.
	Axes []int `json:"axes,omitempty"`
}
