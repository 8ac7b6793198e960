// Package phi3 is Microsoft's Phi-3 decoder (model_type "phi3"): a Llama with
// fused projections,
//
//	h₀ = E[ids]
//	[q | k | v] = W_qkv RMSNorm(hₗ)               q: heads·d_head rows, then k, v: kv_heads·d_head each
//	hₗ' = hₗ + W_O Attn(rot(q), rot(k), v)        rotary on the first partial_rotary_factor·d_head dims
//	[g | u] = W_gate_up RMSNorm(hₗ')              gate rows first, then up
//	hₗ₊₁ = hₗ' + W_down(act(g) ⊙ u)
//	logits = W_U RMSNorm(h_L)
//
// Every layer attends within sliding_window keys when the config sets one.
// The fused projections are split in the graph, so hook_q, hook_k, hook_v,
// mlp.hook_pre (gate) and mlp.hook_pre_linear (up) are the same points as in
// an unfused Llama. Rotary scaling types other than those arch.NewRope
// implements (default, linear, llama3) are rejected; in particular Phi-3's
// longrope (the 128k checkpoints) is not supported.
package phi3

import (
	"fmt"
	"math"
	"strings"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/hook"
	. "github.com/gomlx/gomlx/core/graph"
)

func init() { arch.Register("phi3", New) }

// Model is one configured Phi-3 checkpoint.
type Model struct {
	dims   arch.Dims
	eps    float64
	act    func(*Node) *Node
	rope   arch.Rope
	window int // sliding_window for every layer; 0 = full attention
	tied   bool
}

// New reads a Phi-3 config.json.
func New(c *arch.Config) (arch.Family, error) {
	d, err := arch.LlamaDims(c, 4096)
	if err != nil {
		return nil, err
	}
	rp := arch.RopeParams(c, "")
	if raw, ok := c.Raw("rope_parameters").(map[string]any); ok && !rp.Has("partial_rotary_factor") && c.Has("partial_rotary_factor") {
		// a top-level partial_rotary_factor beside rope_parameters (Phi-4-mini style)
		p := map[string]any{"partial_rotary_factor": c.Float("partial_rotary_factor", 1)}
		for k, v := range raw {
			p[k] = v
		}
		rp = arch.NewConfig(c.Source+":rope", p)
	}
	if t := rp.String("rope_type", rp.String("type", "default")); t == "longrope" || t == "su" || t == "yarn" {
		return nil, fmt.Errorf("phi3: rope type %q is not supported (supported: default, linear, llama3)", t)
	}
	m := &Model{
		dims:   d,
		eps:    c.Float("rms_norm_eps", 1e-5),
		act:    arch.Activation(c, c.String("hidden_act", "silu")),
		rope:   arch.NewRope(c, rp, d.DHead),
		window: c.Int("sliding_window", 0),
		tied:   c.Bool("tie_word_embeddings", false),
	}
	return m, c.Err()
}

func (m *Model) Dims() arch.Dims { return m.dims }

func (m *Model) Weights() []arch.WeightSpec {
	d := m.dims
	qkv := (d.Heads + 2*d.KVHeads) * d.DHead
	return arch.LlamaWeights(d, m.tied, func(add func(name string, shape ...int)) {
		add("input_layernorm.weight", d.DModel)
		add("post_attention_layernorm.weight", d.DModel)
		add("self_attn.qkv_proj.weight", qkv, d.DModel)
		add("self_attn.o_proj.weight", d.DModel, d.Heads*d.DHead)
		add("mlp.gate_up_proj.weight", 2*d.DMLP, d.DModel)
		add("mlp.down_proj.weight", d.DModel, d.DMLP)
	})
}

// Unused: rotary tables some exporters store (glia recomputes them), and
// lm_head when tied to the embedding.
func (m *Model) Unused(name string) bool {
	return strings.HasSuffix(name, "rotary_emb.inv_freq") || (m.tied && name == "lm_head.weight")
}

// Lens: Phi-3 fuses gate and up (gate_up_proj) but keeps Llama's down_proj.
func (m *Model) Lens() arch.Lens {
	l := arch.LlamaLens(m.tied)
	l.FinalNormEps = m.eps
	return l
}

func (m *Model) Forward(w arch.Weights, in arch.Inputs, hp *hook.Points) *Node {
	d := m.dims
	qd, kvd := d.Heads*d.DHead, d.KVHeads*d.DHead
	x := hp.At(arch.Embed(w("model.embed_tokens.weight"), in.IDs), "hook_embed") // [batch, pos, d_model]
	cos, sin := m.rope.CosSin(in.Pos)
	for l := range d.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		x = hp.At(x, "blocks.%d.hook_resid_pre", l) // [batch, pos, d_model]
		h := arch.RMSNorm(hp, fmt.Sprintf("blocks.%d.ln1", l), x, w(p+"input_layernorm.weight"), m.eps, 0)

		qkv := arch.Linear(h, w(p+"self_attn.qkv_proj.weight"), nil)                                                       // [batch, pos, (head+2·kv_head)·d_head]
		q := hp.At(arch.SplitHeads(SliceAxis(qkv, 2, AxisRange(0, qd)), d.Heads), "blocks.%d.attn.hook_q", l)              // [batch, pos, head, d_head]
		k := hp.At(arch.SplitHeads(SliceAxis(qkv, 2, AxisRange(qd, qd+kvd)), d.KVHeads), "blocks.%d.attn.hook_k", l)       // [batch, pos, kv_head, d_head]
		v := hp.At(arch.SplitHeads(SliceAxis(qkv, 2, AxisRange(qd+kvd, qd+2*kvd)), d.KVHeads), "blocks.%d.attn.hook_v", l) // [batch, pos, kv_head, d_head]
		q = hp.At(m.rope.Apply(q, cos, sin), "blocks.%d.attn.hook_rot_q", l)                                               // [batch, pos, head, d_head]
		k = hp.At(m.rope.Apply(k, cos, sin), "blocks.%d.attn.hook_rot_k", l)                                               // [batch, pos, kv_head, d_head]
		z := arch.Attention(hp, l, q, k, v, in, arch.AttnOpts{Scale: 1 / math.Sqrt(float64(d.DHead)), Window: m.window})
		attnOut := hp.At(arch.Linear(arch.MergeHeads(z), w(p+"self_attn.o_proj.weight"), nil), "blocks.%d.hook_attn_out", l) // [batch, pos, d_model]
		x = hp.At(Add(x, attnOut), "blocks.%d.hook_resid_mid", l)                                                            // [batch, pos, d_model]

		h = arch.RMSNorm(hp, fmt.Sprintf("blocks.%d.ln2", l), x, w(p+"post_attention_layernorm.weight"), m.eps, 0)
		gateUp := arch.Linear(h, w(p+"mlp.gate_up_proj.weight"), nil)                                             // [batch, pos, 2·d_mlp]
		pre := hp.At(SliceAxis(gateUp, 2, AxisRange(0, d.DMLP)), "blocks.%d.mlp.hook_pre", l)                     // [batch, pos, d_mlp]
		preLinear := hp.At(SliceAxis(gateUp, 2, AxisRange(d.DMLP, 2*d.DMLP)), "blocks.%d.mlp.hook_pre_linear", l) // [batch, pos, d_mlp]
		post := hp.At(Mul(m.act(pre), preLinear), "blocks.%d.mlp.hook_post", l)                                   // [batch, pos, d_mlp]
		mlpOut := hp.At(arch.Linear(post, w(p+"mlp.down_proj.weight"), nil), "blocks.%d.hook_mlp_out", l)         // [batch, pos, d_model]
		x = hp.At(Add(x, mlpOut), "blocks.%d.hook_resid_post", l)                                                 // [batch, pos, d_model]
	}
	return arch.LlamaUnembed(hp, w, x, m.eps, 0, m.tied) // [batch, pos, d_vocab]
}
