package gguf

import (
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"

	"github.com/glia-dev/glia/format"
)

var globalNames = map[string]string{
	"token_embd.weight":  "model.embed_tokens.weight",
	"output_norm.weight": "model.norm.weight",
	"output.weight":      "lm_head.weight",
}

var layerNames = map[string]string{
	"attn_norm":   "input_layernorm",
	"attn_q":      "self_attn.q_proj",
	"attn_k":      "self_attn.k_proj",
	"attn_v":      "self_attn.v_proj",
	"attn_output": "self_attn.o_proj",
	"ffn_norm":    "post_attention_layernorm",
	"ffn_gate":    "mlp.gate_proj",
	"ffn_up":      "mlp.up_proj",
	"ffn_down":    "mlp.down_proj",
}

var blkRe = regexp.MustCompile(`^blk\.(0|[1-9][0-9]{0,5})\.([a-z_]+)\.(weight|bias)$`)

type mapped struct {
	src   string
	heads int // >0: undo llama.cpp's q/k row permutation with this many heads
}

// LlamaView presents a llama-architecture GGUF with Hugging Face
// LlamaForCausalLM tensor names and layouts. Closing it closes the File.
type LlamaView struct {
	f     *File
	m     map[string]mapped
	names []string
}

var _ format.TensorSource = (*LlamaView)(nil)

// Llama returns a Hugging Face-named view of a "llama" (or "mistral") GGUF
// and a config map equivalent to its config.json. q_proj and k_proj rows are
// un-permuted from llama.cpp's interleaved rotary layout to rotate_half.
// Tensors without a Hugging Face counterpart keep their GGUF names.
func (f *File) Llama() (format.TensorSource, map[string]any, error) {
	v, cfg, err := f.LlamaView()
	if err != nil {
		return nil, nil, err
	}
	return v, cfg, nil
}

// LlamaView is Llama with the concrete view type.
func (f *File) LlamaView() (*LlamaView, map[string]any, error) {
	arch, _, err := f.String("general.architecture")
	if err != nil {
		return nil, nil, err
	}
	if arch != "llama" && arch != "mistral" {
		return nil, nil, keyErr(f.path, "general.architecture", -1, ErrUnsupported, nil, "architecture %q is not llama or mistral", arch)
	}
	p := arch + "."
	req := func(key string) (int, error) {
		v, ok, err := f.Uint(p + key)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, keyErr(f.path, p+key, -1, ErrNotFound, nil, "required key is missing")
		}
		if v == 0 || v > 1<<31 {
			return 0, keyErr(f.path, p+key, -1, ErrFormat, nil, "value %d out of range", v)
		}
		return int(v), nil
	}
	hidden, err := req("embedding_length")
	if err != nil {
		return nil, nil, err
	}
	ffn, err := req("feed_forward_length")
	if err != nil {
		return nil, nil, err
	}
	layers, err := req("block_count")
	if err != nil {
		return nil, nil, err
	}
	// Sizes are bounded by the tensors, as a config.json's are (the engine
	// checks the rest of the config the same way): no per-layer or rotary
	// table is sized from a number the file does not back.
	blocks, maxDim := map[string]bool{}, 0
	for n, t := range f.tensors {
		if m := blkRe.FindStringSubmatch(n); m != nil {
			blocks[m[1]] = true
		}
		for _, d := range t.Shape {
			maxDim = max(maxDim, d)
		}
	}
	if layers > len(blocks) {
		return nil, nil, keyErr(f.path, p+"block_count", -1, ErrFormat, nil, "%d blocks but the file has tensors for %d", layers, len(blocks))
	}
	heads, err := req("attention.head_count")
	if err != nil {
		return nil, nil, err
	}
	kvHeads := heads
	if _, ok := f.kv[p+"attention.head_count_kv"]; ok {
		if kvHeads, err = req("attention.head_count_kv"); err != nil {
			return nil, nil, err
		}
	}
	if heads%kvHeads != 0 {
		return nil, nil, keyErr(f.path, p+"attention.head_count_kv", -1, ErrFormat, nil, "head_count %d is not a multiple of head_count_kv %d", heads, kvHeads)
	}
	cfg := map[string]any{
		"model_type":          "llama",
		"architectures":       []string{"LlamaForCausalLM"},
		"hidden_act":          "silu",
		"hidden_size":         hidden,
		"intermediate_size":   ffn,
		"num_hidden_layers":   layers,
		"num_attention_heads": heads,
		"num_key_value_heads": kvHeads,
		"rms_norm_eps":        1e-5,
		"rope_theta":          10000.0,
		"torch_dtype":         "float32",
	}
	if arch == "mistral" {
		cfg["architectures"] = []string{"MistralForCausalLM"}
	}
	for _, k := range []struct{ gguf, hf string }{
		{"attention.layer_norm_rms_epsilon", "rms_norm_eps"},
		{"rope.freq_base", "rope_theta"},
	} {
		if v, ok, err := f.Float(p + k.gguf); err != nil {
			return nil, nil, err
		} else if ok && !(v > 0 && !math.IsInf(v, 0)) { // zero, negative or NaN: every activation NaN
			return nil, nil, keyErr(f.path, p+k.gguf, -1, ErrFormat, nil, "value %v must be a positive finite number", v)
		} else if ok {
			cfg[k.hf] = v
		}
	}
	if v, ok, err := f.Uint(p + "context_length"); err != nil {
		return nil, nil, err
	} else if ok {
		cfg["max_position_embeddings"] = int(min(v, 1<<40))
	}
	if v, ok, err := f.Uint(p + "attention.key_length"); err != nil {
		return nil, nil, err
	} else if ok && (v == 0 || v > uint64(maxDim)) {
		return nil, nil, keyErr(f.path, p+"attention.key_length", -1, ErrFormat, nil, "value %d is out of range [1, %d] (the largest tensor dimension)", v, maxDim)
	} else if ok {
		cfg["head_dim"] = int(v)
	}
	if v, ok, err := f.Uint(p + "attention.sliding_window"); err == nil && ok {
		cfg["sliding_window"] = int(min(v, 1<<40))
	}
	for _, k := range []struct{ gguf, hf string }{
		{"tokenizer.ggml.bos_token_id", "bos_token_id"},
		{"tokenizer.ggml.eos_token_id", "eos_token_id"},
		{"tokenizer.ggml.padding_token_id", "pad_token_id"},
	} {
		if v, ok, err := f.Uint(k.gguf); err != nil {
			return nil, nil, err
		} else if ok && v < math.MaxUint32 { // llama.cpp stores "none" as -1
			cfg[k.hf] = int(v)
		}
	}
	emb, ok := f.tensors["token_embd.weight"]
	if !ok {
		return nil, nil, newErr(f.path, "token_embd.weight", -1, ErrNotFound, nil, "no token embedding")
	}
	if len(emb.Shape) != 2 || emb.Shape[1] != hidden {
		return nil, nil, newErr(f.path, "token_embd.weight", emb.Offset, ErrFormat, nil, "shape %v, want [vocab, %d]", emb.Shape, hidden)
	}
	cfg["vocab_size"] = emb.Shape[0]
	_, hasOutput := f.tensors["output.weight"]
	cfg["tie_word_embeddings"] = !hasOutput

	v := &LlamaView{f: f, m: map[string]mapped{}}
	for _, src := range f.names {
		dst := src
		hd := 0
		if g, ok := globalNames[src]; ok {
			dst = g
		} else if m := blkRe.FindStringSubmatch(src); m != nil {
			if hf, ok := layerNames[m[2]]; ok {
				n, _ := strconv.Atoi(m[1])
				if n >= layers {
					return nil, nil, newErr(f.path, src, -1, ErrFormat, nil, "layer %d but block_count is %d", n, layers)
				}
				dst = "model.layers." + m[1] + "." + hf + "." + m[3]
				switch m[2] {
				case "attn_q":
					hd = heads
				case "attn_k":
					hd = kvHeads
				}
			}
		}
		if hd > 0 {
			t := f.tensors[src]
			rows := 0
			if len(t.Shape) > 0 {
				rows = t.Shape[0]
			}
			if len(t.Shape) == 0 || len(t.Shape) > 2 || rows == 0 || rows%hd != 0 || (rows/hd)%2 != 0 {
				return nil, nil, newErr(f.path, src, t.Offset, ErrFormat, nil, "shape %v cannot be split into %d heads of even size", t.Shape, hd)
			}
		}
		if prev, dup := v.m[dst]; dup {
			return nil, nil, newErr(f.path, src, -1, ErrFormat, nil, "maps to %q like %q", dst, prev.src)
		}
		v.m[dst] = mapped{src: src, heads: hd}
		v.names = append(v.names, dst)
	}
	sort.Strings(v.names)
	return v, cfg, nil
}

// File is the underlying GGUF file.
func (v *LlamaView) File() *File { return v.f }

// Source returns the GGUF name behind a Hugging Face name.
func (v *LlamaView) Source(name string) (string, bool) {
	m, ok := v.m[name]
	return m.src, ok
}

// Names lists the Hugging Face names, sorted.
func (v *LlamaView) Names() []string { return slices.Clone(v.names) }

// Shape returns a tensor's row-major shape.
func (v *LlamaView) Shape(name string) ([]int, bool) {
	m, ok := v.m[name]
	if !ok {
		return nil, false
	}
	return v.f.Shape(m.src)
}

// Float32 reads a tensor by Hugging Face name.
func (v *LlamaView) Float32(name string) ([]float32, error) {
	m, ok := v.m[name]
	if !ok {
		return nil, newErr(v.f.path, name, -1, ErrNotFound, nil, "no such tensor")
	}
	d, err := v.f.Float32(m.src)
	if err != nil {
		return nil, err
	}
	if m.heads > 0 {
		if rows := v.f.tensors[m.src].Shape[0]; rows > 0 {
			format.UnpermuteRows(d, rows, len(d)/rows, m.heads)
		}
	}
	return d, nil
}

// Close closes the underlying file.
func (v *LlamaView) Close() error { return v.f.Close() }
