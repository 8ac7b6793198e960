package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"time"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/engine/cpu/peak"
)

func init() {
	Register(&Command{Name: "bench", Summary: "forward throughput with every mlp.hook_post cached, as % of measured peak FLOP/s", Run: runBench})
}

// benchShape is a GPT-2-style model made of random weights on the fly.
type benchShape struct {
	Layers, DModel, Heads, DMLP, Vocab int
}

func (s benchShape) config(ctx int) map[string]any {
	return map[string]any{"model_type": "gpt2", "n_layer": s.Layers, "n_embd": s.DModel, "n_head": s.Heads,
		"n_inner": s.DMLP, "vocab_size": s.Vocab, "n_positions": max(1024, ctx), "activation_function": "gelu_new"}
}

// llama32_1B is Llama-3.2-1B's config.json (random weights stand in for its
// checkpoint): 16 layers, d_model 2048, 32 heads, 8 kv heads, d_mlp 8192,
// vocab 128256, llama3 rope scaling, tied embeddings.
func llama32_1B(layers int) map[string]any {
	return map[string]any{"model_type": "llama", "num_hidden_layers": layers, "hidden_size": 2048, "intermediate_size": 8192,
		"num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256, "max_position_embeddings": 131072,
		"rms_norm_eps": 1e-5, "hidden_act": "silu", "tie_word_embeddings": true, "rope_theta": 500000.0,
		"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}
}

// flops counts a forward pass's floating-point operations (2 per
// multiply-add): the projections, the attention matmuls over the full
// [pos, pos] score matrix the kernel computes, and optionally the unembedding.
func flops(d *engine.Model, b, t int, logits bool) float64 {
	dm := d.Dims()
	tokens := float64(b * t)
	perLayer := 2*tokens*float64(dm.DModel*(dm.Heads*dm.DHead+2*dm.KVHeads*dm.DHead)+dm.Heads*dm.DHead*dm.DModel) + // q, k, v, o
		2*tokens*float64(dm.DModel*dm.DMLP)*mlpMatrices(d) + // MLP
		2*2*float64(b*dm.Heads*t*t*dm.DHead) // q·kᵀ and pattern·v
	total := float64(dm.Layers) * perLayer
	if logits {
		total += 2 * tokens * float64(dm.DModel*dm.Vocab)
	}
	return total
}

// mlpMatrices is 3 for gated MLPs (gate, up, down), else 2.
func mlpMatrices(m *engine.Model) float64 {
	if _, err := m.HookShape("blocks.0.mlp.hook_pre_linear"); err == nil {
		return 3
	}
	return 2
}

func runBench(args []string) error {
	fs := newFlags("bench")
	var mf modelFlags
	mf.register(fs)
	fs.Lookup("model").Usage = "a model to measure instead of random weights: a Hugging Face directory, ORG/NAME in the local HF cache, a .gguf file or a llama2.c .bin (default: random weights of --shape)"
	s := benchShape{}
	shape := fs.String("shape", "gpt2-small", "random model shape: gpt2-small (sized by --layers, --d-model, ...) or llama-3.2-1b (16 layers unless --layers)")
	fs.IntVar(&s.Layers, "layers", 12, "random model: layers")
	fs.IntVar(&s.DModel, "d-model", 768, "random model: d_model")
	fs.IntVar(&s.Heads, "heads", 12, "random model: heads")
	fs.IntVar(&s.DMLP, "d-mlp", 3072, "random model: d_mlp")
	fs.IntVar(&s.Vocab, "vocab", 50257, "random model: vocabulary")
	batch := fs.Int("batch", 8, "sequences per forward")
	seq := fs.Int("seq", 128, "tokens per sequence")
	iters := fs.Int("iters", 5, "timed forwards (after one warm-up)")
	withLogits := fs.Bool("logits", false, "also compute and copy out the logits (an atlas does not need them)")
	asJSON := fs.Bool("json", false, "machine-readable output")
	atlasTokens := fs.Int64("atlas", 0, "instead: build an atlas of this many tokens (every mlp.hook_post) and compare it with forward passes alone over the same windows")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	var m *engine.Model
	var err error
	name := fmt.Sprintf("random GPT-2 shape: %d layers, d_model %d, %d heads, d_mlp %d, vocab %d", s.Layers, s.DModel, s.Heads, s.DMLP, s.Vocab)
	if err := mf.setDevice(); err != nil {
		return err
	}
	switch {
	case mf.model != "":
		m, err = engine.Load(mf.model)
		if err == nil {
			name = m.Name
		}
	case *shape == "llama-3.2-1b":
		layers := 16
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "layers" {
				layers = s.Layers
			}
		})
		name = fmt.Sprintf("random Llama-3.2-1B shape: %d layers, d_model 2048, 32 heads (8 kv), d_mlp 8192, vocab 128256", layers)
		m, err = engine.RandomModel("bench", llama32_1B(layers), 1)
	case *shape == "gpt2-small":
		m, err = engine.RandomModel("bench", s.config(*seq), 1)
	default:
		return fmt.Errorf("--shape %q: want gpt2-small or llama-3.2-1b", *shape)
	}
	if err != nil {
		return err
	}
	if err := mf.setDType(m); err != nil {
		return err
	}
	if *atlasTokens > 0 {
		return benchAtlas(m, name, *batch, *seq, *atlasTokens, *asJSON)
	}
	onCPU := engine.BackendName() == "go"
	hooks, err := m.MatchHooks("blocks.*.mlp.hook_post")
	if err != nil {
		return err
	}
	ids := make([][]int32, *batch)
	for i := range ids {
		ids[i] = make([]int32, *seq)
		for j := range ids[i] {
			ids[i][j] = int32((i*7919 + j*104729) % m.Dims().Vocab)
		}
	}
	if *iters < 1 {
		return fmt.Errorf("--iters %d: need at least one timed forward", *iters)
	}
	req := engine.Request{IDs: ids, Hooks: hooks, NoLogits: !*withLogits}
	fmt.Fprintf(Stderr, "warm-up (compiles the graph)...\n")
	t0 := time.Now()
	if _, err := m.Run(req); err != nil {
		return err
	}
	warm := time.Since(t0)
	f := flops(m, *batch, *seq, *withLogits)
	// On CPU the peak is measured right before every timed forward (see
	// peak.Interleaved) and the median ratio is reported.
	run := func() error { _, err := m.Run(req); return err }
	peakTime := time.Duration(0)
	if onCPU {
		peakTime = 400 * time.Millisecond
	}
	samples, err := peak.Interleaved(*iters, peakTime, run)
	if err != nil {
		return err
	}
	var total, best float64
	var peaks, ratios []float64
	for i, s := range samples {
		total += s.Seconds
		if i == 0 || s.Seconds < best {
			best = s.Seconds
		}
		peaks, ratios = append(peaks, s.Peak.FLOPS), append(ratios, s.Ratio(f))
	}
	pk := samples[0].Peak
	mean := time.Duration(total / float64(*iters) * float64(time.Second))
	bestD := time.Duration(best * float64(time.Second))
	tokens := float64(*batch * *seq)
	out := map[string]any{
		"model": name, "shape": *shape, "backend": engine.BackendName(), "dtype": engine.DTypeName(m.DType()), "tf32": mf.tf32, "batch": *batch, "seq": *seq, "hooks_cached": len(hooks), "logits": *withLogits,
		"gflop_per_forward": f / 1e9, "first_run_s": warm.Seconds(), "mean_s": mean.Seconds(), "best_s": bestD.Seconds(),
		"tokens_per_s": tokens / mean.Seconds(), "gflops": f / mean.Seconds() / 1e9,
	}
	if onCPU {
		out["peak_gflops"], out["peak_kernel"], out["threads"] = peak.Median(peaks)/1e9, pk.Kernel, pk.Threads
		out["kernels"] = engine.CPUKernels().String()
		out["pct_of_peak"], out["pct_of_peak_best"] = 100*peak.Median(ratios), 100*slices.Max(ratios)
	}
	if *asJSON {
		return json.NewEncoder(Stdout).Encode(out)
	}
	fmt.Fprintf(Stdout, "%s\nbatch %d x %d tokens, %d mlp.hook_post cached, logits %v: %.1f GFLOP per forward\n", name, *batch, *seq, len(hooks), *withLogits, f/1e9)
	fmt.Fprintf(Stdout, "forward: mean %.3fs (best %.3fs) = %.0f tokens/s, %.1f GFLOP/s\n", mean.Seconds(), bestD.Seconds(), tokens/mean.Seconds(), f/mean.Seconds()/1e9)
	if !onCPU {
		return nil
	}
	fmt.Fprintf(Stdout, "kernels: %s\n", engine.CPUKernels())
	fmt.Fprintf(Stdout, "peak:    %.1f GFLOP/s measured before each forward (median; %s, %d threads)\n", out["peak_gflops"], pk.Kernel, pk.Threads)
	fmt.Fprintf(Stdout, "=> %.1f%% of peak (median of %d forwards, each against its own peak; best %.1f%%)\n", out["pct_of_peak"], *iters, out["pct_of_peak_best"])
	return nil
}
