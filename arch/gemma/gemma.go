// Package gemma is Google's Gemma decoder family: Gemma ("gemma"), Gemma 2
// ("gemma2") and the text model of Gemma 3 ("gemma3_text"). One forward pass
// serves all three; the constructors in gemma.go, gemma2.go and gemma3.go
// read each config's options.
//
//	N(x)    = x/√(mean(x²)+eps) · (1+w)          Gemma's zero-centred RMSNorm
//	h₀      = √d_model · E[ids]
//	Gemma:      hₗ' = hₗ + Attn(N₁(hₗ))             hₗ₊₁ = hₗ' + MLP(N₂(hₗ'))
//	Gemma 2, 3: hₗ' = hₗ + N₁ᵖ(Attn(N₁(hₗ)))        hₗ₊₁ = hₗ' + N₂ᵖ(MLP(N₂(hₗ')))
//	MLP(x)  = W_down(gelu_tanh(W_gate x) ⊙ W_up x)
//	Attn    : scores = s·q·k (s = 1/√d_head, or query_pre_attn_scalar^-½ in
//	          Gemma 2 and 3), soft-capped c·tanh(scores/c) when
//	          attn_logit_softcapping is set; sliding_attention layers see only
//	          the last sliding_window keys. Gemma 3 normalises q and k per head
//	          with N before rotary and uses a rotary base per layer type.
//	logits  = W_U N(h_L), soft-capped by final_logit_softcapping when set.
//
// Hook points follow TransformerLens (its Gemma 2 naming for the sandwich
// norms): input_layernorm is ln1, the norm before the MLP is ln2
// (post_attention_layernorm in Gemma, pre_feedforward_layernorm in Gemma 2
// and 3), and Gemma 2/3's norms on the attention and MLP outputs are ln1_post
// (post_attention_layernorm) and ln2_post (post_feedforward_layernorm). Each
// records hook_scale and hook_normalized. hook_attn_out and hook_mlp_out are
// what is added to the residual stream, so after ln1_post / ln2_post.
// hook_embed is the scaled embedding (the first residual), as in
// TransformerLens, which folds √d_model into W_E. hook_q and hook_k are the
// projection outputs, before Gemma 3's q_norm / k_norm; hook_rot_q and
// hook_rot_k are what attention uses.
package gemma

import (
	"fmt"
	"math"
	"strings"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/hook"
	. "github.com/gomlx/gomlx/core/graph"
)

func init() {
	arch.Register("gemma", NewGemma)
	arch.Register("gemma2", NewGemma2)
	arch.Register("gemma3_text", NewGemma3)
}

const (
	sliding = "sliding_attention"
	full    = "full_attention"
)

// Model is one configured Gemma, Gemma 2 or Gemma 3 text checkpoint.
type Model struct {
	dims       arch.Dims
	eps        float64
	act        func(*Node) *Node
	embedScale float64 // √d_model, rounded to float32 as transformers does
	sandwich   bool    // Gemma 2/3: norms on the attention and MLP outputs too
	qkNorm     bool    // Gemma 3: N over each head of q and k before rotary
	attnBias   bool
	tied       bool
	scale      float64     // multiplies q·k
	attnCap    float64     // attention logit soft-cap; 0 = off
	finalCap   float64     // final logit soft-cap; 0 = off
	ropes      []arch.Rope // distinct rotary tables
	ropeOf     []int       // per layer: index into ropes
	window     []int       // per layer: sliding window; 0 = full attention
}

// common reads what all three Gemmas share. actKey names the activation:
// in transformers 5 Gemma's MLP is Llama's and reads hidden_act, Gemma 2 and
// 3 read hidden_activation (a config may carry both, and they may differ).
func common(c *arch.Config, actKey string) (*Model, error) {
	if c.Bool("use_bidirectional_attention", false) {
		return nil, fmt.Errorf("use_bidirectional_attention (EmbeddingGemma) is not supported: glia runs causal language models")
	}
	d, err := arch.LlamaDims(c, 8192)
	if err != nil {
		return nil, err
	}
	if !c.Has("head_dim") {
		// Gemma's default is 256, not hidden_size / num_attention_heads
		// (Gemma 7B: 3072 / 16 heads, 256 per head).
		d.DHead = 256
	}
	if d.DHead <= 0 {
		return nil, fmt.Errorf("head_dim must be positive, got %d", d.DHead)
	}
	m := &Model{
		dims:       d,
		eps:        c.Float("rms_norm_eps", 1e-6),
		act:        arch.Activation(c, c.String(actKey, "gelu_pytorch_tanh")),
		embedScale: float64(float32(math.Sqrt(float64(d.DModel)))),
		attnBias:   c.Bool("attention_bias", false),
		tied:       c.Bool("tie_word_embeddings", true),
		scale:      1 / math.Sqrt(float64(d.DHead)),
		ropeOf:     make([]int, d.Layers),
		window:     make([]int, d.Layers),
	}
	return m, nil
}

// NewGemma reads a Gemma (1) config.json.
func NewGemma(c *arch.Config) (arch.Family, error) {
	m, err := common(c, "hidden_act")
	if err != nil {
		return nil, err
	}
	m.ropes = []arch.Rope{arch.NewRope(c, arch.RopeParams(c, ""), m.dims.DHead)}
	return m, c.Err()
}

// layerTypes reads layer_types, or derives it: layer l is sliding unless
// (l+1) is a multiple of pattern (transformers' default for Gemma 2 and 3).
func layerTypes(c *arch.Config, layers, pattern int) ([]string, error) {
	types := c.Strings("layer_types")
	if types == nil {
		types = make([]string, layers)
		for l := range types {
			types[l] = full
			if pattern <= 0 || (l+1)%pattern != 0 {
				types[l] = sliding
			}
		}
	}
	if len(types) != layers {
		return nil, fmt.Errorf("layer_types has %d entries for %d layers", len(types), layers)
	}
	for l, t := range types {
		if t != sliding && t != full {
			return nil, fmt.Errorf("layer_types[%d] = %q: want %q or %q", l, t, sliding, full)
		}
	}
	return types, nil
}

// softCaps reads Gemma 2/3's attention scaling, soft-caps and sliding window
// per layer type. A cap key that is absent takes the family's default
// (attnDef, finalDef: transformers' config defaults); null turns it off.
func (m *Model) softCaps(c *arch.Config, types []string, attnDef, finalDef float64) {
	m.sandwich = true
	m.scale = 1 / math.Sqrt(c.Float("query_pre_attn_scalar", 256))
	capOr := func(key string, def float64) float64 {
		if !c.Present(key) {
			return def
		}
		return c.Float(key, 0)
	}
	m.attnCap = capOr("attn_logit_softcapping", attnDef)
	m.finalCap = capOr("final_logit_softcapping", finalDef)
	win := c.Int("sliding_window", 4096)
	for l, t := range types {
		if t == sliding {
			m.window[l] = win
		}
	}
}

func (m *Model) Dims() arch.Dims { return m.dims }

func (m *Model) Weights() []arch.WeightSpec {
	d := m.dims
	return arch.LlamaWeights(d, m.tied, func(add func(name string, shape ...int)) {
		add("input_layernorm.weight", d.DModel)
		add("post_attention_layernorm.weight", d.DModel)
		if m.sandwich {
			add("pre_feedforward_layernorm.weight", d.DModel)
			add("post_feedforward_layernorm.weight", d.DModel)
		}
		arch.LlamaAttnWeights(add, d, m.attnBias, m.attnBias)
		if m.qkNorm {
			add("self_attn.q_norm.weight", d.DHead)
			add("self_attn.k_norm.weight", d.DHead)
		}
		add("mlp.gate_proj.weight", d.DMLP, d.DModel)
		add("mlp.up_proj.weight", d.DMLP, d.DModel)
		add("mlp.down_proj.weight", d.DModel, d.DMLP)
	})
}

// Unused: rotary tables and Gemma 3's embedding scale, buffers some
// exporters store (glia recomputes them), and lm_head when tied to the
// embedding (transformers overwrites it with the embedding).
func (m *Model) Unused(name string) bool {
	return strings.HasSuffix(name, "rotary_emb.inv_freq") || strings.HasSuffix(name, "rotary_emb_local.inv_freq") ||
		name == "model.embed_tokens.embed_scale" || (m.tied && name == "lm_head.weight")
}

// Lens: Gemma's norms store w and apply 1+w. Gemma 2 and 3 normalise the MLP
// output (post_feedforward_layernorm) before adding it to the residual, and
// Gemma 2 soft-caps the logits. The √d_model scale applies to the
// embedding's input use only, not to the tied unembedding.
func (m *Model) Lens() arch.Lens {
	l := arch.LlamaLens(m.tied)
	l.GainOffset = 1
	l.AttnOutBias = arch.LlamaOutBias(m.attnBias)
	if m.sandwich {
		l.MLPPostNorm = "model.layers.%d.post_feedforward_layernorm.weight"
		l.AttnPostNorm = "model.layers.%d.post_attention_layernorm.weight"
	}
	l.LogitSoftCap = m.finalCap
	l.FinalNormEps = m.eps
	return l
}

func (m *Model) Forward(w arch.Weights, in arch.Inputs, hp *hook.Points) *Node {
	d := m.dims
	bias := func(name string) *Node {
		if m.attnBias {
			return w(name)
		}
		return nil
	}
	x := hp.At(MulScalar(arch.Embed(w("model.embed_tokens.weight"), in.IDs), m.embedScale), "hook_embed") // [batch, pos, d_model]
	cos, sin := make([]*Node, len(m.ropes)), make([]*Node, len(m.ropes))
	for i, r := range m.ropes {
		cos[i], sin[i] = r.CosSin(in.Pos)
	}
	for l := range d.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		norm := func(x *Node, weight, hookName string) *Node {
			return arch.RMSNorm(hp, fmt.Sprintf("blocks.%d.%s", l, hookName), x, w(p+weight+".weight"), m.eps, 1)
		}
		x = hp.At(x, "blocks.%d.hook_resid_pre", l) // [batch, pos, d_model]
		h := norm(x, "input_layernorm", "ln1")

		q := hp.At(arch.SplitHeads(arch.Linear(h, w(p+"self_attn.q_proj.weight"), bias(p+"self_attn.q_proj.bias")), d.Heads), "blocks.%d.attn.hook_q", l)   // [batch, pos, head, d_head]
		k := hp.At(arch.SplitHeads(arch.Linear(h, w(p+"self_attn.k_proj.weight"), bias(p+"self_attn.k_proj.bias")), d.KVHeads), "blocks.%d.attn.hook_k", l) // [batch, pos, kv_head, d_head]
		v := hp.At(arch.SplitHeads(arch.Linear(h, w(p+"self_attn.v_proj.weight"), bias(p+"self_attn.v_proj.bias")), d.KVHeads), "blocks.%d.attn.hook_v", l) // [batch, pos, kv_head, d_head]
		if m.qkNorm {
			q = arch.RMSNorm(hp, "", q, w(p+"self_attn.q_norm.weight"), m.eps, 1)
			k = arch.RMSNorm(hp, "", k, w(p+"self_attn.k_norm.weight"), m.eps, 1)
		}
		r := m.ropes[m.ropeOf[l]]
		q = hp.At(r.Apply(q, cos[m.ropeOf[l]], sin[m.ropeOf[l]]), "blocks.%d.attn.hook_rot_q", l) // [batch, pos, head, d_head]
		k = hp.At(r.Apply(k, cos[m.ropeOf[l]], sin[m.ropeOf[l]]), "blocks.%d.attn.hook_rot_k", l) // [batch, pos, kv_head, d_head]
		z := arch.Attention(hp, l, q, k, v, in, arch.AttnOpts{Scale: m.scale, SoftCap: m.attnCap, Window: m.window[l]})
		attnOut := arch.Linear(arch.MergeHeads(z), w(p+"self_attn.o_proj.weight"), bias(p+"self_attn.o_proj.bias")) // [batch, pos, d_model]
		if m.sandwich {
			attnOut = norm(attnOut, "post_attention_layernorm", "ln1_post")
		}
		attnOut = hp.At(attnOut, "blocks.%d.hook_attn_out", l)    // [batch, pos, d_model]
		x = hp.At(Add(x, attnOut), "blocks.%d.hook_resid_mid", l) // [batch, pos, d_model]

		if m.sandwich {
			h = norm(x, "pre_feedforward_layernorm", "ln2")
		} else {
			h = norm(x, "post_attention_layernorm", "ln2")
		}
		pre := hp.At(arch.Linear(h, w(p+"mlp.gate_proj.weight"), nil), "blocks.%d.mlp.hook_pre", l)            // [batch, pos, d_mlp]
		preLinear := hp.At(arch.Linear(h, w(p+"mlp.up_proj.weight"), nil), "blocks.%d.mlp.hook_pre_linear", l) // [batch, pos, d_mlp]
		post := hp.At(Mul(m.act(pre), preLinear), "blocks.%d.mlp.hook_post", l)                                // [batch, pos, d_mlp]
		mlpOut := arch.Linear(post, w(p+"mlp.down_proj.weight"), nil)                                          // [batch, pos, d_model]
		if m.sandwich {
			mlpOut = norm(mlpOut, "post_feedforward_layernorm", "ln2_post")
		}
		mlpOut = hp.At(mlpOut, "blocks.%d.hook_mlp_out", l)       // [batch, pos, d_model]
		x = hp.At(Add(x, mlpOut), "blocks.%d.hook_resid_post", l) // [batch, pos, d_model]
	}
	logits := arch.LlamaUnembed(hp, w, x, m.eps, 1, m.tied) // [batch, pos, d_vocab]
	if m.finalCap > 0 {
		logits = MulScalar(Tanh(DivScalar(logits, m.finalCap)), m.finalCap)
	}
	return logits
}
