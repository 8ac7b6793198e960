package atlas

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glia-dev/glia/atlas/atlastest"
)

// benchUpdate measures the per-batch update (all units, all workers) in
// steady state; it reports tokens/s.
func benchUpdate(b *testing.B, hooks, width, workers int) {
	set := &Settings{Ctx: 128, TopK: 20, Radius: 15, Threshold: 0.5, RandomK: 8, Bands: 6, BandK: 3}
	var hs []*hookState
	for h := 0; h < hooks; h++ {
		spec := HookSpec{Name: fmt.Sprintf("blocks.%d.mlp.hook_post", h), Width: width}
		set.Hooks = append(set.Hooks, spec)
		hs = append(hs, newHookState(spec, set))
	}
	const B, T = 8, 128
	acts := make([]float32, B*T*width)
	x := uint64(1)
	for i := range acts {
		x = mix64(x + uint64(i))
		// GELU-like: mostly small negatives, a tail of positives.
		g := float64(int64(x%20001)-10000) / 4000
		acts[i] = float32(g * 0.5 * (1 + math.Erf(g/math.Sqrt2)))
	}
	ids := make([][]int32, B)
	docs := make([][]int64, B)
	for i := range ids {
		ids[i] = make([]int32, T)
		docs[i] = make([]int64, T)
	}
	bd := &builder{opt: &BuildOptions{Workers: workers}, hooks: hs, set: set}
	window := int64(0)
	mk := func() *batch {
		bt := &batch{b: B, t: T, ids: ids, docs: docs, keys: make([]uint64, B*T), hash: make([]uint64, B*T), tokens: B * T}
		for i := 0; i < B; i++ {
			for p := 0; p < T; p++ {
				bt.keys[i*T+p] = posKey(0, window, p)
				bt.hash[i*T+p] = posHash(7, window, p)
			}
			window++
		}
		return bt
	}
	maps := map[string][]float32{}
	for _, h := range hs {
		maps[h.spec.Name] = acts
	}
	// Warm up past the first fills (as after a few thousand tokens).
	for i := 0; i < 20; i++ {
		bd.update(mk(), maps)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bd.update(mk(), maps)
	}
	b.ReportMetric(float64(b.N*B*T)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*B*T*hooks*width), "ns/unit-token")
}

var _ sync.Mutex

func BenchmarkUpdate860(b *testing.B)   { benchUpdate(b, 5, 172, 2) }
func BenchmarkUpdate36864(b *testing.B) { benchUpdate(b, 12, 3072, 2) }

// BenchmarkBuildGPT2Shaped builds a GPT-2-small-shaped atlas (12 hooks × 3072
// units) with the fake model and reports the peak RSS (VmHWM):
// GLIA_BENCH_TOKENS=100000 go test ./atlas -run ^$ -bench GPT2Shaped -benchtime 1x
func BenchmarkBuildGPT2Shaped(b *testing.B) {
	tokens := int64(20000)
	if s := os.Getenv("GLIA_BENCH_TOKENS"); s != "" {
		tokens, _ = strconv.ParseInt(s, 10, 64)
	}
	dir := b.TempDir()
	c := writeCorpus(b, filepath.Join(dir, "c"), 1, 4, 400, 60)
	for i := 0; i < b.N; i++ {
		o := testOpts(b, filepath.Join(dir, fmt.Sprintf("g%d.db", i)), c)
		o.Ctx, o.TopK, o.Radius, o.RandomK, o.Bands, o.BandK, o.Batch = 128, 20, 15, 8, 6, 3, 8
		o.MaxTokens = tokens
		o.Shards = append(o.Shards, o.Shards[0], o.Shards[0], o.Shards[0], o.Shards[0], o.Shards[0], o.Shards[0], o.Shards[0])
		m := atlastest.New(12, 3072)
		t0 := time.Now()
		r := mustBuild(b, m, o)
		b.ReportMetric(float64(r.Tokens)/time.Since(t0).Seconds(), "tokens/s")
		b.Logf("%d tokens in %s: forward %.1fs update %.1fs checkpoints %.1fs", r.Tokens, time.Since(t0), r.ForwardTime.Seconds(), r.UpdateTime.Seconds(), r.CheckpointTime.Seconds())
	}
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmHWM") {
			b.Log("peak RSS " + strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")))
		}
	}
}
