package olmo2_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/engine"
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
	m, src := load(t, tiny(map[string]any{"attention_bias": true}))
	r := run(t, m, "blocks.0.attn.hook_q", "blocks.0.attn.hook_rot_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_rot_k").Acts
	for _, qk := range []struct {
		name string
		w    string
		n    int
	}{{"q", "model.layers.0.self_attn.q_norm.weight", 32}, {"k", "model.layers.0.self_attn.k_norm.weight", 16}} {
		raw := r["blocks.0.attn.hook_"+qk.name].Data[:qk.n]
		rot := r["blocks.0.attn.hook_rot_"+qk.name].Data[:qk.n]
		closeTo(t, qk.name+" at position 0", rot, rmsNorm(raw, src[qk.w].data, 1e-5))
	}
}

// The block's inputs are not normalised; its outputs are, before the residual add.
func TestPostNorms(t *testing.T) {
	m, src := load(t, tiny(nil))
	names := hookNames(t, m)
	for _, h := range []string{"blocks.0.ln1.hook_normalized", "blocks.0.ln2.hook_normalized"} {
		if slices.Contains(names, h) {
			t.Errorf("olmo2 has no input norms, but records %s", h)
		}
	}
	r := run(t, m, "blocks.1.hook_resid_pre", "blocks.1.ln1_post.hook_normalized", "blocks.1.hook_attn_out", "blocks.1.hook_resid_mid",
		"blocks.1.mlp.hook_pre", "blocks.1.ln2_post.hook_normalized", "blocks.1.hook_mlp_out", "blocks.1.hook_resid_post", "blocks.1.mlp.hook_post").Acts
	closeTo(t, "attn_out", r["blocks.1.hook_attn_out"].Data, r["blocks.1.ln1_post.hook_normalized"].Data)
	closeTo(t, "resid_mid", r["blocks.1.hook_resid_mid"].Data, add(r["blocks.1.hook_resid_pre"].Data, r["blocks.1.hook_attn_out"].Data))
	closeTo(t, "mlp pre", r["blocks.1.mlp.hook_pre"].Data, linear(r["blocks.1.hook_resid_mid"].Data, src["model.layers.1.mlp.gate_proj.weight"], nil, 0, 48))
	down := linear(r["blocks.1.mlp.hook_post"].Data, src["model.layers.1.mlp.down_proj.weight"], nil, 0, 32)
	closeTo(t, "mlp_out", r["blocks.1.hook_mlp_out"].Data, rmsNorm(down, src["model.layers.1.post_feedforward_layernorm.weight"].data, 1e-5))
	closeTo(t, "resid_post", r["blocks.1.hook_resid_post"].Data, add(r["blocks.1.hook_resid_mid"].Data, r["blocks.1.hook_mlp_out"].Data))
}

func TestTied(t *testing.T) {
	m, _ := load(t, tiny(map[string]any{"tie_word_embeddings": true}))
	if len(run(t, m).Logits.Data) != len(ids[0])*64 {
		t.Error("tied model: wrong logits size")
	}
}

// memSource is an in-memory checkpoint of random weights.
type memSource map[string]tensor

type tensor struct {
	shape []int
	data  []float32
}

func (s memSource) Names() []string {
	var n []string
	for k := range s {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}
func (s memSource) Shape(n string) ([]int, bool)        { t, ok := s[n]; return t.shape, ok }
func (s memSource) Float32(n string) ([]float32, error) { return s[n].data, nil }
func (s memSource) Close() error                        { return nil }

// load builds a model of random weights for config c.
func load(t *testing.T, c map[string]any) (*engine.Model, memSource) {
	t.Helper()
	fam, err := arch.New(arch.NewConfig("test", c))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	src := memSource{}
	for _, s := range fam.Weights() {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(rng.NormFloat64() * 0.5)
		}
		src[s.Name] = tensor{s.Shape, data}
	}
	m, err := engine.FromSource("test", arch.NewConfig("test", c), src)
	if err != nil {
		t.Fatal(err)
	}
	return m, src
}

var ids = [][]int32{{3, 14, 15, 9, 26, 5, 35, 8, 9, 7}}

func run(t *testing.T, m *engine.Model, hooks ...string) *engine.Result {
	t.Helper()
	res, err := m.Run(engine.Request{IDs: ids, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func hookNames(t *testing.T, m *engine.Model) []string {
	t.Helper()
	hooks, err := m.Hooks(len(ids[0]))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range hooks {
		names = append(names, h.Name)
	}
	return names
}

func closeTo(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > 1e-4*math.Max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

func add(a, b []float32) []float32 {
	out := make([]float32, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}

// linear is x·Wᵀ + b over rows of x, for W [out, in] (rows r0..r0+n of W).
func linear(x []float32, w tensor, b []float32, r0, n int) []float32 {
	in := w.shape[1]
	rows := len(x) / in
	out := make([]float32, rows*n)
	for r := range rows {
		for o := range n {
			s := 0.0
			if b != nil {
				s = float64(b[r0+o])
			}
			for j := range in {
				s += float64(x[r*in+j]) * float64(w.data[(r0+o)*in+j])
			}
			out[r*n+o] = float32(s)
		}
	}
	return out
}
