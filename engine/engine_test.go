package engine_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format/safetensors"
	. "github.com/gomlx/gomlx/core/graph"
)

// TestPaddingMatchesAlone: left- and right-padded batches give every
// sequence the logits and activations it has when run alone.
func TestPaddingMatchesAlone(t *testing.T) {
	for _, fam := range []string{"gpt2", "llama", "gemma2"} {
		t.Run(fam, func(t *testing.T) {
			m, err := engine.Load("../testdata/hf-tiny/" + fam)
			if err != nil {
				t.Fatal(err)
			}
			long := []int32{5, 17, 42, 99, 3, 7, 250, 11, 64, 8}
			short := []int32{9, 33, 21, 4}
			hooks := []string{"blocks.1.mlp.hook_post", "blocks.0.hook_resid_post"}
			alone := func(ids []int32) *engine.Result {
				r, err := m.Run(engine.Request{IDs: [][]int32{ids}, Hooks: hooks})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			refLong, refShort := alone(long), alone(short)
			pad := len(long) - len(short)
			for _, left := range []bool{true, false} {
				row, mask := make([]int32, len(long)), make([]bool, len(long))
				off := 0
				if left {
					off = pad
				}
				for i, id := range short {
					row[off+i], mask[off+i] = id, true
				}
				full := make([]bool, len(long))
				for i := range full {
					full[i] = true
				}
				r, err := m.Run(engine.Request{IDs: [][]int32{long, row}, Mask: [][]bool{full, mask}, Hooks: hooks})
				if err != nil {
					t.Fatal(err)
				}
				for _, name := range append([]string{"logits"}, hooks...) {
					got, want1, want2 := r.Logits, refLong.Logits, refShort.Logits
					if name != "logits" {
						got, want1, want2 = r.Acts[name], refLong.Acts[name], refShort.Acts[name]
					}
					w := got.Shape[2]
					if d, _ := maxDiff(got.Data[:len(long)*w], want1.Data); d > 1e-5 {
						t.Errorf("left=%v %s: unpadded row differs by %.3g", left, name, d)
					}
					start := (len(long) + off) * w
					if d, _ := maxDiff(got.Data[start:start+len(short)*w], want2.Data); d > 1e-5 {
						t.Errorf("left=%v %s: padded row differs from running alone by %.3g", left, name, d)
					}
				}
			}
		})
	}
}

// TestReplaceHook: a replacement applies where it is registered and flows
// downstream; zeroing the MLP output makes resid_post equal resid_mid.
func TestReplaceHook(t *testing.T) {
	m, err := engine.Load("../testdata/hf-tiny/llama")
	if err != nil {
		t.Fatal(err)
	}
	ids := [][]int32{{1, 2, 3, 4, 5}}
	hooks := []string{"blocks.0.hook_resid_mid", "blocks.0.hook_resid_post", "blocks.0.hook_mlp_out"}
	r, err := m.Run(engine.Request{IDs: ids, Hooks: hooks, Interventions: []engine.Intervention{{
		Hook: "blocks.0.hook_mlp_out", Key: "zero", Fn: func(x *Node) *Node { return ZerosLike(x) },
	}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range r.Acts["blocks.0.hook_mlp_out"].Data {
		if v != 0 {
			t.Fatal("cached hook_mlp_out is not the replaced value")
		}
	}
	if d, _ := maxDiff(r.Acts["blocks.0.hook_resid_post"].Data, r.Acts["blocks.0.hook_resid_mid"].Data); d != 0 {
		t.Fatalf("resid_post differs from resid_mid by %g after zeroing mlp_out", d)
	}
	clean, _ := m.Run(engine.Request{IDs: ids})
	if d, _ := maxDiff(r.Logits.Data, clean.Logits.Data); d == 0 {
		t.Fatal("replacement did not change the logits")
	}
	_, err = m.Run(engine.Request{IDs: ids, Interventions: []engine.Intervention{{Hook: "blocks.0.mlp.hook_postt", Key: "x", Fn: func(x *Node) *Node { return x }}}})
	if err == nil || !strings.Contains(err.Error(), "hook_postt") {
		t.Fatalf("unknown hook in intervention: got %v", err)
	}
	_, err = m.Run(engine.Request{IDs: ids, Hooks: []string{"blocks.9.mlp.hook_post"}})
	if err == nil || !strings.Contains(err.Error(), "blocks.9.mlp.hook_post") {
		t.Fatalf("unknown hook: got %v", err)
	}
}

// TestGradientMatchesFiniteDifference checks d logit / d hook against a
// finite difference through a replacement that nudges one unit.
func TestGradientMatchesFiniteDifference(t *testing.T) {
	m, err := engine.Load("../testdata/hf-tiny/gpt2")
	if err != nil {
		t.Fatal(err)
	}
	ids := [][]int32{{3, 1, 4, 1, 5, 9}}
	h := "blocks.0.hook_resid_mid"
	target := engine.GradTarget{Batch: 0, Pos: 5, Token: 7}
	r, err := m.Run(engine.Request{IDs: ids, Hooks: []string{h}, Grad: &target})
	if err != nil {
		t.Fatal(err)
	}
	const eps = 1e-2
	unit := 2*64 + 10 // position 2, dimension 10
	logitAt := func(delta float64) float64 {
		rr, err := m.Run(engine.Request{IDs: ids, Interventions: []engine.Intervention{{Hook: h, Key: "nudge" + string(rune(int(delta*1000))), Fn: func(x *Node) *Node {
			oh := make([]float32, x.Shape().Size())
			oh[unit] = float32(delta)
			return Add(x, Reshape(Const(x.Graph(), oh), x.Shape().Dimensions...))
		}}}})
		if err != nil {
			t.Fatal(err)
		}
		return float64(rr.Logits.Data[(5)*384+7])
	}
	fd := (logitAt(eps) - logitAt(-eps)) / (2 * eps)
	got := float64(r.Grads[h].Data[unit])
	if math.Abs(fd-got) > 1e-3*math.Max(1, math.Abs(fd)) {
		t.Fatalf("gradient %g, finite difference %g", got, fd)
	}
}

// copyFixture copies a fixture directory so a test can damage it.
func copyFixture(t *testing.T, fam string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join("../testdata/hf-tiny", fam, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	b, _ := os.ReadFile(p)
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	edit(c)
	b, _ = json.Marshal(c)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteWeights rewrites model.safetensors through edit (float32).
func rewriteWeights(t *testing.T, dir string, edit func([]safetensors.Tensor) []safetensors.Tensor) {
	t.Helper()
	p := filepath.Join(dir, "model.safetensors")
	f, err := safetensors.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	for _, n := range f.Names() {
		d, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := f.Shape(n)
		ts = append(ts, safetensors.Tensor{Name: n, Shape: s, Data: d})
	}
	f.Close()
	if err := safetensors.Write(p, edit(ts), nil); err != nil {
		t.Fatal(err)
	}
}

// TestBadModels: each damaged checkpoint is an error naming the file and
// the problem, never a panic.
func TestBadModels(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   []string
		kind   error // if set, errors.Is(err, kind)
	}{
		{"unknown model_type", func(t *testing.T, dir string) {
			editConfig(t, dir, func(c map[string]any) { c["model_type"] = "mamba9" })
		}, []string{"mamba9", "supported", "llama"}, nil},
		{"shape disagrees with config", func(t *testing.T, dir string) {
			editConfig(t, dir, func(c map[string]any) { c["intermediate_size"] = 96 })
		}, []string{"mlp.gate_proj.weight", "shape", "config.json"}, nil},
		{"missing tensor", func(t *testing.T, dir string) {
			rewriteWeights(t, dir, func(ts []safetensors.Tensor) []safetensors.Tensor {
				var out []safetensors.Tensor
				for _, x := range ts {
					if x.Name != "model.layers.1.mlp.up_proj.weight" {
						out = append(out, x)
					}
				}
				return out
			})
		}, []string{"missing", "model.layers.1.mlp.up_proj.weight"}, nil},
		{"extra tensor", func(t *testing.T, dir string) {
			rewriteWeights(t, dir, func(ts []safetensors.Tensor) []safetensors.Tensor {
				return append(ts, safetensors.Tensor{Name: "model.layers.0.mystery.weight", Shape: []int{2}, Data: []float32{1, 2}})
			})
		}, []string{"does not read", "model.layers.0.mystery.weight"}, nil},
		{"NaN weight", func(t *testing.T, dir string) {
			rewriteWeights(t, dir, func(ts []safetensors.Tensor) []safetensors.Tensor {
				for _, x := range ts {
					if x.Name == "model.layers.0.self_attn.k_proj.weight" {
						x.Data[5] = float32(math.NaN())
					}
				}
				return ts
			})
		}, []string{"model.layers.0.self_attn.k_proj.weight", "NaN"}, nil},
		{"truncated file", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}, []string{"model.safetensors"}, nil},
		{"header length past end", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			b, _ := os.ReadFile(p)
			b[6] = 0x7f
			os.WriteFile(p, b, 0o644)
		}, []string{"model.safetensors", "header"}, nil},
		{"bad config json", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte("{\"model_type\": "), 0o644)
		}, []string{"config.json"}, nil},
		// Sizes are checked against the weights before anything is allocated
		// from them, and constants that make activations NaN are refused;
		// numbers are quoted as written.
		{"more layers than the weights", func(t *testing.T, dir string) {
			editConfig(t, dir, func(c map[string]any) { c["num_hidden_layers"] = json.Number("3") })
		}, []string{"config.json", "num_hidden_layers 3", "more than the 2 layers"}, arch.ErrConfigRange},
		{"vocab_size 1e300", func(t *testing.T, dir string) {
			editConfig(t, dir, func(c map[string]any) { c["vocab_size"] = json.Number("1e300") })
		}, []string{"config.json", "vocab_size 1e300"}, arch.ErrConfigRange},
		{"rope_theta 0", func(t *testing.T, dir string) {
			editConfig(t, dir, func(c map[string]any) { c["rope_parameters"].(map[string]any)["rope_theta"] = 0 })
		}, []string{"config.json", "rope_parameters.rope_theta 0", "positive"}, arch.ErrConfigRange},
		{"rms_norm_eps -1", func(t *testing.T, dir string) {
			editConfig(t, dir, func(c map[string]any) { c["rms_norm_eps"] = -1 })
		}, []string{"config.json", "rms_norm_eps -1", "positive"}, arch.ErrConfigRange},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyFixture(t, "llama")
			c.damage(t, dir)
			_, err := engine.Load(dir)
			if err == nil {
				t.Fatal("loaded a damaged model without error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if c.kind != nil && !errors.Is(err, c.kind) {
				t.Errorf("error %q is not %v", err, c.kind)
			}
		})
	}
}

// TestLayerNormScaleHookIsLive: with the fused LayerNorm, hook_scale still
// reads the right value, and replacing it still changes the output.
func TestLayerNormScaleHookIsLive(t *testing.T) {
	m, err := engine.Load("../testdata/hf-tiny/gpt2")
	if err != nil {
		t.Fatal(err)
	}
	ids := [][]int32{{3, 1, 4, 1, 5}}
	h := "blocks.0.ln1.hook_scale"
	plain, err := m.Run(engine.Request{IDs: ids, Hooks: []string{h, "blocks.0.ln1.hook_normalized", "blocks.0.hook_resid_pre"}})
	if err != nil {
		t.Fatal(err)
	}
	// hook_scale is the LayerNorm denominator: normalized·scale recovers the centred input (gain 1 is not assumed: compare std).
	resid := plain.Acts["blocks.0.hook_resid_pre"].Data
	scale := plain.Acts[h].Data
	for p := range 5 {
		var mean, v float64
		row := resid[p*64 : (p+1)*64]
		for _, x := range row {
			mean += float64(x) / 64
		}
		for _, x := range row {
			v += (float64(x) - mean) * (float64(x) - mean) / 64
		}
		if want := math.Sqrt(v + 1e-5); math.Abs(want-float64(scale[p])) > 1e-5*want {
			t.Fatalf("hook_scale[%d] = %g, want %g", p, scale[p], want)
		}
	}
	doubled, err := m.Run(engine.Request{IDs: ids, Hooks: []string{"blocks.0.ln1.hook_normalized"}, Interventions: []engine.Intervention{{
		Hook: h, Key: "x2", Fn: func(x *Node) *Node { return MulScalar(x, 2) },
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := maxDiff(doubled.Acts["blocks.0.ln1.hook_normalized"].Data, plain.Acts["blocks.0.ln1.hook_normalized"].Data); d == 0 {
		t.Fatal("replacing hook_scale did not change the normalized output")
	}
}

// TestResolveHints: a name that is neither here nor cached says where it
// looked and how to get it; a missing file is just missing.
func TestResolveHints(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	for _, tc := range []struct{ spec, want string }{
		{"gpt2", "huggingface-cli download gpt2"},
		{"openai-community/gpt2", "models--openai-community--gpt2"},
		{"model.gguf", "no such file or directory"},
		{"./nothing", "no such file or directory"},
	} {
		_, err := engine.Resolve(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("engine.Resolve(%q) = %v, want an error containing %q", tc.spec, err, tc.want)
		}
	}
	// A bare name found in the cache resolves to its snapshot.
	snap := filepath.Join(os.Getenv("HF_HUB_CACHE"), "models--gpt2", "snapshots", "abc")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := engine.Resolve("gpt2"); err != nil || got != snap {
		t.Errorf("engine.Resolve(gpt2) = %q, %v; want %q", got, err, snap)
	}
}
