// Package olmo2 is AI2's OLMo 2 decoder (model_type "olmo2"). It normalises
// the outputs of attention and MLP rather than their inputs, and q and k over
// their full projection width before splitting heads:
//
//	h₀ = E[ids]
//	q = RMSNorm_q(W_Q hₗ), k = RMSNorm_k(W_K hₗ), v = W_V hₗ
//	hₗ' = hₗ + RMSNorm₁(W_O Attn(rot(q), rot(k), v))
//	hₗ₊₁ = hₗ' + RMSNorm₂(W_down(act(W_gate hₗ') ⊙ W_up hₗ'))
//	logits = W_U RMSNorm(h_L)
//
// Hook points: there is no ln1 or ln2 (nothing normalises a block's
// inputs). The output norms are named as TransformerLens names Gemma 2's:
// ln1_post (post_attention_layernorm) and ln2_post
// (post_feedforward_layernorm), each with hook_scale and hook_normalized;
// hook_attn_out and hook_mlp_out are what is added to the residual, after
// them. hook_q and hook_k are the projection outputs before q_norm / k_norm
// (as for Qwen3 in package llama); hook_rot_q / hook_rot_k are what
// attention uses.
package olmo2

import (
	"fmt"
	"math"
	"strings"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/hook"
	. "github.com/gomlx/gomlx/core/graph"
)

func init() { arch.Register("olmo2", New) }

// Model is one configured OLMo 2 checkpoint.
type Model struct {
	dims arch.Dims
	eps  float64
	act  func(*Node) *Node
	rope arch.Rope
	bias bool // attention_bias: q, k, v, o biases
	tied bool
}

// New reads an OLMo 2 config.json.
func New(c *arch.Config) (arch.Family, error) {
	d, err := arch.LlamaDims(c, 2048)
	if err != nil {
		return nil, err
	}
	m := &Model{
		dims: d,
		eps:  c.Float("rms_norm_eps", 1e-5),
		act:  arch.Activation(c, c.String("hidden_act", "silu")),
		rope: arch.NewRope(c, arch.RopeParams(c, ""), d.DHead),
		bias: c.Bool("attention_bias", false),
		tied: c.Bool("tie_word_embeddings", false),
	}
	return m, c.Err()
}

func (m *Model) Dims() arch.Dims { return m.dims }

func (m *Model) Weights() []arch.WeightSpec {
	d := m.dims
	qd, kvd := d.Heads*d.DHead, d.KVHeads*d.DHead
	return arch.LlamaWeights(d, m.tied, func(add func(name string, shape ...int)) {
		add("post_attention_layernorm.weight", d.DModel)
		add("post_feedforward_layernorm.weight", d.DModel)
		arch.LlamaAttnWeights(add, d, m.bias, m.bias)
		add("self_attn.q_norm.weight", qd)
		add("self_attn.k_norm.weight", kvd)
		add("mlp.gate_proj.weight", d.DMLP, d.DModel)
		add("mlp.up_proj.weight", d.DMLP, d.DModel)
		add("mlp.down_proj.weight", d.DModel, d.DMLP)
	})
}

// Unused: rotary tables some exporters store (glia recomputes them), and
// lm_head when tied to the embedding.
func (m *Model) Unused(name string) bool {
	return strings.HasSuffix(name, "rotary_emb.inv_freq") || (m.tied && name == "lm_head.weight")
}

// Lens: OLMo 2 normalises the MLP output (post_feedforward_layernorm, an
// RMSNorm) before it joins the residual. Its gain folds in exactly; its
// per-token scale does not.
func (m *Model) Lens() arch.Lens {
	l := arch.LlamaLens(m.tied)
	l.MLPPostNorm = "model.layers.%d.post_feedforward_layernorm.weight"
	l.AttnPostNorm = "model.layers.%d.post_attention_layernorm.weight"
	l.AttnOutBias = arch.LlamaOutBias(m.bias)
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
	// qkNorm is RMSNorm over all heads of a projection at once.
	qkNorm := func(x *Node, weight string) *Node {
		heads := x.Shape().Dimensions[2]
		return arch.SplitHeads(arch.RMSNorm(hp, "", arch.MergeHeads(x), w(weight), m.eps, 0), heads)
	}
	x := hp.At(arch.Embed(w("model.embed_tokens.weight"), in.IDs), "hook_embed") // [batch, pos, d_model]
	cos, sin := m.rope.CosSin(in.Pos)
	for l := range d.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		norm := func(x *Node, weight, hookName string) *Node {
			return arch.RMSNorm(hp, fmt.Sprintf("blocks.%d.%s", l, hookName), x, w(p+weight+".weight"), m.eps, 0)
		}
		x = hp.At(x, "blocks.%d.hook_resid_pre", l) // [batch, pos, d_model]

		q := hp.At(arch.SplitHeads(arch.Linear(x, w(p+"self_attn.q_proj.weight"), bias(p+"self_attn.q_proj.bias")), d.Heads), "blocks.%d.attn.hook_q", l)   // [batch, pos, head, d_head]
		k := hp.At(arch.SplitHeads(arch.Linear(x, w(p+"self_attn.k_proj.weight"), bias(p+"self_attn.k_proj.bias")), d.KVHeads), "blocks.%d.attn.hook_k", l) // [batch, pos, kv_head, d_head]
		v := hp.At(arch.SplitHeads(arch.Linear(x, w(p+"self_attn.v_proj.weight"), bias(p+"self_attn.v_proj.bias")), d.KVHeads), "blocks.%d.attn.hook_v", l) // [batch, pos, kv_head, d_head]
		q = hp.At(m.rope.Apply(qkNorm(q, p+"self_attn.q_norm.weight"), cos, sin), "blocks.%d.attn.hook_rot_q", l)                                           // [batch, pos, head, d_head]
		k = hp.At(m.rope.Apply(qkNorm(k, p+"self_attn.k_norm.weight"), cos, sin), "blocks.%d.attn.hook_rot_k", l)                                           // [batch, pos, kv_head, d_head]
		z := arch.Attention(hp, l, q, k, v, in, arch.AttnOpts{Scale: 1 / math.Sqrt(float64(d.DHead))})
		attnOut := arch.Linear(arch.MergeHeads(z), w(p+"self_attn.o_proj.weight"), bias(p+"self_attn.o_proj.bias")) // [batch, pos, d_model]
		attnOut = hp.At(norm(attnOut, "post_attention_layernorm", "ln1_post"), "blocks.%d.hook_attn_out", l)        // [batch, pos, d_model]
		x = hp.At(Add(x, attnOut), "blocks.%d.hook_resid_mid", l)                                                   // [batch, pos, d_model]

		pre := hp.At(arch.Linear(x, w(p+"mlp.gate_proj.weight"), nil), "blocks.%d.mlp.hook_pre", l)            // [batch, pos, d_mlp]
		preLinear := hp.At(arch.Linear(x, w(p+"mlp.up_proj.weight"), nil), "blocks.%d.mlp.hook_pre_linear", l) // [batch, pos, d_mlp]
		post := hp.At(Mul(m.act(pre), preLinear), "blocks.%d.mlp.hook_post", l)                                // [batch, pos, d_mlp]
		mlpOut := arch.Linear(post, w(p+"mlp.down_proj.weight"), nil)                                          // [batch, pos, d_model]
		mlpOut = hp.At(norm(mlpOut, "post_feedforward_layernorm", "ln2_post"), "blocks.%d.hook_mlp_out", l)    // [batch, pos, d_model]
		x = hp.At(Add(x, mlpOut), "blocks.%d.hook_resid_post", l)                                              // [batch, pos, d_model]
	}
	return arch.LlamaUnembed(hp, w, x, m.eps, 0, m.tied) // [batch, pos, d_vocab]
}
