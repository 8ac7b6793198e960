package olmo2_test

import (
	"math"
	"slices"
	"testing"

	"github.com/glia-dev/glia/arch/archtest"
)

func tiny(over map[string]any) map[string]any {
	c := map[string]any{
		"model_type": "olmo2", "num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 2,
		"intermediate_size": 48, "vocab_size": 64, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
	}
	for k, v := range over {
		c[k] = v
	}
	return c
}

// rmsNorm normalises each row of x [rows, d] and scales by w.
func rmsNorm(x, w []float32, eps float64) []float32 {
	d := len(w)
	out := make([]float32, len(x))
	for r := 0; r < len(x)/d; r++ {
		ms := 0.0
		for _, e := range x[r*d : (r+1)*d] {
			ms += float64(e) * float64(e)
		}
		s := math.Sqrt(ms/float64(d) + eps)
		for i, e := range x[r*d : (r+1)*d] {
			out[r*d+i] = float32(float64(e) / s * float64(w[i]))
		}
	}
	return out
}

// q_norm and k_norm normalise across all heads of a position at once; at
// position 0 rotary is the identity, so hook_rot_q there is the normalised q.
func TestFullWidthQKNorm(t *testing.T) {
	m, src := archtest.Load(t, tiny(map[string]any{"attention_bias": true}))
	r := archtest.Run(t, m, "blocks.0.attn.hook_q", "blocks.0.attn.hook_rot_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_rot_k").Acts
	for _, qk := range []struct {
		name string
		w    string
		n    int
	}{{"q", "model.layers.0.self_attn.q_norm.weight", 32}, {"k", "model.layers.0.self_attn.k_norm.weight", 16}} {
		raw := r["blocks.0.attn.hook_"+qk.name].Data[:qk.n]
		rot := r["blocks.0.attn.hook_rot_"+qk.name].Data[:qk.n]
		archtest.CloseTo(t, qk.name+" at position 0", rot, rmsNorm(raw, src[qk.w].Data, 1e-5))
	}
}

// The block's inputs are not normalised; its outputs are, before the residual add.
func TestPostNorms(t *testing.T) {
	m, src := archtest.Load(t, tiny(nil))
	names := archtest.HookNames(t, m)
	for _, h := range []string{"blocks.0.ln1.hook_normalized", "blocks.0.ln2.hook_normalized"} {
		if slices.Contains(names, h) {
			t.Errorf("olmo2 has no input norms, but records %s", h)
		}
	}
	r := archtest.Run(t, m, "blocks.1.hook_resid_pre", "blocks.1.ln1_post.hook_normalized", "blocks.1.hook_attn_out", "blocks.1.hook_resid_mid",
		"blocks.1.mlp.hook_pre", "blocks.1.ln2_post.hook_normalized", "blocks.1.hook_mlp_out", "blocks.1.hook_resid_post", "blocks.1.mlp.hook_post").Acts
	archtest.CloseTo(t, "attn_out", r["blocks.1.hook_attn_out"].Data, r["blocks.1.ln1_post.hook_normalized"].Data)
	archtest.CloseTo(t, "resid_mid", r["blocks.1.hook_resid_mid"].Data, archtest.Add(r["blocks.1.hook_resid_pre"].Data, r["blocks.1.hook_attn_out"].Data))
	archtest.CloseTo(t, "mlp pre", r["blocks.1.mlp.hook_pre"].Data, archtest.Linear(r["blocks.1.hook_resid_mid"].Data, src["model.layers.1.mlp.gate_proj.weight"], nil, 0, 48))
	down := archtest.Linear(r["blocks.1.mlp.hook_post"].Data, src["model.layers.1.mlp.down_proj.weight"], nil, 0, 32)
	archtest.CloseTo(t, "mlp_out", r["blocks.1.hook_mlp_out"].Data, rmsNorm(down, src["model.layers.1.post_feedforward_layernorm.weight"].Data, 1e-5))
	archtest.CloseTo(t, "resid_post", r["blocks.1.hook_resid_post"].Data, archtest.Add(r["blocks.1.hook_resid_mid"].Data, r["blocks.1.hook_mlp_out"].Data))
}

func TestTied(t *testing.T) {
	m, _ := archtest.Load(t, tiny(map[string]any{"tie_word_embeddings": true}))
	if len(archtest.Run(t, m).Logits.Data) != len(archtest.IDs[0])*64 {
		t.Error("tied model: wrong logits size")
	}
}
