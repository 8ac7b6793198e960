package neox_test

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
	m, src := load(t, tiny(nil))
	res := run(t, m, "blocks.0.ln1.hook_normalized", "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v")
	x := res.Acts["blocks.0.ln1.hook_normalized"].Data
	w, b := src["gpt_neox.layers.0.attention.query_key_value.weight"], src["gpt_neox.layers.0.attention.query_key_value.bias"].data
	const heads, dh = 4, 8
	for i, name := range []string{"hook_q", "hook_k", "hook_v"} {
		got := res.Acts["blocks.0.attn."+name].Data // [1, pos, head, d_head]
		for h := range heads {
			want := linear(x, w, b, (3*h+i)*dh, dh) // [pos, d_head]
			var g []float32
			for p := range len(ids[0]) {
				g = append(g, got[(p*heads+h)*dh:(p*heads+h+1)*dh]...)
			}
			closeTo(t, name, g, want)
		}
	}
}

// Parallel blocks add attention and MLP, both read from the block input;
// sequential blocks feed the MLP the residual after attention.
func TestResidual(t *testing.T) {
	hooks := []string{"blocks.0.hook_resid_pre", "blocks.0.hook_attn_out", "blocks.0.hook_mlp_out", "blocks.0.hook_resid_post", "blocks.0.ln2.hook_normalized"}
	m, src := load(t, tiny(nil))
	if slices.Contains(hookNames(t, m), "blocks.0.hook_resid_mid") {
		t.Error("parallel block records hook_resid_mid")
	}
	r := run(t, m, hooks...).Acts
	pre := r["blocks.0.hook_resid_pre"].Data
	closeTo(t, "parallel resid_post", r["blocks.0.hook_resid_post"].Data, add(pre, add(r["blocks.0.hook_attn_out"].Data, r["blocks.0.hook_mlp_out"].Data)))
	closeTo(t, "parallel ln2", r["blocks.0.ln2.hook_normalized"].Data, layerNorm(pre, src["gpt_neox.layers.0.post_attention_layernorm.weight"].data, src["gpt_neox.layers.0.post_attention_layernorm.bias"].data, 1e-5))

	m, src = load(t, tiny(map[string]any{"use_parallel_residual": false}))
	r = run(t, m, append(hooks, "blocks.0.hook_resid_mid")...).Acts
	mid := r["blocks.0.hook_resid_mid"].Data
	closeTo(t, "sequential resid_mid", mid, add(r["blocks.0.hook_resid_pre"].Data, r["blocks.0.hook_attn_out"].Data))
	closeTo(t, "sequential resid_post", r["blocks.0.hook_resid_post"].Data, add(mid, r["blocks.0.hook_mlp_out"].Data))
	closeTo(t, "sequential ln2", r["blocks.0.ln2.hook_normalized"].Data, layerNorm(mid, src["gpt_neox.layers.0.post_attention_layernorm.weight"].data, src["gpt_neox.layers.0.post_attention_layernorm.bias"].data, 1e-5))
}

// Older configs: rotary_pct and rotary_emb_base; tied embeddings; no attention biases.
func TestLegacyConfig(t *testing.T) {
	m, _ := load(t, tiny(map[string]any{"rotary_pct": 0.5, "rotary_emb_base": 100, "tie_word_embeddings": true, "attention_bias": false}))
	r := run(t, m, "blocks.0.attn.hook_q", "blocks.0.attn.hook_rot_q").Acts
	q, rot := r["blocks.0.attn.hook_q"].Data, r["blocks.0.attn.hook_rot_q"].Data
	const dh = 8
	for p := range len(ids[0]) {
		for h := range 4 {
			i := (p*4 + h) * dh
			closeTo(t, "unrotated half", rot[i+dh/2:i+dh], q[i+dh/2:i+dh])
			if p == 1 { // position 1 turns pair 0 by angle 1 (any base) and pair 1 by 100^(-1/2)
				for j, f := range []float64{1, 0.1} {
					c, s := math.Cos(f), math.Sin(f)
					want := []float32{float32(float64(q[i+j])*c - float64(q[i+j+2])*s), float32(float64(q[i+j+2])*c + float64(q[i+j])*s)}
					closeTo(t, "rotated pair", []float32{rot[i+j], rot[i+j+2]}, want)
				}
			}
		}
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
