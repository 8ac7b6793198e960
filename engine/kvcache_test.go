package engine

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// kvMatchesFull checks, step by step, that the logits after each token
// with the KV cache equal those of running the whole sequence.
func kvMatchesFull(t *testing.T, m *Model, prompt []int32, steps int) {
	t.Helper()
	r := m.newKVRun(len(prompt) + steps)
	defer r.close()
	seq := slices.Clone(prompt)
	var worst float64
	for s := range steps {
		got, err := r.next(seq)
		if err != nil {
			t.Fatal(err)
		}
		want, err := m.lastLogits(seq, GenerateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var scale, diff float64
		best := 0
		for i, w := range want {
			scale = max(scale, math.Abs(float64(w)))
			diff = max(diff, math.Abs(float64(got[i])-float64(w)))
			if w > want[best] {
				best = i
			}
		}
		worst = max(worst, diff/max(1, scale))
		if diff > 1e-4*max(1, scale) {
			t.Fatalf("step %d (%d tokens): cached logits differ by %.3g", s, len(seq), diff)
		}
		seq = append(seq, int32(best))
	}
	t.Logf("%d steps from %d prompt tokens: max logits diff %.2g", steps, len(prompt), worst)
}

func TestKVCacheMatchesFullRuns(t *testing.T) {
	dirs, _ := filepath.Glob("../testdata/hf-tiny/*")
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			kvMatchesFull(t, m, []int32{5, 17, 42, 99, 3}, 12)
		})
	}
	t.Run("stories260K", func(t *testing.T) {
		m, err := LoadDefault()
		if err != nil {
			t.Fatal(err)
		}
		kvMatchesFull(t, m, []int32{1}, 70) // past the first 64-slot bucket
	})
}

// TestKVCacheSlidingWindow: generation longer than the window, where the
// cache keeps keys the window must hide.
func TestKVCacheSlidingWindow(t *testing.T) {
	for fam, window := range map[string]map[string]any{
		"mistral": {"sliding_window": 4},
		"gemma2":  {"sliding_window": 4},
		"qwen2":   {"sliding_window": 4, "layer_types": []any{"sliding_attention", "full_attention"}},
	} {
		t.Run(fam, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("../testdata/hf-tiny", fam, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			var cfg map[string]any
			if err := json.Unmarshal(raw, &cfg); err != nil {
				t.Fatal(err)
			}
			for k, v := range window {
				cfg[k] = v
			}
			m, err := RandomModel(fam+"-window", cfg, 3)
			if err != nil {
				t.Fatal(err)
			}
			// The window must matter: without it the same weights give
			// other logits once the sequence is longer than it.
			for k := range window {
				delete(cfg, k)
			}
			wide, err := RandomModel(fam, cfg, 3)
			if err != nil {
				t.Fatal(err)
			}
			seq := []int32{5, 17, 42, 9, 8, 7, 6, 5}
			a, _ := m.lastLogits(seq, GenerateOptions{})
			b, _ := wide.lastLogits(seq, GenerateOptions{})
			if slices.Equal(a, b) {
				t.Fatal("the sliding window changes nothing: config not honoured?")
			}
			kvMatchesFull(t, m, []int32{5, 17, 42}, 10)
		})
	}
}

// TestGenerateCachedEqualsUncached: the same tokens, greedy and sampled.
func TestGenerateCachedEqualsUncached(t *testing.T) {
	m, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	for _, temp := range []float64{0, 0.9} {
		o := GenerateOptions{MaxNew: 80, Temperature: temp, Seed: 7}
		cached, err := m.Generate([]int32{1, 403}, o)
		if err != nil {
			t.Fatal(err)
		}
		o.NoCache = true
		full, err := m.Generate([]int32{1, 403}, o)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cached, full) {
			t.Errorf("temperature %g: cached %v\nfull   %v", temp, cached, full)
		}
	}
}

func TestGenerateStopsOnContext(t *testing.T) {
	m, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	out, err := m.Generate([]int32{1}, GenerateOptions{MaxNew: 50, Context: ctx, OnToken: func(int32) {
		if n++; n == 3 {
			cancel()
		}
	}})
	if err != context.Canceled || len(out) != 3 {
		t.Fatalf("got %d tokens, err %v; want 3 and context.Canceled", len(out), err)
	}
}
