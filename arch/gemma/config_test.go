package gemma

import (
	"math"
	"testing"

	"github.com/glia-dev/glia/arch"
)

func gemma3(t *testing.T, over map[string]any) *Model {
	t.Helper()
	c := map[string]any{"num_hidden_layers": 7, "hidden_size": 32, "num_attention_heads": 4, "head_dim": 8, "intermediate_size": 48, "vocab_size": 64}
	for k, v := range over {
		c[k] = v
	}
	f, err := NewGemma3(arch.NewConfig("test", c))
	if err != nil {
		t.Fatal(err)
	}
	return f.(*Model)
}

func near(a float32, b float64) bool { return math.Abs(float64(a)-b) <= 1e-6*math.Abs(b) }

// The rotary frequency of pair 1 of an 8-dim head is base^(-2/8).
func TestGemma3Rope(t *testing.T) {
	// Older configs: rope_theta and rope_scaling global, rope_local_base_freq local.
	m := gemma3(t, map[string]any{"rope_theta": 1e6, "rope_local_base_freq": 1e4, "rope_scaling": map[string]any{"rope_type": "linear", "factor": 8}})
	if g, l := m.ropes[0].InvFreq[1], m.ropes[1].InvFreq[1]; !near(g, math.Pow(1e6, -0.25)/8) || !near(l, math.Pow(1e4, -0.25)) {
		t.Errorf("legacy config: global %g local %g", g, l)
	}
	// Defaults: 1e6 global, 1e4 local; default sliding pattern 6.
	m = gemma3(t, nil)
	if g, l := m.ropes[0].InvFreq[1], m.ropes[1].InvFreq[1]; !near(g, math.Pow(1e6, -0.25)) || !near(l, math.Pow(1e4, -0.25)) {
		t.Errorf("defaults: global %g local %g", g, l)
	}
	for l, want := range []int{4096, 4096, 4096, 4096, 4096, 0, 4096} {
		if m.window[l] != want || (m.ropeOf[l] == 0) != (want == 0) {
			t.Errorf("layer %d: window %d rope %d, want window %d", l, m.window[l], m.ropeOf[l], want)
		}
	}
	// transformers 5: one dict per layer type.
	m = gemma3(t, map[string]any{"rope_parameters": map[string]any{
		"full_attention":    map[string]any{"rope_type": "linear", "factor": 2, "rope_theta": 5e5},
		"sliding_attention": map[string]any{"rope_type": "default", "rope_theta": 1e3},
	}})
	if g, l := m.ropes[0].InvFreq[1], m.ropes[1].InvFreq[1]; !near(g, math.Pow(5e5, -0.25)/2) || !near(l, math.Pow(1e3, -0.25)) {
		t.Errorf("rope_parameters: global %g local %g", g, l)
	}
	if m.attnCap != 0 || m.finalCap != 0 || m.scale != 1/math.Sqrt(256) {
		t.Errorf("caps %g %g, scale %g: want off, off, 256^-0.5", m.attnCap, m.finalCap, m.scale)
	}
}

func TestLayerTypesErrors(t *testing.T) {
	c := map[string]any{"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 4, "head_dim": 8, "intermediate_size": 48, "vocab_size": 64}
	c["layer_types"] = []any{"sliding_attention"}
	if _, err := NewGemma2(arch.NewConfig("test", c)); err == nil {
		t.Error("layer_types shorter than the layers: no error")
	}
	c["layer_types"] = []any{"sliding_attention", "chunked_attention"}
	if _, err := NewGemma2(arch.NewConfig("test", c)); err == nil {
		t.Error("unknown layer type: no error")
	}
	delete(c, "layer_types")
	c["use_bidirectional_attention"] = true
	if _, err := NewGemma3(arch.NewConfig("test", c)); err == nil {
		t.Error("bidirectional attention: no error")
	}
}

// TestHeadDim: Gemma reads arch.LlamaDims but keeps its own head_dim
// default, 256, rather than hidden_size / num_attention_heads.
func TestHeadDim(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headDim any // nil: absent
		want    int
	}{
		{"absent", nil, 256},
		{"set", 8, 8},
		{"set to hidden/heads", 16, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := map[string]any{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 48, "vocab_size": 64}
			if tc.headDim != nil {
				c["head_dim"] = tc.headDim
			}
			for i, ctor := range []arch.Constructor{NewGemma, NewGemma2, NewGemma3} {
				f, err := ctor(arch.NewConfig("test", c))
				if err != nil {
					t.Fatal(err)
				}
				if got := f.Dims().DHead; got != tc.want {
					t.Errorf("gemma %d: d_head %d, want %d", i+1, got, tc.want)
				}
			}
		})
	}
	bad := map[string]any{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 48, "vocab_size": 64, "head_dim": 0}
	if _, err := NewGemma(arch.NewConfig("test", bad)); err == nil {
		t.Error("head_dim 0: no error")
	}
}
