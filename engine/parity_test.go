package engine_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format/safetensors"
)

// tolerance is the bar: 1e-4 absolute, or relative to the tensor's
// largest magnitude when that is above 1.
const tolerance = 1e-4

// maxDiff returns the largest |a-b| scaled by max(1, max|want|).
func maxDiff(got, want []float32) (diff float64, at int) {
	scale := 1.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	for i := range want {
		d := math.Abs(float64(got[i])-float64(want[i])) / scale
		if d > diff || math.IsNaN(d) {
			diff, at = d, i
		}
	}
	return diff, at
}

func loadRef(t *testing.T, dir string) *safetensors.File {
	t.Helper()
	ref, err := safetensors.Open(filepath.Join(dir, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.Close() })
	return ref
}

func refFloats(t *testing.T, ref *safetensors.File, name string) []float32 {
	t.Helper()
	v, err := ref.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestHFParity runs every fixture saved by transformers and compares logits,
// residuals, attention patterns, MLP neurons, their gradients and greedy ids.
func TestHFParity(t *testing.T) {
	dirs, _ := filepath.Glob("../testdata/hf-tiny/*")
	if len(dirs) == 0 {
		t.Fatal("no fixtures in testdata/hf-tiny")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := engine.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			ref := loadRef(t, dir)
			raw, err := ref.Int64s("input_ids")
			if err != nil {
				t.Fatal(err)
			}
			shape, _ := ref.Shape("input_ids")
			b, n := shape[0], shape[1]
			ids := make([][]int32, b)
			for i := range ids {
				for _, v := range raw[i*n : (i+1)*n] {
					ids[i] = append(ids[i], int32(v))
				}
			}
			L := m.Dims().Layers
			var hooks []string
			for l := range L {
				hooks = append(hooks, fmt.Sprintf("blocks.%d.mlp.hook_post", l), fmt.Sprintf("blocks.%d.attn.hook_pattern", l), fmt.Sprintf("blocks.%d.hook_resid_post", l))
			}
			hooks = append(hooks, "ln_final.hook_normalized", "hook_embed")
			var gt struct{ b, p, tok int }
			gt.b, gt.p, gt.tok = 0, 11, 371
			res, err := m.Run(engine.Request{IDs: ids, Hooks: hooks, Grad: &engine.GradTarget{Batch: gt.b, Pos: gt.p, Token: gt.tok}})
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, got []float32, want []float32) {
				t.Helper()
				if len(got) != len(want) {
					t.Errorf("%s: %d values, reference has %d", what, len(got), len(want))
					return
				}
				d, at := maxDiff(got, want)
				if d > tolerance {
					t.Errorf("%s: maxdiff %.3g at %d (got %g want %g)", what, d, at, got[at], want[at])
				} else {
					t.Logf("%-28s maxdiff %.2g", what, d)
				}
			}
			check("logits", res.Logits.Data, refFloats(t, ref, "logits"))
			for l := range L {
				check(fmt.Sprintf("blocks.%d.mlp.hook_post", l), res.Acts[hooks[3*l]].Data, refFloats(t, ref, fmt.Sprintf("mlp_post.%d", l)))
				check(fmt.Sprintf("blocks.%d.attn.hook_pattern", l), res.Acts[hooks[3*l+1]].Data, refFloats(t, ref, fmt.Sprintf("pattern.%d", l)))
				if l < L-1 {
					check(fmt.Sprintf("blocks.%d.hook_resid_post", l), res.Acts[hooks[3*l+2]].Data, refFloats(t, ref, fmt.Sprintf("hidden.%d", l+1)))
				}
				check(fmt.Sprintf("grad blocks.%d.mlp.hook_post", l), res.Grads[hooks[3*l]].Data, refFloats(t, ref, fmt.Sprintf("grad_mlp_post.%d", l)))
			}
			check("ln_final.hook_normalized", res.Acts["ln_final.hook_normalized"].Data, refFloats(t, ref, fmt.Sprintf("hidden.%d", L)))

			gen, err := ref.Int64s("generate_ids")
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Generate(ids[0], engine.GenerateOptions{MaxNew: len(gen) - n})
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range gen[n:] {
				if i >= len(got) || int64(got[i]) != want {
					t.Fatalf("greedy ids differ at new token %d: got %v, want %v", i, got, gen[n:])
				}
			}
		})
	}
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }
