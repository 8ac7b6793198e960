package api

// CacheRequest is POST /api/cache: one forward pass (and optionally one
// backward pass) whose logits and hook values come back as tensors, for
// clients such as the Python package's run_with_cache.
type CacheRequest struct {
	Prompt string     `json:"prompt"` // text, BOS added; or give ids
	IDs    []int32    `json:"ids"`    // token ids, used as given (no BOS added)
	Hooks  []string   `json:"hooks"`  // hook names or globs (blocks.*.mlp.hook_post); none: logits only
	Specs  []string   `json:"specs"`  // interventions applied during the run (docs/interventions.md); @file values are refused
	Grad   *CacheGrad `json:"grad"`   // with it, grads holds d logits[0,pos,token] / d hook for each hook
}

// CacheGrad names the logit to differentiate.
type CacheGrad struct {
	Pos   int `json:"pos"`   // position; negative counts from the end (-1: last)
	Token int `json:"token"` // vocabulary id
}

// CacheResponse is the run's tensors.
type CacheResponse struct {
	Tokens []Token           `json:"tokens"` // the input, as run
	Text   string            `json:"text"`   // the input decoded, special tokens skipped ("" without a tokenizer)
	Hooks  []string          `json:"hooks"`  // the hook points the patterns resolved to, in forward order
	Logits Tensor            `json:"logits"` // [1, pos, vocab]
	Acts   map[string]Tensor `json:"acts"`   // hook name → value
	Grads  map[string]Tensor `json:"grads"`  // hook name → gradient; null without grad
}

// Tensor is a float32 array sent compactly: Data is the base64 of its
// values as little-endian float32, in row-major order.
type Tensor struct {
	Shape []int  `json:"shape"`
	DType string `json:"dtype"` // always "float32"
	Data  []byte `json:"data"`  // base64 in JSON
}
