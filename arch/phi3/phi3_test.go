package phi3_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/engine"
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
	m, src := load(t, tiny(nil))
	r := run(t, m, "blocks.1.ln1.hook_normalized", "blocks.1.attn.hook_q", "blocks.1.attn.hook_k", "blocks.1.attn.hook_v",
		"blocks.1.ln2.hook_normalized", "blocks.1.mlp.hook_pre", "blocks.1.mlp.hook_pre_linear").Acts
	x, w := r["blocks.1.ln1.hook_normalized"].Data, src["model.layers.1.self_attn.qkv_proj.weight"]
	closeTo(t, "q", r["blocks.1.attn.hook_q"].Data, linear(x, w, nil, 0, 32))
	closeTo(t, "k", r["blocks.1.attn.hook_k"].Data, linear(x, w, nil, 32, 16))
	closeTo(t, "v", r["blocks.1.attn.hook_v"].Data, linear(x, w, nil, 48, 16))
	x, w = r["blocks.1.ln2.hook_normalized"].Data, src["model.layers.1.mlp.gate_up_proj.weight"]
	closeTo(t, "gate", r["blocks.1.mlp.hook_pre"].Data, linear(x, w, nil, 0, 48))
	closeTo(t, "up", r["blocks.1.mlp.hook_pre_linear"].Data, linear(x, w, nil, 48, 48))
}

// sliding_window applies to every layer.
func TestSlidingWindow(t *testing.T) {
	m, _ := load(t, tiny(map[string]any{"sliding_window": 3}))
	r := run(t, m, "blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern").Acts
	for _, name := range []string{"blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"} {
		a, n := r[name], len(ids[0])
		for i, p := range a.Data {
			q, k := i/n%n, i%n
			if (k > q || q-k >= 3) && p != 0 {
				t.Fatalf("%s: query %d attends to key %d", name, q, k)
			}
		}
	}
	m, _ = load(t, tiny(map[string]any{"sliding_window": nil}))
	a := run(t, m, "blocks.0.attn.hook_pattern").Acts["blocks.0.attn.hook_pattern"]
	if n := len(ids[0]); a.Data[(n-1)*n] == 0 {
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
		m, _ := load(t, tiny(over))
		r := run(t, m, "blocks.0.attn.hook_q", "blocks.0.attn.hook_rot_q").Acts
		q, rot := r["blocks.0.attn.hook_q"].Data, r["blocks.0.attn.hook_rot_q"].Data
		for i := 0; i < len(q); i += 8 {
			closeTo(t, "pass-through half", rot[i+4:i+8], q[i+4:i+8])
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
	m, _ := load(t, tiny(map[string]any{"tie_word_embeddings": true}))
	if len(run(t, m).Logits.Data) != len(ids[0])*64 {
		t.Error("tied model: wrong logits size")
	}
	for _, h := range hookNames(t, m) {
		if strings.Contains(h, "_post.") {
			t.Errorf("phi3 has no post norms: %s", h)
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
