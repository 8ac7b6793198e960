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

// benchState drives hook states with synthetic GELU-like batches of 8×128
// tokens, as a build does after its forward passes.
type benchState struct {
	bd     *builder
	acts   map[string][]float32
	ids    [][]int32
	docs   [][]int64
	window int64
	kept   []*batch
	last   *batch
}

func newBenchState(hooks, width, workers int) *benchState {
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
	st := &benchState{bd: &builder{opt: &BuildOptions{Workers: workers}, hooks: hs, set: set}, acts: map[string][]float32{}}
	for i := 0; i < B; i++ {
		st.ids = append(st.ids, make([]int32, T))
		st.docs = append(st.docs, make([]int64, T))
	}
	for _, h := range hs {
		st.acts[h.spec.Name] = acts
	}
	return st
}

// step folds one more batch into the state.
func (st *benchState) step() {
	const B, T = 8, 128
	bt := &batch{b: B, t: T, ids: st.ids, docs: st.docs, keys: make([]uint64, B*T), hash: make([]uint64, B*T), tokens: B * T}
	for i := 0; i < B; i++ {
		for p := 0; p < T; p++ {
			bt.keys[i*T+p] = posKey(0, st.window, p)
			bt.hash[i*T+p] = posHash(7, st.window, p)
		}
		st.window++
	}
	st.bd.update(bt, st.acts)
	st.kept = append(st.kept, bt)
	st.last = bt
}

// windows is a store holding every window stepped through.
func (st *benchState) windows() *windowStore {
	ws := newWindowStore()
	for _, bt := range st.kept {
		ws.addBatch(bt)
	}
	return ws
}

// benchUpdate measures the per-batch update (all units, all workers) in
// steady state; it reports tokens/s.
func benchUpdate(b *testing.B, hooks, width, workers int) {
	st := newBenchState(hooks, width, workers)
	// Warm up past the first fills (as after a few thousand tokens).
	for i := 0; i < 20; i++ {
		st.step()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st.step()
	}
	const B, T = 8, 128
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
	tokens := benchTokens(20000)
	dir := b.TempDir()
	c := writeCorpus(b, filepath.Join(dir, "c"), 1, 4, 400, 60)
	for i := 0; i < b.N; i++ {
		o := testOpts(b, filepath.Join(dir, fmt.Sprintf("g%d.db", i)), c)
		o.Ctx, o.TopK, o.Radius, o.RandomK, o.Bands, o.BandK, o.Batch = 128, 20, 15, 8, 6, 3, 8
		o.MaxTokens = tokens
		o.Shards = append(o.Shards, o.Shards[0], o.Shards[0], o.Shards[0], o.Shards[0], o.Shards[0], o.Shards[0], o.Shards[0])
		m := atlastest.New(12, 3072)
		n := 0
		o.OnCheckpoint = func(int64, int64) { n++ }
		t0 := time.Now()
		r := mustBuild(b, m, o)
		el := time.Since(t0)
		b.ReportMetric(float64(r.Tokens)/el.Seconds(), "tokens/s")
		b.ReportMetric(100*r.CheckpointTime.Seconds()/el.Seconds(), "%-checkpoints")
		b.ReportMetric(100*r.CheckpointCPU.Seconds()/r.CPU.Seconds(), "%-checkpoints-cpu")
		b.Logf("%d tokens in %s: forward %.1fs update %.1fs, %d checkpoints %.1fs (%.1f%% of the build); CPU %.1fs, checkpoints %.1fs (%.1f%%)", r.Tokens, el.Round(time.Millisecond),
			r.ForwardTime.Seconds(), r.UpdateTime.Seconds(), n+1, r.CheckpointTime.Seconds(), 100*r.CheckpointTime.Seconds()/el.Seconds(),
			r.CPU.Seconds(), r.CheckpointCPU.Seconds(), 100*r.CheckpointCPU.Seconds()/r.CPU.Seconds())
	}
	logPeakRSS(b)
}

// benchTokens is $GLIA_BENCH_TOKENS, or def.
func benchTokens(def int64) int64 {
	if n, err := strconv.ParseInt(os.Getenv("GLIA_BENCH_TOKENS"), 10, 64); err == nil {
		return n
	}
	return def
}

// logPeakRSS logs the process's peak resident set (VmHWM).
func logPeakRSS(b *testing.B) {
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmHWM") {
			b.Log("peak RSS " + strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")))
		}
	}
}

// BenchmarkBuildLlama8BShaped builds an atlas of a Llama-3-8B-shaped unit
// set (32 hooks × 14,336 units = 458,752) with fake activations and the
// default settings (top-k 20, 8 random, 6 bands × 3), one 128-token window
// per forward, and logs the peak RSS and the database bytes per unit. It
// needs about 4 GB; run it alone, with a Go memory limit so that garbage
// batches are collected before the heap doubles:
//
//	GOMEMLIMIT=3300MiB GLIA_BENCH_TOKENS=2048 go test ./atlas -run '^$' -bench Llama8BShaped -benchtime 1x
func BenchmarkBuildLlama8BShaped(b *testing.B) {
	tokens := benchTokens(2048)
	dir := b.TempDir()
	c := writeCorpus(b, filepath.Join(dir, "c"), 1, 4, 400, 60)
	for i := 0; i < b.N; i++ {
		out := filepath.Join(dir, fmt.Sprintf("l%d.db", i))
		o := testOpts(b, out, c)
		d := DefaultBuildOptions()
		o.Ctx, o.TopK, o.Radius, o.RandomK, o.Bands, o.BandK, o.Batch = d.Ctx, d.TopK, d.Radius, d.RandomK, d.Bands, d.BandK, 1
		o.MaxTokens = tokens
		o.CheckpointEvery = time.Hour // the first and last checkpoints only: both write every unit
		m := atlastest.New(32, 14336)
		t0 := time.Now()
		r := mustBuild(b, m, o)
		st, err := os.Stat(out)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Size())/float64(r.Units), "disk-bytes/unit")
		b.Logf("%d units, %d tokens in %s: forward %.1fs update %.1fs checkpoints %.1fs; %s: %d bytes, %.0f per unit",
			r.Units, r.Tokens, time.Since(t0).Round(time.Millisecond), r.ForwardTime.Seconds(), r.UpdateTime.Seconds(),
			r.CheckpointTime.Seconds(), filepath.Base(out), st.Size(), float64(st.Size())/float64(r.Units))
	}
	logPeakRSS(b)
}
