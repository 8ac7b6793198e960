package neox_test

import (
	"math"
	"slices"
	"testing"

	"github.com/glia-dev/glia/arch/archtest"
)

func tiny(over map[string]any) map[string]any {
	c := map[string]any{
		"model_type": "gpt_neox", "num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 4,
		"intermediate_size": 64, "vocab_size": 64, "max_position_embeddings": 64, "hidden_act": "gelu",
	}
	for k, v := range over {
		c[k] = v
	}
	return c
}

// layerNorm normalises each row of x [rows, d].
func layerNorm(x []float32, w, b []float32, eps float64) []float32 {
	d := len(w)
	out := make([]float32, len(x))
	for r := 0; r < len(x)/d; r++ {
		row := x[r*d : (r+1)*d]
		mean, v := 0.0, 0.0
		for _, e := range row {
			mean += float64(e)
		}
		mean /= float64(d)
		for _, e := range row {
			v += (float64(e) - mean) * (float64(e) - mean)
		}
		v /= float64(d)
		for i, e := range row {
			out[r*d+i] = float32((float64(e)-mean)/math.Sqrt(v+eps)*float64(w[i]) + float64(b[i]))
		}
	}
	return out
}

// The fused query_key_value is laid out per head: rows [h·3·d_head, (h·3+1)·d_head)
// are head h's query, then its key, then its value.
func TestFusedQKVLayout(t *testing.T) {
	m, src := archtest.Load(t, tiny(nil))
	res := archtest.Run(t, m, "blocks.0.ln1.hook_normalized", "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v")
	x := res.Acts["blocks.0.ln1.hook_normalized"].Data
	w, b := src["gpt_neox.layers.0.attention.query_key_value.weight"], src["gpt_neox.layers.0.attention.query_key_value.bias"].Data
	const heads, dh = 4, 8
	for i, name := range []string{"hook_q", "hook_k", "hook_v"} {
		got := res.Acts["blocks.0.attn."+name].Data // [1, pos, head, d_head]
		for h := range heads {
			want := archtest.Linear(x, w, b, (3*h+i)*dh, dh) // [pos, d_head]
			var g []float32
			for p := range len(archtest.IDs[0]) {
				g = append(g, got[(p*heads+h)*dh:(p*heads+h+1)*dh]...)
			}
			archtest.CloseTo(t, name, g, want)
		}
	}
}

// Parallel blocks add attention and MLP, both read from the block input;
// sequential blocks feed the MLP the residual after attention.
func TestResidual(t *testing.T) {
	hooks := []string{"blocks.0.hook_resid_pre", "blocks.0.hook_attn_out", "blocks.0.hook_mlp_out", "blocks.0.hook_resid_post", "blocks.0.ln2.hook_normalized"}
	m, src := archtest.Load(t, tiny(nil))
	if slices.Contains(archtest.HookNames(t, m), "blocks.0.hook_resid_mid") {
		t.Error("parallel block records hook_resid_mid")
	}
	r := archtest.Run(t, m, hooks...).Acts
	pre := r["blocks.0.hook_resid_pre"].Data
	archtest.CloseTo(t, "parallel resid_post", r["blocks.0.hook_resid_post"].Data, archtest.Add(pre, archtest.Add(r["blocks.0.hook_attn_out"].Data, r["blocks.0.hook_mlp_out"].Data)))
	archtest.CloseTo(t, "parallel ln2", r["blocks.0.ln2.hook_normalized"].Data, layerNorm(pre, src["gpt_neox.layers.0.post_attention_layernorm.weight"].Data, src["gpt_neox.layers.0.post_attention_layernorm.bias"].Data, 1e-5))

	m, src = archtest.Load(t, tiny(map[string]any{"use_parallel_residual": false}))
	r = archtest.Run(t, m, append(hooks, "blocks.0.hook_resid_mid")...).Acts
	mid := r["blocks.0.hook_resid_mid"].Data
	archtest.CloseTo(t, "sequential resid_mid", mid, archtest.Add(r["blocks.0.hook_resid_pre"].Data, r["blocks.0.hook_attn_out"].Data))
	archtest.CloseTo(t, "sequential resid_post", r["blocks.0.hook_resid_post"].Data, archtest.Add(mid, r["blocks.0.hook_mlp_out"].Data))
	archtest.CloseTo(t, "sequential ln2", r["blocks.0.ln2.hook_normalized"].Data, layerNorm(mid, src["gpt_neox.layers.0.post_attention_layernorm.weight"].Data, src["gpt_neox.layers.0.post_attention_layernorm.bias"].Data, 1e-5))
}

// Older configs: rotary_pct and rotary_emb_base; tied embeddings; no attention biases.
func TestLegacyConfig(t *testing.T) {
	m, _ := archtest.Load(t, tiny(map[string]any{"rotary_pct": 0.5, "rotary_emb_base": 100, "tie_word_embeddings": true, "attention_bias": false}))
	r := archtest.Run(t, m, "blocks.0.attn.hook_q", "blocks.0.attn.hook_rot_q").Acts
	q, rot := r["blocks.0.attn.hook_q"].Data, r["blocks.0.attn.hook_rot_q"].Data
	const dh = 8
	for p := range len(archtest.IDs[0]) {
		for h := range 4 {
			i := (p*4 + h) * dh
			archtest.CloseTo(t, "unrotated half", rot[i+dh/2:i+dh], q[i+dh/2:i+dh])
			if p == 1 { // position 1 turns pair 0 by angle 1 (any base) and pair 1 by 100^(-1/2)
				for j, f := range []float64{1, 0.1} {
					c, s := math.Cos(f), math.Sin(f)
					want := []float32{float32(float64(q[i+j])*c - float64(q[i+j+2])*s), float32(float64(q[i+j+2])*c + float64(q[i+j])*s)}
					archtest.CloseTo(t, "rotated pair", []float32{rot[i+j], rot[i+j+2]}, want)
				}
			}
		}
	}
}
