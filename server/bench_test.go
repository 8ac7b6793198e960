package server

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/atlas/atlastest"
	"github.com/glia-dev/glia/corpus"
)

// gpt2SizedAtlas builds (or reuses, with $GLIA_BENCH_ATLAS) an atlas the
// size of GPT-2 small's MLP neurons: 12 hooks × 3072 units = 36,864 units
// with 20 top examples of 31 tokens each, from the atlas package's
// deterministic fake model.
func gpt2SizedAtlas(b *testing.B) string {
	path := os.Getenv("GLIA_BENCH_ATLAS")
	if path == "" {
		path = filepath.Join(b.TempDir(), "gpt2-sized.db")
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	dir := b.TempDir()
	var text strings.Builder
	for i := 0; text.Len() < 1200; i++ {
		fmt.Fprintf(&text, "The %d quick brown foxes jumped over %d lazy dogs near the river bank. ", i, i*7)
	}
	if err := os.WriteFile(filepath.Join(dir, "corpus.txt"), []byte(text.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	shards, err := corpus.Resolve([]string{filepath.Join(dir, "corpus.txt")})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	res, err := atlas.Build(context.Background(), atlastest.New(12, 3072), atlas.BuildOptions{
		Out: path, Shards: shards, Hooks: "blocks.*.mlp.hook_post", TopK: 20, RandomK: 1, Bands: 1, BandK: 1,
		CheckpointEvery: time.Hour,
	})
	if err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	b.Logf("built %s: %d units over %d tokens in %s (%.0f MiB)", path, res.Units, res.Tokens, time.Since(t0).Round(time.Millisecond), float64(st.Size())/(1<<20))
	return path
}

// BenchmarkNeuronPage measures the neuron page of a GPT-2-small-sized atlas
// over loopback HTTP: the JSON the page draws from (/api/neurons/...) and the
// page shell (/neuron/...), p50/p95 over random units.
//
//	GOEXPERIMENT=simd go test ./server -run '^$' -bench NeuronPage -benchtime 400x
func BenchmarkNeuronPage(b *testing.B) {
	path := gpt2SizedAtlas(b)
	a, err := atlas.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	t0 := time.Now()
	s, err := New(Config{Atlas: a})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	<-s.idx.ready
	b.Logf("server ready (unit summaries and token index) in %s", time.Since(t0).Round(time.Millisecond))
	ts := httptest.NewServer(s)
	defer ts.Close()
	units := 0
	for _, h := range a.Meta.Settings.Hooks {
		units += h.Width
	}
	if units != 36864 {
		b.Fatalf("atlas has %d units", units)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	get := func(path string) (time.Duration, int) {
		t := time.Now()
		res, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d", path, res.StatusCode)
		}
		return time.Since(t), int(n)
	}
	var api, page []time.Duration
	var bytes int
	b.ResetTimer()
	for range b.N {
		l, u := rng.IntN(12), rng.IntN(3072)
		d, n := get(fmt.Sprintf("/api/neurons/blocks.%d.mlp.hook_post/%d", l, u))
		api, bytes = append(api, d), n
		d, _ = get(fmt.Sprintf("/neuron/blocks.%d.mlp.hook_post/%d", l, u))
		page = append(page, d)
	}
	b.StopTimer()
	q := func(ds []time.Duration, p float64) float64 {
		s := append([]time.Duration(nil), ds...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(api, 0.5), "api-p50-ms")
	b.ReportMetric(q(api, 0.95), "api-p95-ms")
	b.ReportMetric(q(page, 0.5), "page-p50-ms")
	b.ReportMetric(q(page, 0.95), "page-p95-ms")
	b.ReportMetric(float64(bytes)/1024, "json-KiB")
	b.Logf("neuron page, %d requests: JSON p50 %.2f ms p95 %.2f ms (%.0f KiB); shell p50 %.2f ms p95 %.2f ms",
		len(api), q(api, 0.5), q(api, 0.95), float64(bytes)/1024, q(page, 0.5), q(page, 0.95))
}
