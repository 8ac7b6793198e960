// Package sae holds sparse autoencoders (dictionaries) in SAELens's
// conventions: its architectures, its files (cfg.json,
// sae_weights.safetensors, sparsity.safetensors), training with AdamW on
// activations, and the evaluation metrics SAELens reports.
//
// Weights are row-major float32: W_enc [d_in, d_sae], W_dec [d_sae, d_in],
// b_enc [d_sae], b_dec [d_in], threshold [d_sae] (jumprelu only), exactly the
// tensors SAELens saves, so a directory written here loads in SAELens and the
// other way round.
package sae

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Inference architectures, as SAELens names them in cfg.json. Training
// architectures batchtopk and matryoshka_batchtopk save as jumprelu.
const (
	Standard   = "standard"
	TopK       = "topk"
	JumpReLU   = "jumprelu"
	BatchTopK  = "batchtopk"
	Matryoshka = "matryoshka_batchtopk"
)

// Version is the sae_lens_version written in metadata: the v6 layout of
// cfg.json that this package writes.
const Version = "6.0.0"

// Config is cfg.json. Keys SAELens knows and glia does not use are kept in
// Extra and written back unchanged.
type Config struct {
	Architecture         string
	DIn, DSAE            int
	DType                string // "float32", "float16", "bfloat16"
	Device               string
	ApplyBDecToInput     bool
	NormalizeActivations string // none | expected_average_only_in | constant_norm_rescale | layer_norm
	ReshapeActivations   string // none | hook_z
	K                    int    // topk
	RescaleActsByDecNorm bool   // topk: select and scale by ‖W_dec row‖
	Metadata             Metadata
	Extra                map[string]json.RawMessage
	// DOut is a transcoder's output width (d_out; 0 for an SAE) and Skip
	// says it has W_skip. Architecture then holds the activation (standard,
	// topk, jumprelu); cfg.json's name is ArchitectureName.
	DOut int
	Skip bool
}

// Metadata is cfg.json's "metadata" object (top-level keys before v6).
type Metadata struct {
	ModelName      string `json:"model_name"`
	HookName       string `json:"hook_name"`
	HookHeadIndex  *int   `json:"hook_head_index"`
	PrependBOS     bool   `json:"prepend_bos"`
	ContextSize    int    `json:"context_size"`
	DatasetPath    string `json:"dataset_path,omitempty"`
	SAELensVersion string `json:"sae_lens_version,omitempty"`
	NeuronpediaID  string `json:"neuronpedia_id,omitempty"`
	HookNameOut    string `json:"hook_name_out,omitempty"` // transcoders: the hook written
}

// metadataKeys are the top-level keys of a pre-v6 config that belong in
// Metadata (SAELens's LLM_METADATA_KEYS).
var metadataKeys = []string{"model_name", "hook_name", "hook_head_index", "prepend_bos", "context_size", "dataset_path", "sae_lens_version", "neuronpedia_id", "hook_name_out"}

// known are the top-level keys Config reads itself; everything else goes to
// Extra.
var known = map[string]bool{"architecture": true, "d_in": true, "d_sae": true, "dtype": true, "device": true,
	"apply_b_dec_to_input": true, "normalize_activations": true, "reshape_activations": true, "k": true,
	"rescale_acts_by_decoder_norm": true, "metadata": true, "hook_point": true, "hook_point_head_index": true,
	"activation_fn_str": true, "activation_fn": true, "activation_fn_kwargs": true, "d_out": true}

// ParseConfig reads cfg.json in SAELens's v6 form (metadata nested) or the
// flat form of earlier versions (hook_point, activation_fn_str, top-level
// model_name, normalize_activations as a boolean), as SAELens's
// handle_pre_6_0_config reads it. path only names the file in errors.
func ParseConfig(path string, data []byte) (Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, &Error{Path: path, Msg: "cfg.json is not a JSON object", Err: err}
	}
	if raw == nil {
		return Config{}, &Error{Path: path, Msg: "cfg.json is null"}
	}
	c := Config{Architecture: Standard, DType: "float32", Device: "cpu", ApplyBDecToInput: true,
		NormalizeActivations: "none", ReshapeActivations: "none", Metadata: Metadata{PrependBOS: true}, Extra: map[string]json.RawMessage{}}
	r := reader{path: path, raw: raw}
	// Flat (pre-v6) keys first; a nested metadata object overrides them.
	for _, k := range metadataKeys {
		if v, ok := raw[k]; ok {
			r.into(k, v, &c.Metadata, k)
		}
	}
	if v, ok := raw["hook_point"]; ok {
		r.into("hook_point", v, &c.Metadata, "hook_name")
	}
	if v, ok := raw["hook_point_head_index"]; ok {
		r.into("hook_point_head_index", v, &c.Metadata, "hook_head_index")
	}
	if v, ok := raw["metadata"]; ok && string(v) != "null" {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(v, &m); err != nil {
			r.fail("metadata", "is not an object", err)
		}
		for k, mv := range m {
			if slices.Contains(metadataKeys, k) {
				r.into("metadata."+k, mv, &c.Metadata, k)
			}
		}
	}
	r.str("architecture", &c.Architecture)
	r.transcoder(&c)
	fn := ""
	r.str("activation_fn_str", &fn)
	r.str("activation_fn", &fn)
	r.integer("d_in", &c.DIn)
	r.integer("d_sae", &c.DSAE)
	r.str("dtype", &c.DType)
	r.str("device", &c.Device)
	r.boolean("apply_b_dec_to_input", &c.ApplyBDecToInput)
	if v, ok := raw["normalize_activations"]; ok {
		var b bool
		if json.Unmarshal(v, &b) == nil { // pre-v6 boolean
			c.NormalizeActivations = map[bool]string{false: "none", true: "expected_average_only_in"}[b]
		} else if string(v) != "null" {
			r.str("normalize_activations", &c.NormalizeActivations)
		}
	}
	if strings.Contains(c.Metadata.HookName, "hook_z") {
		c.ReshapeActivations = "hook_z" // SAELens's default for pre-v6 hook_z SAEs
	}
	r.str("reshape_activations", &c.ReshapeActivations)
	r.integer("k", &c.K)
	if v, ok := raw["activation_fn_kwargs"]; ok && string(v) != "null" {
		var kw struct {
			K *float64 `json:"k"`
		}
		if err := json.Unmarshal(v, &kw); err != nil {
			r.fail("activation_fn_kwargs", "is not an object", err)
		}
		if kw.K != nil && fn == "topk" {
			c.Architecture = TopK
			c.K = int(*kw.K)
		}
	}
	r.boolean("rescale_acts_by_decoder_norm", &c.RescaleActsByDecNorm)
	if r.err != nil {
		return Config{}, r.err
	}
	for k, v := range raw {
		if !known[k] && !slices.Contains(metadataKeys, k) {
			c.Extra[k] = v
		}
	}
	return c, c.check(path)
}

// maxWidth bounds d_in and d_sae read from a file before anything is
// allocated from them (2^24 features of 2^16 dims is far beyond any SAE
// published).
const maxWidth = 1 << 24

func (c Config) check(path string) error {
	bad := func(key, msg string, args ...any) error {
		return &Error{Path: path, Key: key, Msg: fmt.Sprintf(msg, args...)}
	}
	switch {
	case c.DIn <= 0 || c.DIn > 1<<16:
		return bad("d_in", "is %d; it must lie in [1, 65536]", c.DIn)
	case c.DSAE <= 0 || c.DSAE > maxWidth:
		return bad("d_sae", "is %d; it must lie in [1, %d]", c.DSAE, maxWidth)
	}
	switch c.Architecture {
	case Standard, JumpReLU:
	case TopK:
		if c.K <= 0 || c.K > c.DSAE {
			return bad("k", "is %d; a topk SAE needs 1 ≤ k ≤ d_sae (%d)", c.K, c.DSAE)
		}
	default:
		return bad("architecture", "%q is not one glia reads (standard, topk, jumprelu)", c.Architecture)
	}
	if err := c.checkTranscoder(bad); err != nil {
		return err
	}
	switch c.NormalizeActivations {
	case "none", "expected_average_only_in", "constant_norm_rescale", "layer_norm":
	default:
		return bad("normalize_activations", "%q is not none, expected_average_only_in, constant_norm_rescale or layer_norm", c.NormalizeActivations)
	}
	switch c.DType {
	case "float32", "float16", "bfloat16", "float64", "torch.float32", "torch.float16", "torch.bfloat16":
	default:
		return bad("dtype", "%q is not a float type", c.DType)
	}
	return nil
}

// MarshalJSON writes the v6 form, as SAELens's save_inference_model does.
func (c Config) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	for k, v := range c.Extra {
		m[k] = v
	}
	m["architecture"] = c.ArchitectureName()
	m["d_in"] = c.DIn
	m["d_sae"] = c.DSAE
	m["dtype"] = c.DType
	m["device"] = c.Device
	m["apply_b_dec_to_input"] = c.ApplyBDecToInput
	m["normalize_activations"] = c.NormalizeActivations
	m["reshape_activations"] = c.ReshapeActivations
	if c.Architecture == TopK {
		m["k"] = c.K
		m["rescale_acts_by_decoder_norm"] = c.RescaleActsByDecNorm
	}
	if c.IsTranscoder() {
		m["d_out"] = c.DOut
	}
	m["metadata"] = c.Metadata
	return json.Marshal(m)
}

// reader collects the first error met while reading typed keys.
type reader struct {
	path string
	raw  map[string]json.RawMessage
	err  error
}

func (r *reader) fail(key, msg string, cause error) {
	if r.err == nil {
		r.err = &Error{Path: r.path, Key: key, Msg: msg, Err: cause}
	}
}

func (r *reader) str(key string, dst *string) {
	v, ok := r.raw[key]
	if !ok || string(v) == "null" {
		return
	}
	if err := json.Unmarshal(v, dst); err != nil {
		r.fail(key, "is not a string", err)
	}
}

func (r *reader) boolean(key string, dst *bool) {
	v, ok := r.raw[key]
	if !ok || string(v) == "null" {
		return
	}
	if err := json.Unmarshal(v, dst); err != nil {
		r.fail(key, "is not a boolean", err)
	}
}

// integer accepts 12 and 12.0 (Python writes floats for some ints).
func (r *reader) integer(key string, dst *int) {
	v, ok := r.raw[key]
	if !ok || string(v) == "null" {
		return
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<40 {
		r.fail(key, fmt.Sprintf("is %s, not an integer", clip(string(v))), nil)
		return
	}
	*dst = int(f)
}

// into decodes one metadata value into the field of m whose JSON name is
// field.
func (r *reader) into(key string, v json.RawMessage, m *Metadata, field string) {
	if string(v) == "null" && field != "hook_head_index" {
		return
	}
	obj, _ := json.Marshal(map[string]json.RawMessage{field: v})
	if err := json.Unmarshal(obj, m); err != nil {
		r.fail(key, "has the wrong type", err)
	}
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
