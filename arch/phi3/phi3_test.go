package phi3_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/arch/archtest"
)

func tiny(over map[string]any) map[string]any {
	c := map[string]any{
		"model_type": "phi3", "num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 2,
		"intermediate_size": 48, "vocab_size": 64, "max_position_embeddings": 64,
	}
	for k, v := range over {
		c[k] = v
	}
	return c
}

// The fused projections split as transformers chunks them: q, k, v rows in
// that order; gate rows, then up rows.
func TestFusedSplits(t *testing.T) {
	m, src := archtest.Load(t, tiny(nil))
	r := archtest.Run(t, m, "blocks.1.ln1.hook_normalized", "blocks.1.attn.hook_q", "blocks.1.attn.hook_k", "blocks.1.attn.hook_v",
		"blocks.1.ln2.hook_normalized", "blocks.1.mlp.hook_pre", "blocks.1.mlp.hook_pre_linear").Acts
	x, w := r["blocks.1.ln1.hook_normalized"].Data, src["model.layers.1.self_attn.qkv_proj.weight"]
	archtest.CloseTo(t, "q", r["blocks.1.attn.hook_q"].Data, archtest.Linear(x, w, nil, 0, 32))
	archtest.CloseTo(t, "k", r["blocks.1.attn.hook_k"].Data, archtest.Linear(x, w, nil, 32, 16))
	archtest.CloseTo(t, "v", r["blocks.1.attn.hook_v"].Data, archtest.Linear(x, w, nil, 48, 16))
	x, w = r["blocks.1.ln2.hook_normalized"].Data, src["model.layers.1.mlp.gate_up_proj.weight"]
	archtest.CloseTo(t, "gate", r["blocks.1.mlp.hook_pre"].Data, archtest.Linear(x, w, nil, 0, 48))
	archtest.CloseTo(t, "up", r["blocks.1.mlp.hook_pre_linear"].Data, archtest.Linear(x, w, nil, 48, 48))
}

// sliding_window applies to every layer.
func TestSlidingWindow(t *testing.T) {
	m, _ := archtest.Load(t, tiny(map[string]any{"sliding_window": 3}))
	r := archtest.Run(t, m, "blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern").Acts
	for _, name := range []string{"blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"} {
		a, n := r[name], len(archtest.IDs[0])
		for i, p := range a.Data {
			q, k := i/n%n, i%n
			if (k > q || q-k >= 3) && p != 0 {
				t.Fatalf("%s: query %d attends to key %d", name, q, k)
			}
		}
	}
	m, _ = archtest.Load(t, tiny(map[string]any{"sliding_window": nil}))
	a := archtest.Run(t, m, "blocks.0.attn.hook_pattern").Acts["blocks.0.attn.hook_pattern"]
	if n := len(archtest.IDs[0]); a.Data[(n-1)*n] == 0 {
		t.Error("without sliding_window the last query does not see the first key")
	}
}

// partial_rotary_factor rotates only the leading dimensions of each head.
func TestPartialRotary(t *testing.T) {
	for _, over := range []map[string]any{
		{"rope_parameters": map[string]any{"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5}},
		{"rope_parameters": map[string]any{"rope_type": "default", "rope_theta": 10000.0}, "partial_rotary_factor": 0.5},
		{"rope_theta": 10000.0, "partial_rotary_factor": 0.5},
	} {
		m, _ := archtest.Load(t, tiny(over))
		r := archtest.Run(t, m, "blocks.0.attn.hook_q", "blocks.0.attn.hook_rot_q").Acts
		q, rot := r["blocks.0.attn.hook_q"].Data, r["blocks.0.attn.hook_rot_q"].Data
		for i := 0; i < len(q); i += 8 {
			archtest.CloseTo(t, "pass-through half", rot[i+4:i+8], q[i+4:i+8])
		}
		if slices.Equal(q, rot) {
			t.Errorf("%v: nothing rotated", over)
		}
	}
}

func TestLongRopeRejected(t *testing.T) {
	c := tiny(map[string]any{"rope_scaling": map[string]any{"type": "longrope", "short_factor": []any{1, 1}, "long_factor": []any{2, 2}}})
	_, err := arch.New(arch.NewConfig("test", c))
	if err == nil || !strings.Contains(err.Error(), "longrope") {
		t.Errorf("longrope: got error %v, want one naming longrope", err)
	}
	c = tiny(map[string]any{"rope_parameters": map[string]any{"rope_type": "longrope", "rope_theta": 10000.0}})
	if _, err = arch.New(arch.NewConfig("test", c)); err == nil || !strings.Contains(err.Error(), "longrope") {
		t.Errorf("longrope in rope_parameters: got error %v, want one naming longrope", err)
	}
}

func TestTied(t *testing.T) {
	m, _ := archtest.Load(t, tiny(map[string]any{"tie_word_embeddings": true}))
	if len(archtest.Run(t, m).Logits.Data) != len(archtest.IDs[0])*64 {
		t.Error("tied model: wrong logits size")
	}
	for _, h := range archtest.HookNames(t, m) {
		if strings.Contains(h, "_post.") {
			t.Errorf("phi3 has no post norms: %s", h)
		}
	}
}
