package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	defaultcorpus "github.com/glia-dev/glia/assets/corpus"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/internal/atlasmodel"
)

// byteModel reads text as bytes when the model has no tokenizer (bench's
// random weights): the forward passes cost the same whatever the ids.
type byteModel struct{ *atlasmodel.Model }

func (b byteModel) Encode(text string) []int32 {
	if b.Engine().Tokenizer != nil {
		return b.Model.Encode(text)
	}
	ids := make([]int32, len(text))
	for i := 0; i < len(text); i++ {
		ids[i] = int32(text[i])
	}
	return ids
}

// benchAtlas compares, in one run, an atlas build with forward passes
// alone over the same windows, batch and hooks (every mlp.hook_post): the
// forward passes are timed before and after the build, and the build's
// throughput is reported against their mean.
func benchAtlas(m *engine.Model, name string, batch, seq int, tokens int64, asJSON bool) error {
	am := byteModel{atlasmodel.New(m)}
	sh, err := corpus.FSShard(defaultcorpus.FS(), defaultcorpus.Name)
	if err != nil {
		return err
	}
	// The embedded stories, repeated until they hold the tokens asked for.
	var shards []corpus.Shard
	for n := int64(0); n < tokens; n += sh.TextBytes() / 4 {
		shards = append(shards, sh)
	}
	copt := corpus.Options{DocSep: defaultcorpus.DocSep}
	hooks, err := am.MatchHooks(atlas.DefaultHooks)
	if err != nil {
		return err
	}
	// Tokens per CPU-second too: on a shared machine the wall clock
	// measures the neighbours, and the two phases' CPU time still compares
	// what each costs (both use every core when they have it).
	var fwdCPU time.Duration
	var fwdCPUTokens int64
	forward := func() (float64, error) {
		c0 := atlas.ProcessCPU()
		defer func() { fwdCPU += atlas.ProcessCPU() - c0 }()
		p, err := corpus.NewPacker(shards, copt, am.Encode, am.BOS(), seq, corpus.Cursor{})
		if err != nil {
			return 0, err
		}
		defer p.Close()
		var ws [][]int32
		var done int64
		var spent time.Duration
		flush := func() error {
			if len(ws) == 0 {
				return nil
			}
			t0 := time.Now()
			_, err := am.Forward(ws, hooks)
			spent += time.Since(t0)
			ws = nil
			return err
		}
		for done < tokens {
			w, err := p.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return 0, err
			}
			if int64(len(w.IDs)) > tokens-done {
				w.IDs = w.IDs[:tokens-done]
			}
			if len(ws) > 0 && len(w.IDs) != len(ws[0]) || len(ws) == batch {
				if err := flush(); err != nil {
					return 0, err
				}
			}
			ws = append(ws, w.IDs)
			done += int64(len(w.IDs))
		}
		if err := flush(); err != nil {
			return 0, err
		}
		fwdCPUTokens += done
		return float64(done) / spent.Seconds(), nil
	}
	fmt.Fprintf(Stderr, "forward passes alone (%d tokens)...\n", tokens)
	if _, err := am.Forward([][]int32{make([]int32, seq)}, hooks); err != nil { // compiles the graph
		return err
	}
	f1, err := forward()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "glia-bench-atlas")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(Stderr, "atlas build (%d tokens)...\n", tokens)
	t0, c0 := time.Now(), atlas.ProcessCPU()
	res, err := atlas.Build(context.Background(), am, atlas.BuildOptions{Out: filepath.Join(dir, "bench.db"), Shards: shards,
		CorpusOptions: copt, Ctx: seq, Batch: batch, MaxTokens: tokens})
	if err != nil {
		return err
	}
	build := float64(res.Tokens) / time.Since(t0).Seconds()
	buildCPU := float64(res.Tokens) / (atlas.ProcessCPU() - c0).Seconds()
	fmt.Fprintf(Stderr, "forward passes alone again...\n")
	f2, err := forward()
	if err != nil {
		return err
	}
	fwd := (f1 + f2) / 2
	fwdPerCPU := float64(fwdCPUTokens) / fwdCPU.Seconds()
	out := map[string]any{"model": name, "backend": engine.BackendName(), "batch": batch, "seq": seq, "hooks_cached": len(hooks),
		"units": res.Units, "tokens": res.Tokens, "forward_tokens_per_s": []float64{f1, f2}, "atlas_tokens_per_s": build,
		"ratio": build / fwd, "forward_tokens_per_cpu_s": fwdPerCPU, "atlas_tokens_per_cpu_s": buildCPU, "cpu_ratio": buildCPU / fwdPerCPU,
		"build_cpu_seconds": res.CPU.Seconds(), "build_checkpoint_cpu_seconds": res.CheckpointCPU.Seconds(),
		"build_seconds": res.Elapsed.Seconds(), "build_forward_seconds": res.ForwardTime.Seconds(),
		"build_update_seconds": res.UpdateTime.Seconds(), "build_checkpoint_seconds": res.CheckpointTime.Seconds()}
	if asJSON {
		return json.NewEncoder(Stdout).Encode(out)
	}
	fmt.Fprintf(Stdout, "%s\nbatch %d x %d tokens, %d mlp.hook_post cached (%d units), %d tokens\n", name, batch, seq, len(hooks), res.Units, res.Tokens)
	fmt.Fprintf(Stdout, "forward alone: %.0f tokens/s (before the build), %.0f (after)\n", f1, f2)
	fmt.Fprintf(Stdout, "atlas build:   %.0f tokens/s = %.2f of forward alone (build %.1fs: forward %.1fs, update %.1fs, checkpoints %.1fs)\n",
		build, build/fwd, res.Elapsed.Seconds(), res.ForwardTime.Seconds(), res.UpdateTime.Seconds(), res.CheckpointTime.Seconds())
	fmt.Fprintf(Stdout, "per CPU-second: forward alone %.0f tokens, atlas build %.0f = %.2f (build CPU %.1fs, checkpoints %.1fs)\n",
		fwdPerCPU, buildCPU, buildCPU/fwdPerCPU, res.CPU.Seconds(), res.CheckpointCPU.Seconds())
	return nil
}
