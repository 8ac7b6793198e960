package arch

import (
	"fmt"

	"github.com/glia-dev/glia/hook"
	. "github.com/gomlx/gomlx/core/graph"
)

// Llama-style checkpoints (Llama, Mistral, Qwen, OLMo 2, Phi-3, Gemma) share
// their config keys and top-level weights: model.embed_tokens, model.norm and
// lm_head (absent when tied to the embedding), with the layers' weights under
// model.layers.{l}.

// LlamaDims reads the dimensions of a Llama-style config.json. head_dim
// defaults to hidden_size / num_attention_heads, num_key_value_heads to
// num_attention_heads (which it must divide), max_position_embeddings to
// maxCtx.
func LlamaDims(c *Config, maxCtx int) (Dims, error) {
	heads := c.Require("num_attention_heads")
	d := Dims{
		Layers:  c.Require("num_hidden_layers"),
		DModel:  c.Require("hidden_size"),
		Heads:   heads,
		KVHeads: c.Int("num_key_value_heads", heads),
		DMLP:    c.Require("intermediate_size"),
		Vocab:   c.Require("vocab_size"),
		MaxCtx:  c.Int("max_position_embeddings", maxCtx),
	}
	if err := c.Err(); err != nil {
		return d, err
	}
	d.DHead = c.Int("head_dim", d.DModel/heads)
	if d.KVHeads <= 0 || heads%d.KVHeads != 0 {
		return d, fmt.Errorf("num_attention_heads %d is not a multiple of num_key_value_heads %d", heads, d.KVHeads)
	}
	return d, nil
}

// LlamaWeights lists a Llama-style checkpoint's weights: the embedding, the
// final norm, lm_head unless tied, then for each layer those layer adds, by
// their names under model.layers.{l}.
func LlamaWeights(d Dims, tied bool, layer func(add func(name string, shape ...int))) []WeightSpec {
	ws := []WeightSpec{{Name: "model.embed_tokens.weight", Shape: []int{d.Vocab, d.DModel}}, {Name: "model.norm.weight", Shape: []int{d.DModel}}}
	if !tied {
		ws = append(ws, WeightSpec{Name: "lm_head.weight", Shape: []int{d.Vocab, d.DModel}})
	}
	for l := range d.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		layer(func(name string, shape ...int) { ws = append(ws, WeightSpec{Name: p + name, Shape: shape}) })
	}
	return ws
}

// LlamaUnembed is a Llama-style model's head: the final RMSNorm (model.norm,
// gain offset as for RMSNorm, hooked as ln_final), then the unembedding
// (lm_head, or the embedding when tied). x is [batch, pos, d_model]; the
// result [batch, pos, d_vocab].
func LlamaUnembed(hp *hook.Points, w Weights, x *Node, eps, offset float64, tied bool) *Node {
	x = RMSNorm(hp, "ln_final", x, w("model.norm.weight"), eps, offset)
	return Linear(x, w(llamaUnembedding(tied)), nil)
}

// llamaUnembedding is lm_head, or the embedding when tied to it.
func llamaUnembedding(tied bool) string {
	if tied {
		return "model.embed_tokens.weight"
	}
	return "lm_head.weight"
}

// LlamaLens is a Llama-style model's logit lens: down_proj, a Linear
// [d_model, d_mlp]; o_proj, a Linear [d_model, heads·d_head]; model.norm, an
// RMSNorm; and the unembedding of LlamaUnembed. Families with biases, a
// post-norm or a soft-cap add theirs.
func LlamaLens(tied bool) Lens {
	return Lens{MLPOut: "model.layers.%d.mlp.down_proj.weight", Unembedding: llamaUnembedding(tied), FinalNorm: "model.norm.weight",
		AttnOut: "model.layers.%d.self_attn.o_proj.weight"}
}

// LlamaAttnWeights adds a layer's q_proj, k_proj, v_proj and o_proj weights
// (grouped-query shapes from d), then the q, k and v biases if qkvBias, then
// the o_proj bias if oBias.
func LlamaAttnWeights(add func(name string, shape ...int), d Dims, qkvBias, oBias bool) {
	qd, kvd := d.Heads*d.DHead, d.KVHeads*d.DHead
	add("self_attn.q_proj.weight", qd, d.DModel)
	add("self_attn.k_proj.weight", kvd, d.DModel)
	add("self_attn.v_proj.weight", kvd, d.DModel)
	add("self_attn.o_proj.weight", d.DModel, qd)
	if qkvBias {
		add("self_attn.q_proj.bias", qd)
		add("self_attn.k_proj.bias", kvd)
		add("self_attn.v_proj.bias", kvd)
	}
	if oBias {
		add("self_attn.o_proj.bias", d.DModel)
	}
}

// LlamaOutBias is o_proj's bias, "" without attention_bias.
func LlamaOutBias(on bool) string {
	if on {
		return "model.layers.%d.self_attn.o_proj.bias"
	}
	return ""
}
