// Package vit is Google's Vision Transformer as transformers'
// ViTForImageClassification (HF model_type "vit"):
//
//	patches = Conv_{P×P, stride P}(pixels), flattened row by row
//	h₀ = [cls; patches] + W_pos              (positions: CLS, then patches)
//	hₗ' = hₗ + Attn(LN₁(hₗ))                 bidirectional, separate q, k, v
//	hₗ₊₁ = hₗ' + W_out·gelu(W_in·LN₂(hₗ') + b_in) + b_out
//	logits = W_cls · LN_f(h_L)[CLS]
//
// Hook names are the text families' (blocks.{l}.mlp.hook_post, …) with
// the CLS token at position 0 and patch (r, c) at position 1 + r·cols + c;
// hook_pixels is the input. Logits are [batch, 1, num_labels]
// (arch.ImageFamily). The patch embedding runs as a reshape and a matrix
// product, which equals the stride-P convolution exactly and has plain
// gradients.
package vit

import (
	"fmt"
	"math"
	"strings"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/hook"
	. "github.com/gomlx/gomlx/core/graph"
)

func init() { arch.Register("vit", New) }

// maxSide bounds image_size: no ViT reads images larger than 4096 pixels a side.
const maxSide = 4096

// Model is one configured ViT checkpoint.
type Model struct {
	dims      arch.Dims
	eps       float64
	act       func(*Node) *Node
	qkvBias   bool
	channels  int
	size      int // image side in pixels
	patch     int // patch side in pixels
	grid      int // patches per side
	numLabels int
}

// New reads a ViTConfig.
func New(c *arch.Config) (arch.Family, error) {
	m := &Model{
		eps:      c.Float("layer_norm_eps", 1e-12),
		act:      arch.Activation(c, c.String("hidden_act", "gelu")),
		qkvBias:  c.Bool("qkv_bias", true),
		channels: c.Int("num_channels", 3),
		size:     c.Int("image_size", 224),
		patch:    c.Int("patch_size", 16),
	}
	d := arch.Dims{
		Layers: c.Require("num_hidden_layers"),
		DModel: c.Require("hidden_size"),
		Heads:  c.Require("num_attention_heads"),
		DMLP:   c.Require("intermediate_size"),
		Vocab:  arch.NumLabels(c),
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	switch {
	case m.channels < 1 || m.channels > 16:
		return nil, fmt.Errorf("num_channels %d is out of range [1, 16]", m.channels)
	case m.size < 1 || m.size > maxSide:
		return nil, fmt.Errorf("image_size %d is out of range [1, %d]", m.size, maxSide)
	case m.patch < 1 || m.patch > m.size || m.size%m.patch != 0:
		return nil, fmt.Errorf("patch_size %d does not divide image_size %d", m.patch, m.size)
	case d.DModel%d.Heads != 0:
		return nil, fmt.Errorf("hidden_size %d is not a multiple of num_attention_heads %d", d.DModel, d.Heads)
	}
	m.grid = m.size / m.patch
	if n := m.grid*m.grid + 1; m.patch > c.MaxDim() || n > c.MaxDim() {
		return nil, fmt.Errorf("image_size %d and patch_size %d make %d positions of %d×%d pixels, beyond the weights' largest dimension %d", m.size, m.patch, n, m.patch, m.patch, c.MaxDim())
	}
	d.KVHeads, d.DHead = d.Heads, d.DModel/d.Heads
	d.MaxCtx = m.grid*m.grid + 1
	m.dims, m.numLabels = d, d.Vocab
	return m, c.Err()
}

func (m *Model) Dims() arch.Dims             { return m.dims }
func (m *Model) ImageShape() [3]int          { return [3]int{m.channels, m.size, m.size} }
func (m *Model) PatchGrid() (rows, cols int) { return m.grid, m.grid }

// Weights: the names transformers writes (vit.encoder.layer.N.…), with the
// names of its version-5 modules as alternatives.
func (m *Model) Weights() []arch.WeightSpec {
	d := m.dims
	spec := func(name string, shape ...int) arch.WeightSpec {
		return arch.WeightSpec{Name: name, Shape: shape, Alt: []string{v5Name(name)}}
	}
	ws := []arch.WeightSpec{
		spec("vit.embeddings.cls_token", 1, 1, d.DModel),
		spec("vit.embeddings.position_embeddings", 1, d.MaxCtx, d.DModel),
		spec("vit.embeddings.patch_embeddings.projection.weight", d.DModel, m.channels, m.patch, m.patch),
		spec("vit.embeddings.patch_embeddings.projection.bias", d.DModel),
	}
	for l := range d.Layers {
		p := fmt.Sprintf("vit.encoder.layer.%d.", l)
		lin := func(name string, out, in int, bias bool) {
			ws = append(ws, spec(p+name+".weight", out, in))
			if bias {
				ws = append(ws, spec(p+name+".bias", out))
			}
		}
		ws = append(ws, spec(p+"layernorm_before.weight", d.DModel), spec(p+"layernorm_before.bias", d.DModel))
		for _, n := range []string{"query", "key", "value"} {
			lin("attention.attention."+n, d.DModel, d.DModel, m.qkvBias)
		}
		lin("attention.output.dense", d.DModel, d.DModel, true)
		ws = append(ws, spec(p+"layernorm_after.weight", d.DModel), spec(p+"layernorm_after.bias", d.DModel))
		lin("intermediate.dense", d.DMLP, d.DModel, true)
		lin("output.dense", d.DModel, d.DMLP, true)
	}
	return append(ws, spec("vit.layernorm.weight", d.DModel), spec("vit.layernorm.bias", d.DModel),
		spec("classifier.weight", m.numLabels, d.DModel), spec("classifier.bias", m.numLabels))
}

// v5Name is a weight's name in transformers 5's ViT modules.
var v5Name = strings.NewReplacer(
	"vit.encoder.layer.", "vit.layers.",
	"attention.attention.query", "attention.q_proj", "attention.attention.key", "attention.k_proj",
	"attention.attention.value", "attention.v_proj", "attention.output.dense", "attention.o_proj",
	"intermediate.dense", "mlp.fc1", "output.dense", "mlp.fc2").Replace

func (m *Model) Forward(w arch.Weights, in arch.Inputs, hp *hook.Points) *Node {
	d := m.dims
	x := hp.At(in.Pixels, "hook_pixels") // [batch, channels, height, width]
	b := x.Shape().Dimensions[0]
	// [b, c, g·P, g·P] → [b, g, g, c, P, P] → [b, g², c·P·P]: each patch's
	// pixels in the convolution kernel's order.
	g, p := m.grid, m.patch
	x = Reshape(TransposeAllAxes(Reshape(x, b, m.channels, g, p, g, p), 0, 2, 4, 1, 3, 5), b, g*g, m.channels*p*p)
	kernel := Reshape(w("vit.embeddings.patch_embeddings.projection.weight"), d.DModel, m.channels*p*p)
	patches := arch.Linear(x, kernel, w("vit.embeddings.patch_embeddings.projection.bias")) // [batch, patches, d_model]
	cls := BroadcastToDims(w("vit.embeddings.cls_token"), b, 1, d.DModel)
	embed := hp.At(Concatenate([]*Node{cls, patches}, 1), "hook_embed")                                             // [batch, pos, d_model]
	pos := hp.At(BroadcastToDims(w("vit.embeddings.position_embeddings"), b, d.MaxCtx, d.DModel), "hook_pos_embed") // [batch, pos, d_model]
	h := Add(embed, pos)
	scale := 1 / math.Sqrt(float64(d.DHead))
	for l := range d.Layers {
		p := fmt.Sprintf("vit.encoder.layer.%d.", l)
		bias := func(name string) *Node {
			if !m.qkvBias {
				return nil
			}
			return w(p + name + ".bias")
		}
		h = hp.At(h, "blocks.%d.hook_resid_pre", l) // [batch, pos, d_model]
		n := arch.LayerNorm(hp, fmt.Sprintf("blocks.%d.ln1", l), h, w(p+"layernorm_before.weight"), w(p+"layernorm_before.bias"), m.eps)
		proj := func(name string) *Node {
			return arch.SplitHeads(arch.Linear(n, w(p+"attention.attention."+name+".weight"), bias("attention.attention."+name)), d.Heads)
		}
		q := hp.At(proj("query"), "blocks.%d.attn.hook_q", l) // [batch, pos, head, d_head]
		k := hp.At(proj("key"), "blocks.%d.attn.hook_k", l)   // [batch, pos, head, d_head]
		v := hp.At(proj("value"), "blocks.%d.attn.hook_v", l) // [batch, pos, head, d_head]
		z := arch.Attention(hp, l, q, k, v, in, arch.AttnOpts{Scale: scale, Bidirectional: true})
		attnOut := hp.At(arch.Linear(arch.MergeHeads(z), w(p+"attention.output.dense.weight"), w(p+"attention.output.dense.bias")), "blocks.%d.hook_attn_out", l) // [batch, pos, d_model]
		h = hp.At(Add(h, attnOut), "blocks.%d.hook_resid_mid", l)                                                                                                 // [batch, pos, d_model]
		n = arch.LayerNorm(hp, fmt.Sprintf("blocks.%d.ln2", l), h, w(p+"layernorm_after.weight"), w(p+"layernorm_after.bias"), m.eps)
		pre := hp.At(arch.Linear(n, w(p+"intermediate.dense.weight"), w(p+"intermediate.dense.bias")), "blocks.%d.mlp.hook_pre", l) // [batch, pos, d_mlp]
		post := hp.At(m.act(pre), "blocks.%d.mlp.hook_post", l)                                                                     // [batch, pos, d_mlp]
		mlpOut := hp.At(arch.Linear(post, w(p+"output.dense.weight"), w(p+"output.dense.bias")), "blocks.%d.hook_mlp_out", l)       // [batch, pos, d_model]
		h = hp.At(Add(h, mlpOut), "blocks.%d.hook_resid_post", l)                                                                   // [batch, pos, d_model]
	}
	h = arch.LayerNorm(hp, "ln_final", h, w("vit.layernorm.weight"), w("vit.layernorm.bias"), m.eps)
	cls = Slice(h, AxisRange(), AxisElem(0), AxisRange())                 // [batch, 1, d_model]
	return arch.Linear(cls, w("classifier.weight"), w("classifier.bias")) // [batch, 1, num_labels]
}
