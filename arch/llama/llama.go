// Package llama is the Llama decoder and its close relatives (Mistral,
// Qwen2, Qwen3), which differ only in options read from config.json:
//
//	h₀ = E[ids]
//	hₗ' = hₗ + Attn(RMSNorm(hₗ))              rotary q, k; grouped kv heads
//	hₗ₊₁ = hₗ' + W_down(act(W_gate x) ⊙ W_up x), x = RMSNorm(hₗ')
//	logits = W_U RMSNorm(h_L)
//
// With "attn_only": true in config.json (a glia key, as for gpt2) the
// blocks have no post-attention norm and no MLP: hₗ₊₁ = hₗ'.
package llama

import (
	"fmt"
	"math"
	"strings"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/hook"
	. "github.com/gomlx/gomlx/core/graph"
)

func init() {
	arch.Register("llama", func(c *arch.Config) (arch.Family, error) { return New(c, Options{}) })
}

// Options are the ways a Llama-like checkpoint departs from Llama.
type Options struct {
	QKVBias bool                // biases on q, k, v (Qwen2) even when attention_bias is false
	QKNorm  bool                // RMSNorm over each head of q and k before rotary (Qwen3)
	Window  func(layer int) int // sliding-window size per layer (Mistral, Qwen2); nil = full
}

// Model is one configured Llama-like checkpoint.
type Model struct {
	dims     arch.Dims
	eps      float64
	act      func(*Node) *Node
	rope     arch.Rope
	attnBias bool // o_proj bias (attention_bias)
	qkvBias  bool
	mlpBias  bool
	tied     bool
	attnOnly bool // no MLP (and no post-attention norm) in any block
	opt      Options
}

// New reads a Llama-style config.json.
func New(c *arch.Config, opt Options) (*Model, error) {
	d, err := arch.LlamaDims(c, 2048)
	if err != nil {
		return nil, err
	}
	m := &Model{
		dims:     d,
		eps:      c.Float("rms_norm_eps", 1e-6),
		act:      arch.Activation(c, c.String("hidden_act", "silu")),
		rope:     arch.NewRope(c, arch.RopeParams(c, ""), d.DHead),
		attnBias: c.Bool("attention_bias", false),
		mlpBias:  c.Bool("mlp_bias", false),
		tied:     c.Bool("tie_word_embeddings", false),
		attnOnly: c.Bool("attn_only", false),
		opt:      opt,
	}
	if m.attnOnly {
		m.dims.DMLP = 0
	}
	m.qkvBias = m.attnBias || opt.QKVBias
	return m, c.Err()
}

func (m *Model) Dims() arch.Dims { return m.dims }

func (m *Model) Weights() []arch.WeightSpec {
	d := m.dims
	return arch.LlamaWeights(d, m.tied, func(add func(name string, shape ...int)) {
		add("input_layernorm.weight", d.DModel)
		if !m.attnOnly {
			add("post_attention_layernorm.weight", d.DModel)
		}
		arch.LlamaAttnWeights(add, d, m.qkvBias, m.attnBias)
		if m.opt.QKNorm {
			add("self_attn.q_norm.weight", d.DHead)
			add("self_attn.k_norm.weight", d.DHead)
		}
		if m.attnOnly {
			return
		}
		add("mlp.gate_proj.weight", d.DMLP, d.DModel)
		add("mlp.up_proj.weight", d.DMLP, d.DModel)
		add("mlp.down_proj.weight", d.DModel, d.DMLP)
		if m.mlpBias {
			add("mlp.gate_proj.bias", d.DMLP)
			add("mlp.up_proj.bias", d.DMLP)
			add("mlp.down_proj.bias", d.DModel)
		}
	})
}

// Unused: rotary tables some exporters store; glia recomputes them.
func (m *Model) Unused(name string) bool {
	return strings.HasSuffix(name, "rotary_emb.inv_freq") || (m.tied && name == "lm_head.weight")
}

// Lens: Llama, Mistral and Qwen read out as every Llama-style model does.
func (m *Model) Lens() arch.Lens {
	l := arch.LlamaLens(m.tied)
	l.AttnOutBias = arch.LlamaOutBias(m.attnBias)
	if m.mlpBias {
		l.MLPOutBias = "model.layers.%d.mlp.down_proj.bias"
	}
	l.FinalNormEps = m.eps
	return l
}

func (m *Model) Forward(w arch.Weights, in arch.Inputs, hp *hook.Points) *Node {
	d := m.dims
	bias := func(on bool, name string) *Node {
		if on {
			return w(name)
		}
		return nil
	}
	x := hp.At(arch.Embed(w("model.embed_tokens.weight"), in.IDs), "hook_embed") // [batch, pos, d_model]
	cos, sin := m.rope.CosSin(in.Pos)
	for l := range d.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		x = hp.At(x, "blocks.%d.hook_resid_pre", l) // [batch, pos, d_model]
		h := arch.RMSNorm(hp, fmt.Sprintf("blocks.%d.ln1", l), x, w(p+"input_layernorm.weight"), m.eps, 0)

		q := hp.At(arch.SplitHeads(arch.Linear(h, w(p+"self_attn.q_proj.weight"), bias(m.qkvBias, p+"self_attn.q_proj.bias")), d.Heads), "blocks.%d.attn.hook_q", l)   // [batch, pos, head, d_head]
		k := hp.At(arch.SplitHeads(arch.Linear(h, w(p+"self_attn.k_proj.weight"), bias(m.qkvBias, p+"self_attn.k_proj.bias")), d.KVHeads), "blocks.%d.attn.hook_k", l) // [batch, pos, kv_head, d_head]
		v := hp.At(arch.SplitHeads(arch.Linear(h, w(p+"self_attn.v_proj.weight"), bias(m.qkvBias, p+"self_attn.v_proj.bias")), d.KVHeads), "blocks.%d.attn.hook_v", l) // [batch, pos, kv_head, d_head]
		if m.opt.QKNorm {
			q = arch.RMSNorm(hp, "", q, w(p+"self_attn.q_norm.weight"), m.eps, 0)
			k = arch.RMSNorm(hp, "", k, w(p+"self_attn.k_norm.weight"), m.eps, 0)
		}
		q = hp.At(m.rope.Apply(q, cos, sin), "blocks.%d.attn.hook_rot_q", l) // [batch, pos, head, d_head]
		k = hp.At(m.rope.Apply(k, cos, sin), "blocks.%d.attn.hook_rot_k", l) // [batch, pos, kv_head, d_head]
		window := 0
		if m.opt.Window != nil {
			window = m.opt.Window(l)
		}
		z := arch.Attention(hp, l, q, k, v, in, arch.AttnOpts{Scale: 1 / math.Sqrt(float64(d.DHead)), Window: window})
		attnOut := hp.At(arch.Linear(arch.MergeHeads(z), w(p+"self_attn.o_proj.weight"), bias(m.attnBias, p+"self_attn.o_proj.bias")), "blocks.%d.hook_attn_out", l) // [batch, pos, d_model]
		if m.attnOnly {
			x = hp.At(Add(x, attnOut), "blocks.%d.hook_resid_post", l) // [batch, pos, d_model]
			continue
		}
		x = hp.At(Add(x, attnOut), "blocks.%d.hook_resid_mid", l) // [batch, pos, d_model]

		h = arch.RMSNorm(hp, fmt.Sprintf("blocks.%d.ln2", l), x, w(p+"post_attention_layernorm.weight"), m.eps, 0)
		pre := hp.At(arch.Linear(h, w(p+"mlp.gate_proj.weight"), bias(m.mlpBias, p+"mlp.gate_proj.bias")), "blocks.%d.mlp.hook_pre", l)          // [batch, pos, d_mlp]
		preLinear := hp.At(arch.Linear(h, w(p+"mlp.up_proj.weight"), bias(m.mlpBias, p+"mlp.up_proj.bias")), "blocks.%d.mlp.hook_pre_linear", l) // [batch, pos, d_mlp]
		post := hp.At(Mul(m.act(pre), preLinear), "blocks.%d.mlp.hook_post", l)                                                                  // [batch, pos, d_mlp]
		mlpOut := hp.At(arch.Linear(post, w(p+"mlp.down_proj.weight"), bias(m.mlpBias, p+"mlp.down_proj.bias")), "blocks.%d.hook_mlp_out", l)    // [batch, pos, d_model]
		x = hp.At(Add(x, mlpOut), "blocks.%d.hook_resid_post", l)                                                                                // [batch, pos, d_model]
	}
	return arch.LlamaUnembed(hp, w, x, m.eps, 0, m.tied) // [batch, pos, d_vocab]
}
