package cli

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	defaultcorpus "github.com/glia-dev/glia/assets/corpus"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/corpus"
)

// BenchmarkAtlasVsForward compares atlas build throughput with the plain
// forward passes (same model, windows and batch) over the embedded corpus:
// go test ./internal/cli -run ^$ -bench AtlasVsForward -benchtime 1x
func BenchmarkAtlasVsForward(b *testing.B) {
	m, err := openAtlasModel(&modelFlags{dtype: "f32"})
	if err != nil {
		b.Fatal(err)
	}
	sh, err := corpus.FSShard(defaultcorpus.FS(), defaultcorpus.Name)
	if err != nil {
		b.Fatal(err)
	}
	// Repeat the small corpus so that timings are stable.
	shards := []corpus.Shard{sh, sh, sh, sh}
	copt := corpus.Options{DocSep: defaultcorpus.DocSep}
	hooks, _ := m.MatchHooks(atlas.DefaultHooks)
	const batch = 8
	for i := 0; i < b.N; i++ {
		p, _ := corpus.NewPacker(shards, copt, m.Encode, m.BOS(), 128, corpus.Cursor{})
		var ws [][]int32
		var ntok int
		t0 := time.Now()
		flush := func() {
			if len(ws) > 0 {
				if _, err := m.Forward(ws, hooks); err != nil {
					b.Fatal(err)
				}
			}
			ws = nil
		}
		for {
			w, err := p.Next()
			if err == io.EOF {
				break
			}
			if len(ws) > 0 && len(w.IDs) != len(ws[0]) || len(ws) == batch {
				flush()
			}
			ws = append(ws, w.IDs)
			ntok += len(w.IDs)
		}
		flush()
		fwd := float64(ntok) / time.Since(t0).Seconds()
		out := filepath.Join(b.TempDir(), "a.db")
		t0 = time.Now()
		res, err := atlas.Build(context.Background(), m, atlas.BuildOptions{Out: out, Shards: shards, CorpusOptions: copt, Batch: batch})
		if err != nil {
			b.Fatal(err)
		}
		at := float64(res.Tokens) / time.Since(t0).Seconds()
		b.ReportMetric(fwd, "fwd-tokens/s")
		b.ReportMetric(at, "atlas-tokens/s")
		b.ReportMetric(100*at/fwd, "%-of-forward")
		b.Logf("tokens %d: forward %.0f tok/s, atlas %.0f tok/s (%.0f%%); inside the build: forward %.2fs, update %.2fs, checkpoints %.2fs",
			res.Tokens, fwd, at, 100*at/fwd, res.ForwardTime.Seconds(), res.UpdateTime.Seconds(), res.CheckpointTime.Seconds())
	}
}
