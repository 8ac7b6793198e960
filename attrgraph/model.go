package attrgraph

import (
	"fmt"
	"math"
	"slices"

	"github.com/glia-dev/glia/arch/gpt2"
	"github.com/glia-dev/glia/arch/llama"
	"github.com/glia-dev/glia/engine"
)

// Error is an attribution-graph error: what went wrong and where.
type Error struct {
	Op  string // build, prune, targets
	Msg string
}

func (e *Error) Error() string { return "attrgraph: " + e.Op + ": " + e.Msg }

func errorf(op, format string, args ...any) error {
	return &Error{Op: op, Msg: fmt.Sprintf(format, args...)}
}

// layerW are one layer's weights in the layouts the backward pass reads.
type layerW struct {
	ln1, ln1b []float32 // gain (offset applied), bias or nil
	ln2, ln2b []float32
	wo        []float32 // attention output: [hd, dm] when woT, else [dm, hd]
	bo        []float32
	wv        []float32 // value: [dm, kvdh] when wvT, else [kvdh, dm]
	bv        []float32
	wk, bk    []float32 // key, laid out as wv
	win       []float32 // MLP input (up): [dm, dmlp] when winCols, else [dmlp, dm]
	bin       []float32
	wout      []float32 // MLP output, always [dmlp, dm]
	bout      []float32
}

// frozen is a model's weights read for the linearised model.
type frozen struct {
	L, dm, H, KV, dh, dmlp, vocab int
	centred                       bool // LayerNorm (centres), not RMSNorm
	gated                         bool // act(gate)·up MLP
	woT, wvT, winCols             bool
	layers                        []layerW
	lnf, lnfb                     []float32
	wu                            []float32 // [vocab, dm]
	hasPosEmbed                   bool
	rotary                        bool      // keys and queries are rotated (hook_rot_q, hook_rot_k)
	qkNorm                        bool      // keys are normalised per head (Qwen3): not linear in the residual
	attnScale                     []float64 // per layer: what q·k is multiplied by
}

func (f *frozen) hasMLP() bool { return f.dmlp > 0 }

// loadFrozen reads the weights of the families it knows: GPT-2 (LayerNorm,
// fused Conv1D qkv) and Llama-style (RMSNorm, separate Linear projections,
// grouped-query heads, gated MLP: llama, mistral, qwen2, qwen3).
func loadFrozen(m *engine.Model) (*frozen, error) {
	d := m.Dims()
	f := &frozen{L: d.Layers, dm: d.DModel, H: d.Heads, KV: d.KVHeads, dh: d.DHead, dmlp: d.DMLP, vocab: d.Vocab}
	names := map[string]bool{}
	for _, n := range m.WeightNames() {
		names[n] = true
	}
	var err error
	get := func(name string, shape ...int) []float32 {
		if err != nil || name == "" || !names[name] {
			return nil
		}
		a, e := m.Weight(name)
		if e != nil {
			err = e
			return nil
		}
		if !slices.Equal(a.Shape, shape) {
			err = errorf("build", "%s has shape %v, want %v", name, a.Shape, shape)
			return nil
		}
		return a.Data
	}
	hd, kvdh := f.H*f.dh, f.KV*f.dh
	switch m.Family.(type) {
	case *gpt2.Model:
		f.centred, f.woT, f.wvT, f.winCols, f.hasPosEmbed = true, true, true, true, true
		p := "transformer."
		if !names[p+"wte.weight"] {
			p = ""
		}
		f.lnf, f.lnfb = get(p+"ln_f.weight", f.dm), get(p+"ln_f.bias", f.dm)
		f.wu = get(p+"wte.weight", f.vocab, f.dm)
		if names["lm_head.weight"] {
			f.wu = get("lm_head.weight", f.vocab, f.dm)
		}
		for l := range f.L {
			n := func(s string) string { return fmt.Sprintf("%sh.%d.%s", p, l, s) }
			var lw layerW
			lw.ln1, lw.ln1b = get(n("ln_1.weight"), f.dm), get(n("ln_1.bias"), f.dm)
			qkv, qkvb := get(n("attn.c_attn.weight"), f.dm, 3*f.dm), get(n("attn.c_attn.bias"), 3*f.dm)
			if qkv != nil {
				lw.wk, lw.wv = make([]float32, f.dm*f.dm), make([]float32, f.dm*f.dm)
				for i := range f.dm {
					copy(lw.wk[i*f.dm:(i+1)*f.dm], qkv[i*3*f.dm+f.dm:i*3*f.dm+2*f.dm])
					copy(lw.wv[i*f.dm:(i+1)*f.dm], qkv[i*3*f.dm+2*f.dm:(i+1)*3*f.dm])
				}
			}
			if qkvb != nil {
				lw.bk, lw.bv = qkvb[f.dm:2*f.dm], qkvb[2*f.dm:]
			}
			s := 1.0
			if m.Config.Bool("scale_attn_weights", true) {
				s /= math.Sqrt(float64(f.dh))
			}
			if m.Config.Bool("scale_attn_by_inverse_layer_idx", false) {
				s /= float64(l + 1)
			}
			f.attnScale = append(f.attnScale, s)
			lw.wo, lw.bo = get(n("attn.c_proj.weight"), hd, f.dm), get(n("attn.c_proj.bias"), f.dm)
			if f.hasMLP() {
				lw.ln2, lw.ln2b = get(n("ln_2.weight"), f.dm), get(n("ln_2.bias"), f.dm)
				lw.win, lw.bin = get(n("mlp.c_fc.weight"), f.dm, f.dmlp), get(n("mlp.c_fc.bias"), f.dmlp)
				lw.wout, lw.bout = get(n("mlp.c_proj.weight"), f.dmlp, f.dm), get(n("mlp.c_proj.bias"), f.dm)
			}
			f.layers = append(f.layers, lw)
		}
	case *llama.Model:
		f.gated, f.rotary = true, true
		f.qkNorm = names["model.layers.0.self_attn.k_norm.weight"]
		f.lnf = get("model.norm.weight", f.dm)
		f.wu = get("model.embed_tokens.weight", f.vocab, f.dm)
		if names["lm_head.weight"] {
			f.wu = get("lm_head.weight", f.vocab, f.dm)
		}
		for l := range f.L {
			n := func(s string) string { return fmt.Sprintf("model.layers.%d.%s", l, s) }
			var lw layerW
			lw.ln1 = get(n("input_layernorm.weight"), f.dm)
			lw.wv, lw.bv = get(n("self_attn.v_proj.weight"), kvdh, f.dm), get(n("self_attn.v_proj.bias"), kvdh)
			lw.wk, lw.bk = get(n("self_attn.k_proj.weight"), kvdh, f.dm), get(n("self_attn.k_proj.bias"), kvdh)
			f.attnScale = append(f.attnScale, 1/math.Sqrt(float64(f.dh)))
			lw.wo, lw.bo = get(n("self_attn.o_proj.weight"), f.dm, hd), get(n("self_attn.o_proj.bias"), f.dm)
			if f.hasMLP() {
				lw.ln2 = get(n("post_attention_layernorm.weight"), f.dm)
				lw.win, lw.bin = get(n("mlp.up_proj.weight"), f.dmlp, f.dm), get(n("mlp.up_proj.bias"), f.dmlp)
				down := get(n("mlp.down_proj.weight"), f.dm, f.dmlp)
				if down != nil {
					lw.wout = transpose(down, f.dm, f.dmlp)
				}
				lw.bout = get(n("mlp.down_proj.bias"), f.dm)
			}
			f.layers = append(f.layers, lw)
		}
	default:
		return nil, errorf("build", "the %T family has no frozen linear model here (gpt2 and llama-style families do)", m.Family)
	}
	if err != nil {
		return nil, err
	}
	if f.wu == nil || f.lnf == nil {
		return nil, errorf("build", "the unembedding or the final norm of %s is missing", m.Name)
	}
	for l, lw := range f.layers {
		if lw.ln1 == nil || lw.wv == nil || lw.wo == nil || (f.hasMLP() && (lw.ln2 == nil || lw.win == nil || lw.wout == nil)) {
			return nil, errorf("build", "layer %d of %s lacks a norm, value, output or MLP weight", l, m.Name)
		}
	}
	return f, nil
}

func transpose(a []float32, rows, cols int) []float32 {
	out := make([]float32, len(a))
	for r := range rows {
		for c := range cols {
			out[c*rows+r] = a[r*cols+c]
		}
	}
	return out
}

// inVec is neuron n's input weights (d_model) of layer l.
func (f *frozen) inVec(l, n int) []float32 {
	w := f.layers[l].win
	if !f.winCols {
		return w[n*f.dm : (n+1)*f.dm]
	}
	v := make([]float32, f.dm)
	for i := range v {
		v[i] = w[i*f.dmlp+n]
	}
	return v
}

// normBack is the gradient through a frozen norm: the gradient dy of its
// output at a position becomes dx = centre(dy ⊙ g / scale) (no centring for
// RMSNorm), added to dst.
func (f *frozen) normBack(dst, dy, g []float32, scale float32) {
	inv := 1 / float64(scale)
	if !f.centred {
		for i, v := range dy {
			dst[i] += float32(float64(v) * float64(g[i]) * inv)
		}
		return
	}
	var mean float64
	for i, v := range dy {
		mean += float64(v) * float64(g[i])
	}
	mean /= float64(len(dy))
	for i, v := range dy {
		dst[i] += float32((float64(v)*float64(g[i]) - mean) * inv)
	}
}

func dot32(a, b []float32) float64 {
	var s float64
	for i, x := range a {
		s += float64(x) * float64(b[i])
	}
	return s
}

func norm32(a []float32) float64 { return math.Sqrt(dot32(a, a)) }
