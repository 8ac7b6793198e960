package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/engine/cpu/peak"
)

// BenchmarkForwardGPT2Small: GPT-2-small shape, random weights, batch 8 x
// 128, every mlp.hook_post cached, no logits; reports tokens/s and the
// fraction of the peak FLOP/s measured next to each forward (median).
//
//	GOEXPERIMENT=simd go test ./engine -run '^$' -bench ForwardGPT2Small -benchtime 3x
func BenchmarkForwardGPT2Small(b *testing.B) {
	m := gpt2SmallRandom(b)
	const B, T = 8, 128
	ids := make([][]int32, B)
	for i := range ids {
		ids[i] = make([]int32, T)
		for j := range ids[i] {
			ids[i][j] = int32((i*7919 + j*104729) % 50257)
		}
	}
	var hooks []string
	for l := range 12 {
		hooks = append(hooks, fmt.Sprintf("blocks.%d.mlp.hook_post", l))
	}
	req := engine.Request{IDs: ids, Hooks: hooks, NoLogits: true}
	if _, err := m.Run(req); err != nil { // compile
		b.Fatal(err)
	}
	// Each forward is compared with the peak measured just before it (the
	// clock of these shared machines drifts); the median ratio is reported.
	b.ResetTimer()
	samples, err := peak.Interleaved(b.N, 300*time.Millisecond, func() error { _, err := m.Run(req); return err })
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	const flop = 178.8e9 // see glia bench: projections + attention, no unembedding
	var secs, peaks, ratios []float64
	for _, s := range samples {
		secs, peaks, ratios = append(secs, s.Seconds), append(peaks, s.Peak.FLOPS), append(ratios, s.Ratio(flop))
	}
	b.ReportMetric(B*T/peak.Median(secs), "tokens/s")
	b.ReportMetric(100*peak.Median(ratios), "%peak")
	b.ReportMetric(peak.Median(peaks)/1e9, "peakGFLOP/s")
}

// BenchmarkGenerateGPT2Small: 64 new tokens after a 32-token prompt on the
// GPT-2-small shape, with the KV cache and rerunning the whole sequence.
//
//	GOEXPERIMENT=simd go test ./engine -run '^$' -bench GenerateGPT2Small -benchtime 1x
func BenchmarkGenerateGPT2Small(b *testing.B) {
	m := gpt2SmallRandom(b)
	prompt := make([]int32, 32)
	for i := range prompt {
		prompt[i] = int32(i * 997 % 50257)
	}
	for _, noCache := range []bool{false, true} {
		b.Run(fmt.Sprintf("no-cache=%v", noCache), func(b *testing.B) {
			o := engine.GenerateOptions{MaxNew: 64, NoCache: noCache}
			if _, err := m.Generate(prompt, o); err != nil { // compile
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := m.Generate(prompt, o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(64*float64(b.N)/b.Elapsed().Seconds(), "new-tokens/s")
		})
	}
}

// gpt2SmallRandom is the GPT-2-small shape (as glia bench) with random weights.
func gpt2SmallRandom(b *testing.B) *engine.Model {
	cfg := map[string]any{"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12, "n_inner": 3072,
		"vocab_size": 50257, "n_positions": 1024, "activation_function": "gelu_new"}
	m, err := engine.RandomModel("gpt2-small-random", cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	return m
}
