package explain

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	defaultcorpus "github.com/glia-dev/glia/assets/corpus"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/internal/atlasmodel"
)

// buildEmbeddedAtlas builds a small atlas of the embedded model over the
// first tokens of the embedded story corpus.
func buildEmbeddedAtlas(t testing.TB, maxTokens int64) (string, *engine.Model) {
	t.Helper()
	m, err := engine.LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	sh, err := corpus.FSShard(defaultcorpus.FS(), defaultcorpus.Name)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "atlas.db")
	start := time.Now()
	res, err := atlas.Build(context.Background(), atlasmodel.New(m), atlas.BuildOptions{
		Out: out, Shards: []corpus.Shard{sh}, CorpusOptions: corpus.Options{DocSep: defaultcorpus.DocSep},
		MaxTokens: maxTokens, Ctx: 128, Batch: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("atlas: %d units over %d tokens in %s", res.Units, res.Tokens, time.Since(start).Round(time.Millisecond))
	return out, m
}

// TestEmbeddedScores explains every neuron of the embedded model from a
// small atlas and checks that the best no-LLM label predicts held-out
// activations with a correlation of at least 0.5. The distribution is logged.
func TestEmbeddedScores(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an atlas and explains 860 units (about 30s on two idle cores)")
	}
	path, m := buildEmbeddedAtlas(t, 16384)
	a, err := atlas.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	plan, err := NewLensPlan(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := &Explainer{Model: m, Lens: plan}
	start := time.Now()
	var scores []float64
	undefined := 0
	var best *Explanation
	err = a.Units(func(r *atlas.UnitReport) error {
		e, err := x.Explain(context.Background(), r)
		if err != nil {
			return err
		}
		if e.Score == nil {
			undefined++
			return nil
		}
		scores = append(scores, *e.Score)
		if best == nil || *e.Score > *best.Score {
			best = e
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all := append([]float64(nil), scores...)
	for range undefined {
		all = append(all, math.NaN())
	}
	d := Distribute(all)
	t.Logf("explained %d units in %s", d.N, time.Since(start).Round(time.Millisecond))
	t.Logf("no-LLM label scores: %s", d)
	t.Logf("best: %s:%d r=%.3f %s", best.Hook, best.Unit, *best.Score, best.Label)
	if len(d.Quantiles) == 0 || d.Quantiles[len(d.Quantiles)-1] < 0.5 {
		t.Fatalf("the best no-LLM label scores below 0.5: %s", d)
	}
}
