package engine_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/gomlx/compute/dtypes"
)

func TestParseDType(t *testing.T) {
	for in, want := range map[string]dtypes.DType{"": dtypes.Float32, "f32": dtypes.Float32, "FP32": dtypes.Float32, "bf16": dtypes.BFloat16, "bfloat16": dtypes.BFloat16} {
		if got, err := engine.ParseDType(in); err != nil || got != want {
			t.Errorf("ParseDType(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := engine.ParseDType("f16"); err == nil {
		t.Error("ParseDType(f16): no error")
	}
}

// TestBF16MatchesF32 runs every hf-tiny fixture in bf16 and compares with the
// float32 run of the same model: logits within BF16LogitTolerance of max(1,
// largest logit), the teacher-forced argmax mostly agrees, hooks and gradients come back as float32, and the greedy
// continuation is reported.
func TestBF16MatchesF32(t *testing.T) {
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
			ids := make([][]int32, 2)
			for i := range ids {
				for j := range 16 {
					ids[i] = append(ids[i], int32((i*7919+j*104729)%m.Dims().Vocab))
				}
			}
			hooks := []string{"blocks.0.mlp.hook_post", "blocks.0.attn.hook_pattern"}
			req := engine.Request{IDs: ids, Hooks: hooks, Grad: &engine.GradTarget{Batch: 0, Pos: 5, Token: 3}}
			ref, err := m.Run(req)
			if err != nil {
				t.Fatal(err)
			}
			genRef, err := m.Generate(ids[0][:8], engine.GenerateOptions{MaxNew: 8})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.SetDType(dtypes.BFloat16); err != nil {
				t.Fatal(err)
			}
			if m.DType() != dtypes.BFloat16 {
				t.Fatalf("DType() = %s after SetDType(bf16)", m.DType())
			}
			got, err := m.Run(req)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := engine.MaxDiff(got.Logits.Data, ref.Logits.Data)
			if d > engine.BF16LogitTolerance || math.IsNaN(d) {
				t.Errorf("bf16 logits: maxdiff %.3g relative to max(1, largest logit), want ≤ %g", d, engine.BF16LogitTolerance)
			}
			// Teacher-forced next-token choice at every position.
			vocab := m.Dims().Vocab
			argmax := func(row []float32) int {
				best := 0
				for i, v := range row {
					if v > row[best] {
						best = i
					}
				}
				return best
			}
			rows, agree := len(ref.Logits.Data)/vocab, 0
			for r := range rows {
				if argmax(got.Logits.Data[r*vocab:(r+1)*vocab]) == argmax(ref.Logits.Data[r*vocab:(r+1)*vocab]) {
					agree++
				}
			}
			if agree*4 < rows*3 {
				t.Errorf("bf16 argmax agrees with f32 at only %d/%d positions", agree, rows)
			}
			for _, h := range hooks {
				if len(got.Acts[h].Data) != len(ref.Acts[h].Data) || len(got.Grads[h].Data) != len(ref.Grads[h].Data) {
					t.Fatalf("%s: bf16 returned %d values / %d grads, f32 %d / %d", h, len(got.Acts[h].Data), len(got.Grads[h].Data), len(ref.Acts[h].Data), len(ref.Grads[h].Data))
				}
				da, _ := engine.MaxDiff(got.Acts[h].Data, ref.Acts[h].Data)
				dg, _ := engine.MaxDiff(got.Grads[h].Data, ref.Grads[h].Data)
				t.Logf("%-28s bf16 maxdiff %.2g, grad %.2g", h, da, dg)
			}
			gen, err := m.Generate(ids[0][:8], engine.GenerateOptions{MaxNew: 8})
			if err != nil {
				t.Fatal(err)
			}
			same := 0
			for i := range min(len(gen), len(genRef)) {
				if gen[i] == genRef[i] {
					same++
				}
			}
			scale := 0.0
			for _, v := range ref.Logits.Data {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			t.Logf("BF16 %-9s max|logit| %.3g, logits maxdiff %.3g; argmax %d/%d; greedy %d/%d ids equal (%v vs %v)", filepath.Base(dir), scale, d, agree, rows, same, len(genRef), gen, genRef)
			// Weights round-trip through bf16 and back: readable as float32.
			if w, err := m.Weight(m.WeightNames()[0]); err != nil || len(w.Data) == 0 {
				t.Errorf("Weight in bf16: %v", err)
			}
			if err := m.SetDType(dtypes.Float32); err != nil {
				t.Fatal(err)
			}
			back, err := m.Run(req)
			if err != nil {
				t.Fatal(err)
			}
			if d, _ := engine.MaxDiff(back.Logits.Data, got.Logits.Data); d > engine.BF16LogitTolerance {
				t.Errorf("f32 from bf16-rounded weights: maxdiff %.3g vs the bf16 run", d)
			}
		})
	}
}
