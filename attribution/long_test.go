package attribution

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/internal/testenv"
)

// gpt2Small is the GPT-2-small shape with random weights (as glia bench),
// with room for ctx positions.
func gpt2Small(tb testing.TB, ctx int) *engine.Model {
	tb.Helper()
	m, err := engine.RandomModel("gpt2-small-random", map[string]any{"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12,
		"n_inner": 3072, "vocab_size": 50257, "n_positions": ctx, "activation_function": "gelu_new"}, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestLongPrompt is issue 17's long-prompt figure, run by hand (hours of
// CPU at 4,096 tokens, so never in CI): DLA and IG at hook_embed on a
// GPT-2-small-shaped model, with the attention chunked (glia's kernels)
// and IG's steps in chunks of $GLIA_LONG_CHUNK, logging the time and the
// peak RSS after each. Run it alone, so that the kernels are chosen
// before any model loads:
//
//	GLIA_LONG=1 GLIA_LONG_CHUNK=1 GOEXPERIMENT=simd /usr/bin/time -v go test ./attribution -run TestLongPrompt -v -timeout 0
//
// $GLIA_LONG_TOKENS (4096), $GLIA_LONG_STEPS (50) and $GLIA_LONG_METHODS
// (dla,ig) change the work; IG checkpoints by layer from 1,024 tokens
// (CheckpointFrom); $GLIA_LONG_CHECKPOINT=1 makes it at any length, =0 never.
func TestLongPrompt(t *testing.T) {
	if os.Getenv("GLIA_LONG") != "1" {
		t.Skip("set GLIA_LONG=1 to run the long-prompt measurement (not in CI)")
	}
	if err := engine.UseCPUKernels(true); err != nil {
		t.Fatalf("run TestLongPrompt alone: %v", err)
	}
	n := testenv.Int(t, "GLIA_LONG_TOKENS", 4096)
	steps, chunk := testenv.Int(t, "GLIA_LONG_STEPS", 50), testenv.Int(t, "GLIA_LONG_CHUNK", 1)
	methods := os.Getenv("GLIA_LONG_METHODS")
	if methods == "" {
		methods = "dla,ig"
	}
	m := gpt2Small(t, n)
	ids := prompt(m, n)
	t.Logf("%d tokens; peak RSS after loading %.0f MiB", n, testenv.PeakRSS())
	for _, method := range strings.Split(methods, ",") {
		start := time.Now()
		switch method {
		case "dla":
			r, err := DLA(m, ids, Target{Kind: LogitDiff, Pos: -1, Token: 11, Other: 12})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("dla: %d components, completeness %.2g, %.1fs, peak RSS %.0f MiB", len(r.Components), r.Completeness, time.Since(start).Seconds(), testenv.PeakRSS())
			if r.Completeness > 1e-3 {
				t.Errorf("dla at %d tokens: completeness %g", n, r.Completeness)
			}
		case "ig":
			// One token changed: a baseline whose path the 50 steps
			// integrate (a zero embedding would bend it sharply).
			base := corrupt(ids, n-1, m.Dims().Vocab)
			r, err := IG(m, ids, "hook_embed", Target{Kind: LogProb, Pos: -1, Token: 11}, IGOptions{Steps: steps, Chunk: chunk, Baseline: base, Checkpoint: os.Getenv("GLIA_LONG_CHECKPOINT") == "1", NoCheckpoint: os.Getenv("GLIA_LONG_CHECKPOINT") == "0"})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("ig: %d steps in chunks of %d (%d passes, checkpointed %v), relative delta %.2g, %.1fs, peak RSS %.0f MiB", r.Steps, chunk, r.Forwards, r.Checkpointed, r.Relative, time.Since(start).Seconds(), testenv.PeakRSS())
			if steps >= 50 && r.Relative > 0.01 {
				t.Errorf("ig at %d tokens: relative delta %g", n, r.Relative)
			}
		default:
			t.Fatalf("$GLIA_LONG_METHODS: unknown method %q (want dla, ig)", method)
		}
	}
}
