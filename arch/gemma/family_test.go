package gemma_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/arch/archtest"
	"github.com/glia-dev/glia/engine"
)

// tiny returns a small config of the given model_type, with overrides.
func tiny(modelType string, over map[string]any) map[string]any {
	c := map[string]any{
		"model_type": modelType, "num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 4,
		"num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 48, "vocab_size": 64,
		"max_position_embeddings": 64, "query_pre_attn_scalar": 8,
	}
	for k, v := range over {
		c[k] = v
	}
	return c
}

// windowed reports whether a pattern [1, head, q, k] attends only within
// window keys, and whether it has weight on any key at or beyond it.
func windowed(t *testing.T, a engine.Array, window int) (inside, beyond bool) {
	t.Helper()
	h, n := a.Shape[1], a.Shape[2]
	inside = true
	for hd := range h {
		for q := range n {
			sum := 0.0
			for k := range n {
				p := float64(a.Data[(hd*n+q)*n+k])
				sum += p
				if k > q && p != 0 {
					t.Errorf("head %d: query %d attends to future key %d", hd, q, k)
				}
				if q-k >= window && k <= q {
					if p != 0 {
						inside = false
					}
					if p > 1e-6 {
						beyond = true
					}
				}
			}
			if math.Abs(sum-1) > 1e-5 {
				t.Errorf("head %d query %d: pattern sums to %g", hd, q, sum)
			}
		}
	}
	return inside, beyond
}

// Gemma 2 without layer_types: even layers slide, odd layers see everything.
func TestGemma2SlidingWindow(t *testing.T) {
	m, _ := archtest.Load(t, tiny("gemma2", map[string]any{"sliding_window": 3}))
	res := archtest.Run(t, m, "blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern")
	if in, _ := windowed(t, res.Acts["blocks.0.attn.hook_pattern"], 3); !in {
		t.Error("layer 0 (sliding) attends beyond its window")
	}
	if _, beyond := windowed(t, res.Acts["blocks.1.attn.hook_pattern"], 3); !beyond {
		t.Error("layer 1 (full) never attends beyond 3 keys")
	}
}

// Gemma 3's layer_types choose the window and the rotary base per layer.
func TestGemma3LayerTypes(t *testing.T) {
	m, _ := archtest.Load(t, tiny("gemma3_text", map[string]any{"sliding_window": 4, "layer_types": []any{"full_attention", "sliding_attention"}}))
	res := archtest.Run(t, m, "blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern")
	if _, beyond := windowed(t, res.Acts["blocks.0.attn.hook_pattern"], 4); !beyond {
		t.Error("layer 0 (full) never attends beyond 4 keys")
	}
	if in, _ := windowed(t, res.Acts["blocks.1.attn.hook_pattern"], 4); !in {
		t.Error("layer 1 (sliding) attends beyond its window")
	}
}

func TestGemma2SoftCaps(t *testing.T) {
	m, _ := archtest.Load(t, tiny("gemma2", map[string]any{"attn_logit_softcapping": 0.25, "final_logit_softcapping": 0.5}))
	res := archtest.Run(t, m, "blocks.0.attn.hook_attn_scores")
	for _, v := range res.Logits.Data {
		if math.Abs(float64(v)) > 0.5 {
			t.Fatalf("logit %g exceeds the final soft-cap 0.5", v)
		}
	}
	for _, v := range res.Acts["blocks.0.attn.hook_attn_scores"].Data {
		if v > -1e30 && math.Abs(float64(v)) > 0.25 {
			t.Fatalf("attention score %g exceeds the soft-cap 0.25", v)
		}
	}
	// null soft-caps are off
	m, _ = archtest.Load(t, tiny("gemma2", map[string]any{"attn_logit_softcapping": nil, "final_logit_softcapping": nil}))
	big := false
	for _, v := range archtest.Run(t, m).Logits.Data {
		big = big || math.Abs(float64(v)) > 0.5
	}
	if !big {
		t.Error("without soft-capping every logit is within 0.5: soft-capping seems on")
	}
}

// Untied checkpoints read lm_head; Gemma 1 has no sandwich norms.
func TestGemmaHooksAndTying(t *testing.T) {
	m, _ := archtest.Load(t, tiny("gemma", map[string]any{"tie_word_embeddings": false}))
	names := archtest.HookNames(t, m)
	all := strings.Join(names, " ")
	for _, want := range []string{"hook_embed", "blocks.1.ln1.hook_scale", "blocks.1.ln2.hook_normalized", "blocks.1.mlp.hook_pre_linear", "blocks.1.attn.hook_rot_k", "ln_final.hook_normalized"} {
		if !slices.Contains(names, want) {
			t.Errorf("gemma: no hook %s", want)
		}
	}
	if strings.Contains(all, "_post.hook") {
		t.Errorf("gemma has no post norms, hooks: %s", all)
	}
	m, _ = archtest.Load(t, tiny("gemma2", nil))
	hooks, _ := m.Hooks(len(archtest.IDs[0]))
	names = names[:0]
	for _, h := range hooks {
		names = append(names, h.Name)
	}
	for _, want := range []string{"blocks.0.ln1_post.hook_normalized", "blocks.0.ln2_post.hook_scale", "blocks.0.hook_resid_mid"} {
		if !slices.Contains(names, want) {
			t.Errorf("gemma2: no hook %s", want)
		}
	}
}
