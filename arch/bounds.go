package arch

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Every size in a config is checked here, against the weights it came with
// and against absolute bounds, before a family allocates anything from it: a
// hostile num_hidden_layers or head_dim would otherwise cost gigabytes (or a
// makeslice panic) before the weight shapes disagree.

// MaxLayers and MaxDim bound every config, with weights or without (a model
// of random weights): far beyond the deepest and widest released models, yet
// small enough that per-layer and rotary tables stay megabytes.
const (
	MaxLayers = 1 << 12
	MaxDim    = 1 << 24
)

// maxCount bounds sizes that size no table (context lengths); the GGUF
// reader clamps context_length to it too.
const maxCount = 1 << 40

// Limits are what the weights allow a config to declare.
type Limits struct {
	Layers int // distinct layer indices among the tensor names
	Dim    int // the largest dimension of any tensor
}

// Shapes is the part of a tensor source that Limits are computed from
// (format.TensorSource has it).
type Shapes interface {
	Names() []string
	Shape(name string) ([]int, bool)
}

// LimitsOf reads the limits a set of weights puts on its config. A layer
// index is the first all-digit component of a dotted tensor name
// (model.layers.3.mlp..., h.3.attn..., blk.3...); weights without one
// count as a single layer.
func LimitsOf(s Shapes) Limits {
	var l Limits
	layers := map[string]bool{}
	for _, n := range s.Names() {
		for part := range strings.SplitSeq(n, ".") {
			if isDigits(part) {
				layers[part] = true
				break
			}
		}
		shape, _ := s.Shape(n)
		for _, d := range shape {
			l.Dim = max(l.Dim, d)
		}
	}
	l.Layers = max(len(layers), 1) // unnumbered weights (an ONNX graph's) are one layer
	return l
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// Bound makes the config answer to the weights it will be loaded with: New
// refuses a layer count or dimension that they cannot hold.
func (c *Config) Bound(l Limits) { c.limits, c.bounded = l, true }

func (c *Config) maxLayers() int {
	if c.bounded {
		return min(c.limits.Layers, MaxLayers)
	}
	return MaxLayers
}

// MaxDim is the largest tensor dimension the config may declare: the
// weights' largest, once Bound. Families whose sizes sit in nested objects
// the key tables do not reach (the CNN's layer list) check them against it.
func (c *Config) MaxDim() int { return c.maxDim() }

func (c *Config) maxDim() int {
	if c.bounded {
		return min(c.limits.Dim, MaxDim)
	}
	return MaxDim
}

// Sentinel kinds carried by *ConfigError; test with errors.Is.
var (
	ErrConfigType  = errors.New("wrong type")         // a size that is not a number, or not an integer
	ErrConfigRange = errors.New("value out of range") // zero, negative, too large or beyond the weights
)

// ConfigError is what the config checks return. It names the file the
// config came from (config.json, or the GGUF or llama2.c file it was read
// from), the key (dotted inside objects: rope_scaling.factor) and the value
// as written there.
type ConfigError struct {
	Path  string
	Key   string
	Value string // as written; a Dims field's value for Key "n_layers" etc.
	Kind  error  // ErrConfigType or ErrConfigRange
	Msg   string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("arch: %s: %s %s %s", e.Path, e.Key, e.Value, e.Msg)
}

func (e *ConfigError) Unwrap() error { return e.Kind }

// rule is what a key's value must be.
type rule int

const (
	ruleLayers   rule = iota // integer in [1, layers the weights hold]
	ruleDim                  // integer in [1, largest tensor dimension]
	ruleCount                // positive integer that sizes nothing (a context length)
	rulePositive             // finite number > 0: epsilons, rotary bases and scaling factors
	ruleFraction             // number in (0, 1]
)

// topRules covers the keys every family reads its sizes and constants from.
var topRules = map[string]rule{
	"num_hidden_layers": ruleLayers, "n_layer": ruleLayers,
	"hidden_size": ruleDim, "n_embd": ruleDim, "intermediate_size": ruleDim, "n_inner": ruleDim,
	"num_attention_heads": ruleDim, "n_head": ruleDim, "num_key_value_heads": ruleDim, "head_dim": ruleDim,
	"vocab_size": ruleDim, "n_positions": ruleDim,
	"max_position_embeddings": ruleCount,
	"rms_norm_eps":            rulePositive, "layer_norm_eps": rulePositive, "layer_norm_epsilon": rulePositive,
	"rope_theta": rulePositive, "rotary_emb_base": rulePositive, "rope_local_base_freq": rulePositive,
	"query_pre_attn_scalar": rulePositive,
	"partial_rotary_factor": ruleFraction, "rotary_pct": ruleFraction,
}

// ropeRules covers rope_scaling, rope_parameters and its per-layer-type objects.
var ropeRules = map[string]rule{
	"rope_theta": rulePositive, "factor": rulePositive, "low_freq_factor": rulePositive, "high_freq_factor": rulePositive,
	"original_max_position_embeddings": ruleCount, "partial_rotary_factor": ruleFraction,
}

// check validates every size and constant the config declares, before any
// family reads it.
func (c *Config) check() error {
	var errs []error
	apply := func(prefix string, m map[string]any, rules map[string]rule) {
		for _, key := range sortedKeys(m) {
			r, ok := rules[key]
			if !ok || m[key] == nil {
				continue
			}
			if (key == "intermediate_size" || key == "n_inner") && prefix == "" && c.Bool("attn_only", false) {
				continue // unread: an attention-only model has no MLP weights to bound it
			}
			if msg, kind := c.checkValue(m[key], r); msg != "" {
				errs = append(errs, &ConfigError{Path: c.Source, Key: prefix + key, Value: valueText(m[key]), Kind: kind, Msg: msg})
			}
		}
	}
	apply("", c.m, topRules)
	for _, key := range []string{"rope_scaling", "rope_parameters"} {
		obj, ok := c.m[key].(map[string]any)
		if !ok {
			continue
		}
		apply(key+".", obj, ropeRules)
		for _, sub := range sortedKeys(obj) { // transformers 5: one object per layer type
			if o, ok := obj[sub].(map[string]any); ok {
				apply(key+"."+sub+".", o, ropeRules)
			}
		}
	}
	if len(errs) == 0 {
		errs = append(errs, c.checkProducts()...)
	}
	return errors.Join(errs...)
}

// checkValue returns what is wrong with v under rule r, or "".
func (c *Config) checkValue(v any, r rule) (string, error) {
	n, ok := v.(json.Number)
	if !ok {
		return "is not a number", ErrConfigType
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return "is not a number", ErrConfigType
	}
	switch r {
	case rulePositive:
		if !(f > 0) || math.IsInf(f, 0) {
			return "must be a positive finite number", ErrConfigRange
		}
		return "", nil
	case ruleFraction:
		if !(f > 0 && f <= 1) {
			return "must be in (0, 1]", ErrConfigRange
		}
		return "", nil
	}
	if f != math.Trunc(f) {
		return "is not an integer", ErrConfigType
	}
	hi, beyond := maxCount, "" // beyond: the message when the weights set the bound
	switch r {
	case ruleLayers:
		hi, beyond = c.maxLayers(), "is more than the %d layers the weights hold"
	case ruleDim:
		hi, beyond = c.maxDim(), "is larger than any tensor dimension in the weights (at most %d)"
	}
	switch {
	case f >= 1 && f <= float64(hi):
		return "", nil
	case c.bounded && beyond != "" && f > float64(hi):
		return fmt.Sprintf(beyond, hi), ErrConfigRange
	}
	return fmt.Sprintf("is out of range [1, %d]", hi), ErrConfigRange
}

// checkProducts checks what each key allows alone but not together: the
// query heads' total width is a tensor dimension (q_proj's rows).
func (c *Config) checkProducts() []error {
	heads, hd := c.m["num_attention_heads"], c.m["head_dim"]
	if heads == nil || hd == nil {
		return nil
	}
	h, _ := toInt(heads.(json.Number))
	d, _ := toInt(hd.(json.Number))
	if h*d > c.maxDim() { // each ≤ MaxDim = 2^24: no overflow
		return []error{&ConfigError{Path: c.Source, Key: "head_dim", Value: valueText(hd), Kind: ErrConfigRange,
			Msg: fmt.Sprintf("times num_attention_heads %s is %d, larger than any tensor dimension (at most %d)", valueText(heads), h*d, c.maxDim())}}
	}
	return nil
}

// checkDims checks the sizes a family derived (d_head from hidden_size, or
// from a key the tables do not know) before the engine lists its weights.
func (c *Config) checkDims(d Dims) error {
	var errs []error
	bad := func(name string, v, hi int) {
		errs = append(errs, &ConfigError{Path: c.Source, Key: name, Value: strconv.Itoa(v), Kind: ErrConfigRange,
			Msg: fmt.Sprintf("(as the family reads the config) is out of range [1, %d] for these weights", hi)})
	}
	if d.Layers < 1 || d.Layers > c.maxLayers() {
		bad("n_layers", d.Layers, c.maxLayers())
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"d_model", d.DModel}, {"n_heads", d.Heads}, {"n_key_value_heads", d.KVHeads}, {"d_head", d.DHead}, {"d_mlp", d.DMLP}, {"d_vocab", d.Vocab}} {
		if f.name == "d_mlp" && f.v == 0 && c.Bool("attn_only", false) {
			continue // an attention-only model has no MLP
		}
		if noAttn := d.Heads == 0 && d.KVHeads == 0 && d.DHead == 0; noAttn && f.v == 0 &&
			(f.name == "n_heads" || f.name == "n_key_value_heads" || f.name == "d_head" || f.name == "d_mlp") {
			continue // a convolutional network has no attention and no MLP blocks
		}
		if f.v < 1 || f.v > c.maxDim() {
			bad(f.name, f.v, c.maxDim())
		}
	}
	if len(errs) == 0 && d.Heads*d.DHead > c.maxDim() { // each ≤ MaxDim = 2^24: no overflow
		bad("n_heads×d_head", d.Heads*d.DHead, c.maxDim())
	}
	return errors.Join(errs...)
}

// valueText is a value as written in the file.
func valueText(v any) string {
	if n, ok := v.(json.Number); ok {
		return string(n)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
