// Package gpt2 is OpenAI's GPT-2 (HF model_type "gpt2"):
//
//	h₀ = W_E[ids] + W_pos[pos]
//	hₗ' = hₗ + Attn(LN₁(hₗ))        fused c_attn → q, k, v
//	hₗ₊₁ = hₗ' + W_out·gelu(W_in·LN₂(hₗ') + b_in) + b_out
//	logits = W_E · LN_f(h_L)        (tied unembedding)
//
// With "attn_only": true in config.json (a glia key, TransformerLens's name
// for it) the blocks have no LN₂ and no MLP: hₗ₊₁ = hₗ'. glia trains such
// models (glia train --attn-only); transformers does not know the key.
//
// Weights are Conv1D ([in, out]), stored with or without the "transformer."
// prefix depending on the exporter.
package gpt2

import (
	"fmt"
	"math"
	"strings"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/hook"
	. "github.com/gomlx/gomlx/core/graph"
)

func init() { arch.Register("gpt2", New) }

// Model is one configured GPT-2 checkpoint.
type Model struct {
	dims       arch.Dims
	eps        float64
	act        func(*Node) *Node
	scale      bool // scale_attn_weights: divide scores by √d_head
	scaleByIdx bool // scale_attn_by_inverse_layer_idx: also divide by layer+1
	tied       bool
	attnOnly   bool // no MLP (and no ln_2) in any block
}

// New reads a GPT2Config.
func New(c *arch.Config) (arch.Family, error) {
	d := arch.Dims{
		Layers: c.Require("n_layer"),
		DModel: c.Require("n_embd"),
		Heads:  c.Require("n_head"),
		Vocab:  c.Require("vocab_size"),
		MaxCtx: c.Require("n_positions"),
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	if d.DModel%d.Heads != 0 {
		return nil, fmt.Errorf("n_embd %d is not a multiple of n_head %d", d.DModel, d.Heads)
	}
	d.KVHeads, d.DHead = d.Heads, d.DModel/d.Heads
	d.DMLP = c.Int("n_inner", 4*d.DModel)
	attnOnly := c.Bool("attn_only", false)
	if attnOnly {
		d.DMLP = 0
	}
	if c.Bool("add_cross_attention", false) {
		return nil, fmt.Errorf("add_cross_attention is not supported (decoder-only models only)")
	}
	return &Model{
		dims:       d,
		eps:        c.Float("layer_norm_epsilon", 1e-5),
		act:        arch.Activation(c, c.String("activation_function", "gelu_new")),
		scale:      c.Bool("scale_attn_weights", true),
		scaleByIdx: c.Bool("scale_attn_by_inverse_layer_idx", false),
		tied:       c.Bool("tie_word_embeddings", true),
		attnOnly:   attnOnly,
	}, c.Err()
}

func (m *Model) Dims() arch.Dims { return m.dims }

func (m *Model) Weights() []arch.WeightSpec {
	d := m.dims
	spec := func(name string, shape ...int) arch.WeightSpec {
		return arch.WeightSpec{Name: "transformer." + name, Shape: shape, Alt: []string{name}}
	}
	ws := []arch.WeightSpec{spec("wte.weight", d.Vocab, d.DModel), spec("wpe.weight", d.MaxCtx, d.DModel), spec("ln_f.weight", d.DModel), spec("ln_f.bias", d.DModel)}
	if !m.tied {
		ws = append(ws, arch.WeightSpec{Name: "lm_head.weight", Shape: []int{d.Vocab, d.DModel}})
	}
	for l := range d.Layers {
		p := fmt.Sprintf("h.%d.", l)
		ws = append(ws,
			spec(p+"ln_1.weight", d.DModel), spec(p+"ln_1.bias", d.DModel),
			spec(p+"attn.c_attn.weight", d.DModel, 3*d.DModel), spec(p+"attn.c_attn.bias", 3*d.DModel),
			spec(p+"attn.c_proj.weight", d.DModel, d.DModel), spec(p+"attn.c_proj.bias", d.DModel),
		)
		if m.attnOnly {
			continue
		}
		ws = append(ws,
			spec(p+"ln_2.weight", d.DModel), spec(p+"ln_2.bias", d.DModel),
			spec(p+"mlp.c_fc.weight", d.DModel, d.DMLP), spec(p+"mlp.c_fc.bias", d.DMLP),
			spec(p+"mlp.c_proj.weight", d.DMLP, d.DModel), spec(p+"mlp.c_proj.bias", d.DModel),
		)
	}
	return ws
}

// Unused: the causal-mask buffers older exports store, and a tied lm_head.
func (m *Model) Unused(name string) bool {
	return strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") ||
		(m.tied && name == "lm_head.weight")
}

// Lens: the MLP output is the Conv1D c_proj, stored [d_mlp, d_model]; ln_f
// is a LayerNorm, so it centres.
func (m *Model) Lens() arch.Lens {
	l := arch.Lens{MLPOut: "transformer.h.%d.mlp.c_proj.weight", MLPOutAxis: 1, Unembedding: "transformer.wte.weight", FinalNorm: "transformer.ln_f.weight", Centred: true,
		AttnOut: "transformer.h.%d.attn.c_proj.weight", AttnOutAxis: 1, AttnOutBias: "transformer.h.%d.attn.c_proj.bias",
		MLPOutBias: "transformer.h.%d.mlp.c_proj.bias", FinalNormBias: "transformer.ln_f.bias"}
	if !m.tied {
		l.Unembedding = "lm_head.weight"
	}
	l.FinalNormEps = m.eps
	return l
}

func (m *Model) Forward(w arch.Weights, in arch.Inputs, hp *hook.Points) *Node {
	d := m.dims
	t := func(name string) *Node { return w("transformer." + name) }
	embed := hp.At(arch.Embed(t("wte.weight"), in.IDs), "hook_embed")       // [batch, pos, d_model]
	posEmbed := hp.At(arch.PosEmbed(t("wpe.weight"), in), "hook_pos_embed") // [batch, pos, d_model]
	x := Add(embed, posEmbed)
	for l := range d.Layers {
		p := fmt.Sprintf("h.%d.", l)
		x = hp.At(x, "blocks.%d.hook_resid_pre", l) // [batch, pos, d_model]
		h := arch.LayerNorm(hp, fmt.Sprintf("blocks.%d.ln1", l), x, t(p+"ln_1.weight"), t(p+"ln_1.bias"), m.eps)
		qkv := arch.Conv1D(h, t(p+"attn.c_attn.weight"), t(p+"attn.c_attn.bias")) // [batch, pos, 3·d_model]
		split := func(i int) *Node {
			return arch.SplitHeads(SliceAxis(qkv, 2, AxisRange(i*d.DModel, (i+1)*d.DModel)), d.Heads)
		}
		q := hp.At(split(0), "blocks.%d.attn.hook_q", l) // [batch, pos, head, d_head]
		k := hp.At(split(1), "blocks.%d.attn.hook_k", l) // [batch, pos, head, d_head]
		v := hp.At(split(2), "blocks.%d.attn.hook_v", l) // [batch, pos, head, d_head]
		scale := 1.0
		if m.scale {
			scale /= math.Sqrt(float64(d.DHead))
		}
		if m.scaleByIdx {
			scale /= float64(l + 1)
		}
		z := arch.Attention(hp, l, q, k, v, in, arch.AttnOpts{Scale: scale})
		attnOut := hp.At(arch.Conv1D(arch.MergeHeads(z), t(p+"attn.c_proj.weight"), t(p+"attn.c_proj.bias")), "blocks.%d.hook_attn_out", l) // [batch, pos, d_model]
		if m.attnOnly {
			x = hp.At(Add(x, attnOut), "blocks.%d.hook_resid_post", l) // [batch, pos, d_model]
			continue
		}
		x = hp.At(Add(x, attnOut), "blocks.%d.hook_resid_mid", l) // [batch, pos, d_model]

		h = arch.LayerNorm(hp, fmt.Sprintf("blocks.%d.ln2", l), x, t(p+"ln_2.weight"), t(p+"ln_2.bias"), m.eps)
		pre := hp.At(arch.Conv1D(h, t(p+"mlp.c_fc.weight"), t(p+"mlp.c_fc.bias")), "blocks.%d.mlp.hook_pre", l)           // [batch, pos, d_mlp]
		post := hp.At(m.act(pre), "blocks.%d.mlp.hook_post", l)                                                           // [batch, pos, d_mlp]
		mlpOut := hp.At(arch.Conv1D(post, t(p+"mlp.c_proj.weight"), t(p+"mlp.c_proj.bias")), "blocks.%d.hook_mlp_out", l) // [batch, pos, d_model]
		x = hp.At(Add(x, mlpOut), "blocks.%d.hook_resid_post", l)                                                         // [batch, pos, d_model]
	}
	x = arch.LayerNorm(hp, "ln_final", x, t("ln_f.weight"), t("ln_f.bias"), m.eps)
	if m.tied {
		return arch.Linear(x, t("wte.weight"), nil) // [batch, pos, d_vocab]
	}
	return arch.Linear(x, w("lm_head.weight"), nil)
}
