// Package neox is EleutherAI's GPT-NeoX decoder (model_type "gpt_neox":
// Pythia, GPT-NeoX-20B, ...):
//
//	h₀ = E_in[ids]
//	[q | k | v] = W_qkv LN₁(hₗ) + b                laid out per head: [head, (q, k, v), d_head]
//	a = W_dense Attn(rot(q), rot(k), v) + b        rotary on the first partial_rotary_factor·d_head dims
//	parallel:   hₗ₊₁ = hₗ + a + MLP(LN₂(hₗ))       (use_parallel_residual, the default)
//	sequential: hₗ' = hₗ + a;  hₗ₊₁ = hₗ' + MLP(LN₂(hₗ'))
//	MLP(x) = W_4h→h act(W_h→4h x + b) + b
//	logits = W_out LN_f(h_L)
//
// LayerNorms carry biases; q, k, v and the attention output have biases when
// attention_bias is true (the default). Rotary parameters come from
// rope_parameters, or from older configs' rotary_pct and rotary_emb_base.
//
// Hook points follow TransformerLens: ln1 is input_layernorm, ln2
// post_attention_layernorm, mlp.hook_pre the input of the activation. A
// parallel block has no residual between attention and MLP, so, as in
// TransformerLens, it records no hook_resid_mid; a sequential block does.
package neox

import (
	"fmt"
	"math"
	"strings"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/hook"
	. "github.com/gomlx/gomlx/core/graph"
)

func init() { arch.Register("gpt_neox", New) }

// Model is one configured GPT-NeoX checkpoint.
type Model struct {
	dims     arch.Dims
	eps      float64
	act      func(*Node) *Node
	rope     arch.Rope
	bias     bool // attention_bias: q, k, v and dense biases
	parallel bool // use_parallel_residual
	tied     bool
}

// New reads a GPT-NeoX config.json.
func New(c *arch.Config) (arch.Family, error) {
	heads := c.Require("num_attention_heads")
	d := arch.Dims{
		Layers:  c.Require("num_hidden_layers"),
		DModel:  c.Require("hidden_size"),
		Heads:   heads,
		KVHeads: heads,
		DMLP:    c.Require("intermediate_size"),
		Vocab:   c.Require("vocab_size"),
		MaxCtx:  c.Int("max_position_embeddings", 2048),
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	if d.DModel%heads != 0 {
		return nil, fmt.Errorf("hidden_size %d is not a multiple of num_attention_heads %d", d.DModel, heads)
	}
	d.DHead = d.DModel / heads
	rp, err := ropeParams(c)
	if err != nil {
		return nil, err
	}
	m := &Model{
		dims:     d,
		eps:      c.Float("layer_norm_eps", 1e-5),
		act:      arch.Activation(c, c.String("hidden_act", "gelu")),
		rope:     arch.NewRope(c, rp, d.DHead),
		bias:     c.Bool("attention_bias", true),
		parallel: c.Bool("use_parallel_residual", true),
		tied:     c.Bool("tie_word_embeddings", false),
	}
	return m, c.Err()
}

// ropeParams reads the rotary parameters as transformers 5 does: rope_scaling
// (older configs) or rope_parameters, with rope_theta defaulting to
// rotary_emb_base and partial_rotary_factor overridden by rotary_pct when a
// config has it. GPT-NeoX rotates a quarter of each head by default.
// (transformers 5 resets partial_rotary_factor to 0.25 when reloading a
// config without rotary_pct; glia keeps the saved rope_parameters value,
// which is what the model that wrote the config used.)
func ropeParams(c *arch.Config) (*arch.Config, error) {
	key := "rope_parameters"
	if c.Has("rope_scaling") {
		key = "rope_scaling"
	}
	m := map[string]any{}
	if raw := c.Raw(key); raw != nil {
		p, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("config key %q: want an object, got %v", key, raw)
		}
		for k, v := range p {
			if v != nil {
				m[k] = v
			}
		}
	}
	if _, ok := m["rope_type"]; !ok {
		m["rope_type"] = "default"
		if t, ok := m["type"]; ok {
			m["rope_type"] = t
		}
	}
	if _, ok := m["rope_theta"]; !ok {
		m["rope_theta"] = c.Float("rotary_emb_base", c.Float("rope_theta", 10000))
	}
	if c.Has("rotary_pct") {
		m["partial_rotary_factor"] = c.Float("rotary_pct", 0.25)
	} else if _, ok := m["partial_rotary_factor"]; !ok {
		m["partial_rotary_factor"] = c.Float("partial_rotary_factor", 0.25)
	}
	return arch.NewConfig(c.Source+":rope", m), nil
}

func (m *Model) Dims() arch.Dims { return m.dims }

func (m *Model) Weights() []arch.WeightSpec {
	d := m.dims
	ws := []arch.WeightSpec{
		{Name: "gpt_neox.embed_in.weight", Shape: []int{d.Vocab, d.DModel}},
		{Name: "gpt_neox.final_layer_norm.weight", Shape: []int{d.DModel}},
		{Name: "gpt_neox.final_layer_norm.bias", Shape: []int{d.DModel}},
	}
	if !m.tied {
		ws = append(ws, arch.WeightSpec{Name: "embed_out.weight", Shape: []int{d.Vocab, d.DModel}})
	}
	for l := range d.Layers {
		p := fmt.Sprintf("gpt_neox.layers.%d.", l)
		add := func(name string, shape ...int) { ws = append(ws, arch.WeightSpec{Name: p + name, Shape: shape}) }
		add("input_layernorm.weight", d.DModel)
		add("input_layernorm.bias", d.DModel)
		add("post_attention_layernorm.weight", d.DModel)
		add("post_attention_layernorm.bias", d.DModel)
		add("attention.query_key_value.weight", 3*d.DModel, d.DModel)
		add("attention.dense.weight", d.DModel, d.DModel)
		if m.bias {
			add("attention.query_key_value.bias", 3*d.DModel)
			add("attention.dense.bias", d.DModel)
		}
		add("mlp.dense_h_to_4h.weight", d.DMLP, d.DModel)
		add("mlp.dense_h_to_4h.bias", d.DMLP)
		add("mlp.dense_4h_to_h.weight", d.DModel, d.DMLP)
		add("mlp.dense_4h_to_h.bias", d.DModel)
	}
	return ws
}

// Unused: buffers older checkpoints store (the causal mask attention.bias,
// attention.masked_bias, rotary inv_freq), and embed_out when tied.
func (m *Model) Unused(name string) bool {
	if strings.HasPrefix(name, "gpt_neox.layers.") && (strings.HasSuffix(name, ".attention.bias") || strings.HasSuffix(name, ".attention.masked_bias")) {
		return true
	}
	return strings.HasSuffix(name, "rotary_emb.inv_freq") || (m.tied && name == "embed_out.weight")
}

// Lens: the MLP output is dense_4h_to_h, a Linear [d_model, d_mlp]; with the
// parallel residual it joins the residual directly all the same.
// final_layer_norm is a LayerNorm, so it centres.
func (m *Model) Lens() arch.Lens {
	l := arch.Lens{MLPOut: "gpt_neox.layers.%d.mlp.dense_4h_to_h.weight", Unembedding: "embed_out.weight", FinalNorm: "gpt_neox.final_layer_norm.weight", Centred: true,
		AttnOut: "gpt_neox.layers.%d.attention.dense.weight", MLPOutBias: "gpt_neox.layers.%d.mlp.dense_4h_to_h.bias", FinalNormBias: "gpt_neox.final_layer_norm.bias"}
	if m.bias {
		l.AttnOutBias = "gpt_neox.layers.%d.attention.dense.bias"
	}
	if m.tied {
		l.Unembedding = "gpt_neox.embed_in.weight"
	}
	l.FinalNormEps = m.eps
	return l
}

func (m *Model) Forward(w arch.Weights, in arch.Inputs, hp *hook.Points) *Node {
	d := m.dims
	bias := func(name string) *Node {
		if m.bias {
			return w(name)
		}
		return nil
	}
	x := hp.At(arch.Embed(w("gpt_neox.embed_in.weight"), in.IDs), "hook_embed") // [batch, pos, d_model]
	cos, sin := m.rope.CosSin(in.Pos)
	for l := range d.Layers {
		p := fmt.Sprintf("gpt_neox.layers.%d.", l)
		x = hp.At(x, "blocks.%d.hook_resid_pre", l) // [batch, pos, d_model]
		h := arch.LayerNorm(hp, fmt.Sprintf("blocks.%d.ln1", l), x, w(p+"input_layernorm.weight"), w(p+"input_layernorm.bias"), m.eps)

		qkv := arch.Linear(h, w(p+"attention.query_key_value.weight"), bias(p+"attention.query_key_value.bias")) // [batch, pos, head·3·d_head]
		qkv = arch.SplitHeads(qkv, d.Heads)                                                                      // [batch, pos, head, 3·d_head]
		q := hp.At(SliceAxis(qkv, 3, AxisRange(0, d.DHead)), "blocks.%d.attn.hook_q", l)                         // [batch, pos, head, d_head]
		k := hp.At(SliceAxis(qkv, 3, AxisRange(d.DHead, 2*d.DHead)), "blocks.%d.attn.hook_k", l)                 // [batch, pos, head, d_head]
		v := hp.At(SliceAxis(qkv, 3, AxisRange(2*d.DHead, 3*d.DHead)), "blocks.%d.attn.hook_v", l)               // [batch, pos, head, d_head]
		q = hp.At(m.rope.Apply(q, cos, sin), "blocks.%d.attn.hook_rot_q", l)                                     // [batch, pos, head, d_head]
		k = hp.At(m.rope.Apply(k, cos, sin), "blocks.%d.attn.hook_rot_k", l)                                     // [batch, pos, head, d_head]
		z := arch.Attention(hp, l, q, k, v, in, arch.AttnOpts{Scale: 1 / math.Sqrt(float64(d.DHead))})
		attnOut := hp.At(arch.Linear(arch.MergeHeads(z), w(p+"attention.dense.weight"), bias(p+"attention.dense.bias")), "blocks.%d.hook_attn_out", l) // [batch, pos, d_model]

		mlpIn := x
		if !m.parallel {
			x = hp.At(Add(x, attnOut), "blocks.%d.hook_resid_mid", l) // [batch, pos, d_model]
			mlpIn = x
		}
		h = arch.LayerNorm(hp, fmt.Sprintf("blocks.%d.ln2", l), mlpIn, w(p+"post_attention_layernorm.weight"), w(p+"post_attention_layernorm.bias"), m.eps)
		pre := hp.At(arch.Linear(h, w(p+"mlp.dense_h_to_4h.weight"), w(p+"mlp.dense_h_to_4h.bias")), "blocks.%d.mlp.hook_pre", l)       // [batch, pos, d_mlp]
		post := hp.At(m.act(pre), "blocks.%d.mlp.hook_post", l)                                                                         // [batch, pos, d_mlp]
		mlpOut := hp.At(arch.Linear(post, w(p+"mlp.dense_4h_to_h.weight"), w(p+"mlp.dense_4h_to_h.bias")), "blocks.%d.hook_mlp_out", l) // [batch, pos, d_model]
		if m.parallel {
			x = Add(x, Add(mlpOut, attnOut)) // transformers: mlp_output + attn_output + hidden_states
		} else {
			x = Add(x, mlpOut)
		}
		x = hp.At(x, "blocks.%d.hook_resid_post", l) // [batch, pos, d_model]
	}
	x = arch.LayerNorm(hp, "ln_final", x, w("gpt_neox.final_layer_norm.weight"), w("gpt_neox.final_layer_norm.bias"), m.eps)
	unembed := "embed_out.weight"
	if m.tied {
		unembed = "gpt_neox.embed_in.weight"
	}
	return arch.Linear(x, w(unembed), nil) // [batch, pos, d_vocab]
}
