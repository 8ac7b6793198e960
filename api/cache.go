package api

// CacheRequest is POST /api/cache: one forward pass (and optionally one
// backward pass) over one or several sequences, whose logits and hook
// values come back as tensors, for clients such as the Python package's
// run_with_cache. Give exactly one of prompt, ids, prompts and batch.
//
// Several sequences (prompts or batch) of unequal lengths are padded on
// the right to the longest, with token 0 under an attention mask, so that
// position i of every row is the sequence's token i and no real token
// attends to padding; Lengths says where each row's padding begins, and
// the values at padded positions are to be ignored.
type CacheRequest struct {
	Prompt   string     `json:"prompt"`    // text, BOS added
	IDs      []int32    `json:"ids"`       // token ids, used as given (no BOS added)
	Prompts  []string   `json:"prompts"`   // several texts, BOS added to each
	Batch    [][]int32  `json:"batch"`     // several id sequences, used as given
	Hooks    []string   `json:"hooks"`     // hook names or globs (blocks.*.mlp.hook_post); none: logits only
	Specs    []string   `json:"specs"`     // interventions applied during the run (docs/interventions.md); @file values are refused
	Grad     *CacheGrad `json:"grad"`      // with it, grads holds d logits[batch,pos,token] / d hook for each hook
	NoLogits bool       `json:"no_logits"` // leave the logits out of the answer (TransformerLens's return_type=None)
	// Image models take image or images (base64 PNG or JPEG) instead:
	// preprocessed as the model's preprocessor_config.json says; logits are
	// [batch, 1, classes], and grad's pos is 0 (or -1) and token the class.
	Image  string   `json:"image"`
	Images []string `json:"images"`
}

// CacheGrad names the logit to differentiate.
type CacheGrad struct {
	Batch int `json:"batch"` // sequence (0 unless several are given)
	Pos   int `json:"pos"`   // position; negative counts from the end of that sequence (-1: its last token)
	Token int `json:"token"` // vocabulary id
}

// CacheResponse is the run's tensors. With the request header
// Accept: application/x-safetensors the same answer comes as one
// safetensors file instead: tensors "logits", each hook by name and
// "grad:" + name, and this struct without its tensors as JSON in the
// metadata key "glia".
type CacheResponse struct {
	Tokens    []Token           `json:"tokens"`    // the (first) input, as run
	Text      string            `json:"text"`      // the (first) input decoded, special tokens skipped ("" without a tokenizer)
	Sequences []CacheSequence   `json:"sequences"` // every input, in order
	Lengths   []int             `json:"lengths"`   // tokens of each sequence; positions from there on are padding
	Hooks     []string          `json:"hooks"`     // the hook points the patterns resolved to, in forward order
	Logits    *Tensor           `json:"logits"`    // [batch, pos, vocab]; null with no_logits
	Acts      map[string]Tensor `json:"acts"`      // hook name → value
	Grads     map[string]Tensor `json:"grads"`     // hook name → gradient; null without grad
}

// CacheSequence is one input of a cache request.
type CacheSequence struct {
	Tokens []Token `json:"tokens"`
	Text   string  `json:"text"`
}

// Tensor is a float32 array sent compactly: Data is the base64 of its
// values as little-endian float32, in row-major order.
type Tensor struct {
	Shape []int  `json:"shape"`
	DType string `json:"dtype"` // always "float32"
	Data  []byte `json:"data"`  // base64 in JSON
}
