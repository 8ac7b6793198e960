package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/engine/cpu/kernels"
	"github.com/glia-dev/glia/internal/testenv"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func tinySpec(family string) Spec {
	return Spec{Family: family, Layers: 2, DModel: 16, Heads: 2, DMLP: 32, Ctx: 16, Vocab: 11, BOS: 0, EOS: -1}
}

func tinyTrainer(t *testing.T, s Spec, h Hyper) *Trainer {
	t.Helper()
	cfg, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel("tiny", cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(m, h)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// adamWRef is torch.optim.AdamW's step in float64.
func adamWRef(w, g, m, v []float64, lr, wd, b1, b2, eps float64, step int) {
	for i := range w {
		w[i] *= 1 - lr*wd
		m[i] = b1*m[i] + (1-b1)*g[i]
		v[i] = b2*v[i] + (1-b2)*g[i]*g[i]
		bc1, bc2 := 1-math.Pow(b1, float64(step)), 1-math.Pow(b2, float64(step))
		w[i] -= lr / bc1 * m[i] / (math.Sqrt(v[i])/math.Sqrt(bc2) + eps)
	}
}

func TestAdamW(t *testing.T) {
	be, err := engine.Backend()
	if err != nil {
		t.Fatal(err)
	}
	h := Hyper{Beta1: 0.9, Beta2: 0.98, Eps: 1e-8}
	for _, wd := range []float64{0, 0.1, 1} {
		e, err := NewExec(be, func(in []*Node) []*Node {
			w, m, v := AdamW(in[0], in[1], in[2], in[3], scalarAt(in[4], 0), scalarAt(in[4], 1), scalarAt(in[4], 2), h, wd)
			return []*Node{w, m, v}
		})
		if err != nil {
			t.Fatal(err)
		}
		w, m, v := []float32{0.5, -2}, []float32{0, 0}, []float32{0, 0}
		rw, rm, rv := []float64{0.5, -2}, []float64{0, 0}, []float64{0, 0}
		grads := [][]float32{{0.3, -4}, {-1e-3, 2}, {0.7, 0.7}}
		lr := 0.01
		for step, g := range grads {
			n := float64(step + 1)
			sched := []float32{float32(lr), float32(1 - math.Pow(h.Beta1, n)), float32(1 - math.Pow(h.Beta2, n))}
			outs, err := e.Call(tensors.FromValue(w), tensors.FromValue(g), tensors.FromValue(m), tensors.FromValue(v), tensors.FromValue(sched))
			if err != nil {
				t.Fatal(err)
			}
			w, m, v = outs[0].Value().([]float32), outs[1].Value().([]float32), outs[2].Value().([]float32)
			if step == 0 {
				// Closed form of AdamW's first step: m̂ = g, v̂ = g², so each
				// weight moves by lr·g/(|g|+ε) after its decay.
				for i := range w {
					gi := float64(g[i])
					want := rw[i]*(1-lr*wd) - lr*gi/(math.Abs(gi)+h.Eps)
					if d := math.Abs(float64(w[i]) - want); d > 1e-6 {
						t.Errorf("wd %g step 1: w[%d] = %g, closed form %g", wd, i, w[i], want)
					}
				}
			}
			g64 := []float64{float64(g[0]), float64(g[1])}
			adamWRef(rw, g64, rm, rv, lr, wd, h.Beta1, h.Beta2, h.Eps, step+1)
			for i := range w {
				if d := math.Abs(float64(w[i]) - rw[i]); d > 1e-6 {
					t.Errorf("wd %g step %d: w[%d] = %g, float64 reference %g", wd, step+1, i, w[i], rw[i])
				}
				if d := math.Abs(float64(v[i]) - rv[i]); d > 1e-6*math.Max(1, rv[i]) {
					t.Errorf("wd %g step %d: v[%d] = %g, float64 reference %g", wd, step+1, i, v[i], rv[i])
				}
			}
		}
	}
}

// TestAdamWClipped checks the step graph's optimiser (squares shared with
// the global norm, the clipping factor folded into the moments) against
// clipping the gradients first and running AdamW, as package sae does.
func TestAdamWClipped(t *testing.T) {
	be, err := engine.Backend()
	if err != nil {
		t.Fatal(err)
	}
	h := Hyper{Beta1: 0.9, Beta2: 0.98, Eps: 1e-8}
	r := rand.New(rand.NewPCG(3, 4))
	vec := func(n int, scale float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(scale * r.NormFloat64())
		}
		return x
	}
	squares := func(x []float32) []float32 { // a second moment is never negative
		for i := range x {
			x[i] *= x[i]
		}
		return x
	}
	for _, c := range []struct {
		name string
		clip float64
		wd   float64
	}{{"no clip", 0, 0.1}, {"clipped", 0.5, 0.1}, {"clip above norm", 1e3, 0}} {
		t.Run(c.name, func(t *testing.T) {
			run := func(fused bool) [][]float32 {
				e, err := NewExec(be, func(in []*Node) []*Node {
					w, g, m, v, sched := in[0], in[1], in[2], in[3], in[4]
					lr, bc1, bc2 := scalarAt(sched, 0), scalarAt(sched, 1), scalarAt(sched, 2)
					var nw, nm, nv, norm *Node
					if fused {
						sq := Square(g)
						norm = globalNorm([]*Node{sq})
						nw, nm, nv = adamW(w, g, sq, clipScale(norm, c.clip), m, v, lr, bc1, bc2, h, c.wd)
					} else {
						var gs []*Node
						norm, gs = ClipByGlobalNorm([]*Node{g}, c.clip)
						nw, nm, nv = AdamW(w, gs[0], m, v, lr, bc1, bc2, h, c.wd)
					}
					return []*Node{nw, nm, nv, norm}
				})
				if err != nil {
					t.Fatal(err)
				}
				outs, err := e.Call(tensors.FromValue(vec(300, 1)), tensors.FromValue(vec(300, 0.1)), tensors.FromValue(vec(300, 0.01)),
					tensors.FromValue(squares(vec(300, 1e-2))), tensors.FromValue([]float32{1e-3, 0.271, 0.0588}))
				if err != nil {
					t.Fatal(err)
				}
				var out [][]float32
				for _, o := range outs[:3] {
					out = append(out, o.Value().([]float32))
				}
				return out
			}
			r = rand.New(rand.NewPCG(3, 4))
			got := run(true)
			r = rand.New(rand.NewPCG(3, 4))
			want := run(false)
			for k, name := range []string{"weight", "first moment", "second moment"} {
				for i := range got[k] {
					if d := math.Abs(float64(got[k][i] - want[k][i])); d > 1e-6*math.Max(1e-3, math.Abs(float64(want[k][i]))) {
						t.Fatalf("%s[%d] = %g, clipping first gives %g", name, i, got[k][i], want[k][i])
					}
				}
			}
		})
	}
}

func TestSchedule(t *testing.T) {
	h := Hyper{LR: 1, MinLRFrac: 0.1, Warmup: 4, Steps: 14}
	for _, c := range []struct {
		step int
		want float64
	}{{0, 0.25}, {3, 1}, {4, 1}, {9, 0.55}, {14, 0.1}, {20, 0.1}} {
		if got := h.LRAt(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("LRAt(%d) = %g, want %g", c.step, got, c.want)
		}
	}
}

// TestGradient compares the step graph's gradient (graph.Gradient through
// the engine's forward pass) with central finite differences of the loss.
func TestGradient(t *testing.T) {
	attnOnly := tinySpec("llama")
	attnOnly.AttnOnly = true
	for _, s := range []Spec{tinySpec("gpt2"), tinySpec("llama"), attnOnly} {
		t.Run(fmt.Sprintf("%s/attn-only=%v", s.Family, s.AttnOnly), func(t *testing.T) {
			tr := tinyTrainer(t, s, DefaultHyper())
			b := (&Induction{Seed: 3, Batch: 2, Seq: 8, VocabSize: 11}).Train(0)
			k := len(tr.specs)
			e, err := NewExec(tr.backend, func(in []*Node) []*Node {
				loss, _ := crossEntropy(tr.Model.Forward(in[0], in[3:]), in[1], in[2])
				return append([]*Node{loss}, Gradient(loss, in[3:]...)...)
			})
			if err != nil {
				t.Fatal(err)
			}
			w := make([][]float32, k)
			for i, x := range tr.w {
				w[i] = tensors.MustCopyFlatData[float32](x)
			}
			call := func() []*tensors.Tensor {
				args, done := b.tensors()
				defer done()
				for i, s := range tr.specs {
					args = append(args, tensors.FromFlatDataAndDimensions(w[i], s.Shape...))
				}
				outs, err := e.Call(args...)
				if err != nil {
					t.Fatal(err)
				}
				return outs
			}
			outs := call()
			const eps = 1e-2
			checked := 0
			for i, s := range tr.specs {
				g := tensors.MustCopyFlatData[float32](outs[1+i])
				j := 0 // the coordinate with the largest gradient
				for c := range g {
					if math.Abs(float64(g[c])) > math.Abs(float64(g[j])) {
						j = c
					}
				}
				if math.Abs(float64(g[j])) < 1e-3 {
					continue // too flat for float32 differences
				}
				old := w[i][j]
				w[i][j] = old + eps
				up := scalar(call()[0])
				w[i][j] = old - eps
				down := scalar(call()[0])
				w[i][j] = old
				fd := (up - down) / (2 * eps)
				if d := math.Abs(fd - float64(g[j])); d > 2e-3+0.03*math.Abs(fd) {
					t.Errorf("%s[%d]: gradient %g, finite difference %g", s.Name, j, g[j], fd)
				}
				checked++
			}
			if checked < k/2 {
				t.Errorf("only %d of %d weights had a gradient large enough to check", checked, k)
			}
		})
	}
}

func TestLossFalls(t *testing.T) {
	h := DefaultHyper()
	h.LR, h.Warmup, h.Steps = 1e-2, 2, 20
	s := tinySpec("gpt2")
	s.AttnOnly = true
	tr := tinyTrainer(t, s, h)
	task := &Induction{Seed: 1, Batch: 16, Seq: 12, VocabSize: s.Vocab}
	before, err := tr.Evaluate(task.Eval())
	if err != nil {
		t.Fatal(err)
	}
	var first, last float64
	for i := range h.Steps {
		r, err := tr.TrainStep(task.Train(i))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = r.Loss
		}
		last = r.Loss
	}
	after, err := tr.Evaluate(task.Eval())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("training loss %.3f → %.3f; held-out repeat loss %.3f → %.3f", first, last, before.Loss, after.Loss)
	// Twenty steps learn the unigram statistics (no token is ever followed
	// by BOS: ln 11 → ln 10 on the fixed held-out set); induction takes
	// hundreds more.
	if !(after.Loss < before.Loss-0.05) || !(last < first) {
		t.Errorf("loss did not fall: training %.3f → %.3f, held-out %.3f → %.3f", first, last, before.Loss, after.Loss)
	}
}

func runOpts(dir string, steps int) Options {
	h := DefaultHyper()
	h.LR, h.Warmup, h.Steps = 1e-2, 2, steps
	return Options{Hyper: h, Seed: 5, Out: dir, EvalEvery: 2, Run: map[string]any{"task": "induction"}}
}

// TestParallelOps: ops side by side (engine.ParallelOps, as glia train and
// these tests run) reach the bits of one op at a time. The sequential run is
// a child process, since the backend's mode is set once per process.
func TestParallelOps(t *testing.T) {
	cfg, err := Spec{Family: "gpt2", Layers: 3, DModel: 32, Heads: 4, DMLP: 64, Ctx: 16, Vocab: 23, BOS: 0, EOS: -1}.Config()
	if err != nil {
		t.Fatal(err)
	}
	task := &Induction{Seed: 3, Batch: 4, Seq: 16, VocabSize: 23}
	if dir := os.Getenv("GLIA_SEQUENTIAL_OUT"); dir != "" {
		if _, err := Run(context.Background(), cfg, task, runOpts(dir, 8)); err != nil {
			t.Fatal(err)
		}
		return
	}
	par, seq := t.TempDir(), t.TempDir()
	if _, err := Run(context.Background(), cfg, task, runOpts(par, 8)); err != nil {
		t.Fatal(err)
	}
	testenv.Child(t, "TestParallelOps", "GOMLX_BACKEND=go:ops_sequential", "GLIA_SEQUENTIAL_OUT="+seq)
	for _, f := range []string{"model.safetensors", CheckpointFile} {
		a, _ := os.ReadFile(filepath.Join(par, f))
		b, _ := os.ReadFile(filepath.Join(seq, f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: parallel ops differ from one op at a time (%d vs %d bytes)", f, len(a), len(b))
		}
	}
}

// TestResume: a run stopped after 3 steps, resumed, interrupted after 4 and
// resumed again reaches the same bits as one run straight through, and its export loads with
// engine.Load and gives the trainer's logits.
func TestResume(t *testing.T) {
	cfg, err := tinySpec("llama").Config()
	if err != nil {
		t.Fatal(err)
	}
	task := &Induction{Seed: 2, Batch: 4, Seq: 8, VocabSize: 11}
	whole, parts := t.TempDir(), t.TempDir()
	r1, err := Run(context.Background(), cfg, task, runOpts(whole, 6))
	if err != nil {
		t.Fatal(err)
	}
	o := runOpts(parts, 6)
	o.StopAfter = 3
	if r, err := Run(context.Background(), cfg, task, o); err != nil || r.Dir != "" || r.Steps != 3 {
		t.Fatalf("stopped run: %+v, %v", r, err)
	}
	// Interrupted (Ctrl-C) after step 4: it checkpoints and says so.
	ctx, cancel := context.WithCancel(context.Background())
	o.StopAfter, o.Resume = 0, true
	o.Log = func(e Event) {
		if e.Kind == "step" && e.Step == 4 {
			cancel()
		}
	}
	if _, err := Run(ctx, cfg, task, o); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted at step 4") {
		t.Fatalf("interrupted run: %v", err)
	}
	o.Log = nil
	if _, err := Run(context.Background(), cfg, task, o); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model.safetensors", CheckpointFile, "config.json"} {
		a, _ := os.ReadFile(filepath.Join(whole, f))
		b, _ := os.ReadFile(filepath.Join(parts, f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: resumed run differs from the uninterrupted one (%d vs %d bytes)", f, len(a), len(b))
		}
	}

	m, err := engine.Load(whole)
	if err != nil {
		t.Fatal(err)
	}
	b := task.Eval()[0]
	got, err := m.Run(engine.Request{IDs: b.Rows()})
	if err != nil {
		t.Fatal(err)
	}
	tr := r1.Trainer
	e, err := NewExec(tr.backend, func(in []*Node) []*Node { return []*Node{tr.Model.Forward(in[0], in[1:])} })
	if err != nil {
		t.Fatal(err)
	}
	outs, err := e.Call(appendTensors([]any{tensors.FromFlatDataAndDimensions(b.IDs, b.B, b.T)}, tr.w)...)
	if err != nil {
		t.Fatal(err)
	}
	want := tensors.MustCopyFlatData[float32](outs[0])
	if len(want) != len(got.Logits.Data) {
		t.Fatalf("logits: %d values loaded, %d trained", len(got.Logits.Data), len(want))
	}
	// The written weights are the trainer's, bit for bit; the logits agree
	// to rounding (the trainer's forward runs the fused training kernels,
	// the loaded model the inference graph).
	for i, s := range tr.specs {
		w, err := m.Weight(s.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(w.Data, tensors.MustCopyFlatData[float32](tr.w[i])) {
			t.Errorf("%s: the loaded weight differs from the trainer's", s.Name)
		}
	}
	for i := range want {
		if d := math.Abs(float64(want[i] - got.Logits.Data[i])); d > 1e-5*max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("logit %d: loaded model %g, trainer %g", i, got.Logits.Data[i], want[i])
		}
	}

	// Resuming with other settings is refused, naming the difference.
	o.Hyper.LR = 3e-3
	if _, err := Run(context.Background(), cfg, task, o); err == nil || !strings.Contains(err.Error(), "LR") {
		t.Errorf("resume with another learning rate: %v", err)
	}
}

// TestNonFinite: a diverging run stops with NonFiniteError and the last
// good checkpoint stays readable.
func TestNonFinite(t *testing.T) {
	cfg, err := tinySpec("gpt2").Config()
	if err != nil {
		t.Fatal(err)
	}
	o := runOpts(t.TempDir(), 50)
	o.Hyper.LR, o.Hyper.Warmup, o.Hyper.Clip, o.CheckpointEvery = 1e30, 0, 0, 1
	_, err = Run(context.Background(), cfg, &Induction{Seed: 2, Batch: 4, Seq: 8, VocabSize: 11}, o)
	var nf *NonFiniteError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "last good checkpoint") {
		t.Fatalf("want a non-finite loss error naming the last good checkpoint, got %v", err)
	}
	st, err := ReadRunState(filepath.Join(o.Out, CheckpointFile))
	if err != nil || st.Step != nf.Step {
		t.Errorf("checkpoint after the failure: step %d (%v), want the last good step %d", st.Step, err, nf.Step)
	}
}

func TestBadInput(t *testing.T) {
	good := tinySpec("gpt2")
	for _, c := range []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"unknown family", func(s *Spec) { s.Family = "bert" }, `unknown family "bert"`},
		{"heads", func(s *Spec) { s.Heads = 3 }, "d_model 16 is not divisible by heads 3"},
		{"zero layers", func(s *Spec) { s.Layers = 0 }, "layers must be positive"},
		{"negative d_mlp", func(s *Spec) { s.DMLP = -1 }, "d_mlp must not be negative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := good
			c.edit(&s)
			if _, err := s.Config(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	t.Run("corpus smaller than a batch", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a short corpus of a few dozen bytes"), 0o644)
		shards, err := corpus.Resolve([]string{dir})
		if err != nil {
			t.Fatal(err)
		}
		enc := func(s string) []int32 {
			out := make([]int32, len(s))
			for i := range s {
				out[i] = int32(s[i])
			}
			return out
		}
		_, err = NewCorpus(shards, corpus.Options{}, enc, -1, 256, 8, 8, 1, 0.1)
		if err == nil || !strings.Contains(err.Error(), "fewer than one batch of 8") {
			t.Errorf("got %v", err)
		}
		c, err := NewCorpus(shards, corpus.Options{}, enc, -1, 256, 8, 2, 1, 0.1)
		if err != nil {
			t.Fatal(err)
		}
		if b := c.Train(5); b.B != 2 || b.T != 8 || b.Targets[0] != b.IDs[1] {
			t.Errorf("corpus batch %+v", b)
		}
	})
}

func TestModAdd(t *testing.T) {
	task, err := NewModAdd(5, 1, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	tr, te := task.Train(0), task.Eval()[0]
	if tr.B != 7 || te.B != 18 {
		t.Fatalf("split %d/%d, want 7/18", tr.B, te.B)
	}
	seen := map[[2]int32]bool{}
	for _, b := range []Batch{tr, te} {
		for i := range b.B {
			ids, tg, m := b.IDs[3*i:3*i+3], b.Targets[3*i:3*i+3], b.Mask[3*i:3*i+3]
			if ids[2] != 5 || tg[2] != (ids[0]+ids[1])%5 || m[0] != 0 || m[1] != 0 || m[2] != 1 {
				t.Errorf("example %v → %v mask %v", ids, tg, m)
			}
			seen[[2]int32{ids[0], ids[1]}] = true
		}
	}
	if len(seen) != 25 {
		t.Errorf("%d distinct pairs, want all 25", len(seen))
	}
}

func TestInductionBatch(t *testing.T) {
	for _, seq := range []int{7, 8, 48} {
		task := &Induction{Seed: 4, Batch: 1, Seq: seq, VocabSize: 9, EvalSequences: 50}
		b, spans := task.EvalSpans()
		periods := map[int]bool{}
		for i, s := range spans {
			ids, tg, m := b.IDs[i*seq:(i+1)*seq], b.Targets[i*seq:(i+1)*seq], b.Mask[i*seq:(i+1)*seq]
			periods[s.Half] = true
			if ids[0] != 0 || s.Half < task.minHalf() || s.Half > task.Half() || s.Start+s.Half > seq {
				t.Fatalf("seq %d: sequence %d: span %+v, ids %v", seq, i, s, ids)
			}
			for q := range seq {
				if q+1 < seq && tg[q] != ids[q+1] {
					t.Errorf("seq %d: target %d is %d, next input %d", seq, q, tg[q], ids[q+1])
				}
				repeat := q >= s.Start+s.Half
				if repeat && (ids[q] != ids[q-s.Half] || tg[q] != ids[q-s.Half+1]) {
					t.Errorf("seq %d: sequence %d position %d does not repeat position %d: %v", seq, i, q, q-s.Half, ids)
				}
				if (m[q] == 1) != repeat {
					t.Errorf("seq %d: position %d weighted %g, repeat %v", seq, q, m[q], repeat)
				}
			}
		}
		if seq == 48 && len(periods) < 5 {
			t.Errorf("seq 48: only %d distinct periods in 50 sequences", len(periods))
		}
	}
}

// TestEmbeddingFourier: an embedding made of two frequencies of ℤ_p has all
// of its power in them, in proportion to their squared amplitudes (cos 3x
// and sin 3x: 1+1; 2 cos 5x: 4).
func TestEmbeddingFourier(t *testing.T) {
	const p, d = 13, 4
	cfg, err := Spec{Family: "gpt2", Layers: 1, DModel: d, Heads: 1, Ctx: 3, Vocab: p + 1}.Config()
	if err != nil {
		t.Fatal(err)
	}
	src, err := engine.NewRandomSource(arch.NewConfig("f", cfg), 1)
	if err != nil {
		t.Fatal(err)
	}
	wte := make([]float32, (p+1)*d)
	for a := range p {
		x := 2 * math.Pi * float64(a) / p
		copy(wte[a*d:], []float32{float32(math.Cos(3 * x)), float32(math.Sin(3 * x)), float32(2 * math.Cos(5*x)), 0})
	}
	m, err := engine.FromSource("f", arch.NewConfig("f", cfg), override{src, "transformer.wte.weight", wte})
	if err != nil {
		t.Fatal(err)
	}
	f, err := EmbeddingFourier(m, p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Top[0] != 5 || f.Top[1] != 3 || math.Abs(f.Top5-1) > 1e-6 || math.Abs(f.Power[5]-2.0/3) > 1e-6 {
		t.Errorf("top frequencies %v, power %v, top-5 fraction %g", f.Top[:2], f.Power, f.Top5)
	}
}

// override replaces one tensor of a source.
type override struct {
	*engine.RandomSource
	name string
	data []float32
}

func (o override) Float32(name string) ([]float32, error) {
	if name == o.name {
		return o.data, nil
	}
	return o.RandomSource.Float32(name)
}

// TestCorpusHeldOutSpread: held-out windows are spread through the stream,
// so each file of a directory gives its share (a tail split would take them
// all from the last file), and none is also a training window.
func TestCorpusHeldOutSpread(t *testing.T) {
	dir := t.TempDir()
	// Each file's bytes are its own letter, so a window names its file.
	for _, f := range "abcd" {
		os.WriteFile(filepath.Join(dir, string(f)+".txt"), []byte(strings.Repeat(string(f), 90)), 0o644)
	}
	shards, err := corpus.Resolve([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	enc := byteIDs
	c, err := NewCorpus(shards, corpus.Options{}, enc, -1, 256, 8, 2, 1, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	held := map[int32]int{}
	for _, w := range c.held {
		held[w[0]]++
	}
	for _, f := range "abcd" {
		if held[f] < 1 {
			t.Errorf("file %c has no held-out window (held-out windows by file: %v)", f, held)
		}
	}
	n := len(c.held) + len(c.train)
	if len(c.held) != n/5 {
		t.Errorf("%d of %d windows held out, want %d", len(c.held), n, n/5)
	}
}

// byteIDs encodes text as its bytes, a tokenizer for corpus tests.
func byteIDs(s string) []int32 {
	out := make([]int32, len(s))
	for i := range s {
		out[i] = int32(s[i])
	}
	return out
}

// TestHostAdamWMatchesGraph: the host AdamW of the pure-Go backend
// (adam.go) and the in-graph AdamW that accelerators run reach the same
// bits over several steps — weights and both moments — with the clipping
// factor active and inactive, weight decay on and off.
func TestHostAdamWMatchesGraph(t *testing.T) {
	for _, h := range []Hyper{
		{LR: 3e-2, Warmup: 2, Steps: 10, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, Clip: 0.05, MinLRFrac: 0.1},
		{LR: 1e-2, Warmup: 1, Steps: 10, Beta1: 0.8, Beta2: 0.98, Eps: 1e-6, WeightDecay: 0, Clip: 0, MinLRFrac: 1},
	} {
		host, graph := tinyTrainer(t, tinySpec("gpt2"), h), tinyTrainer(t, tinySpec("gpt2"), h)
		if !host.hostAdam {
			t.Fatal("the Go backend's trainer does not update on the host")
		}
		graph.hostAdam = false
		task := &Induction{Seed: 4, Batch: 4, Seq: 12, VocabSize: 11}
		clipped := false
		for step := range 5 {
			a, err := host.TrainStep(task.Train(step))
			if err != nil {
				t.Fatal(err)
			}
			b, err := graph.TrainStep(task.Train(step))
			if err != nil {
				t.Fatal(err)
			}
			if a != b {
				t.Fatalf("step %d: host %+v, graph %+v", step, a, b)
			}
			clipped = clipped || a.GradNorm > h.Clip && h.Clip > 0
		}
		if h.Clip > 0 && !clipped {
			t.Fatalf("clip %g never applied: the test does not exercise it", h.Clip)
		}
		for _, prefix := range []string{"", momentM, momentV} {
			pick := func(tr *Trainer) []*tensors.Tensor {
				return map[string][]*tensors.Tensor{"": tr.w, momentM: tr.m, momentV: tr.v}[prefix]
			}
			ha, ga := host.host(prefix, pick(host)), graph.host(prefix, pick(graph))
			for i := range ha {
				if !slices.Equal(ha[i].Data, ga[i].Data) {
					t.Fatalf("clip %g: %s%s: host and graph AdamW differ", h.Clip, prefix, ha[i].Name)
				}
			}
		}
	}
}

// TestFusedMatchesDecomposed compares a training step's loss and gradients
// with glia's fused kernels (attention with its backward, GELU, layer norm)
// against the same model built from primitive ops with GoMLX's autodiff
// ($GOMLX_FUSION=false), and checks that the fused attention ran.
func TestFusedMatchesDecomposed(t *testing.T) {
	if r := engine.CPUKernels(); !r.Attention {
		t.Skipf("no fused ops to compare in this build (%s)", r)
	}
	llamaGQA := tinySpec("llama")
	llamaGQA.Heads = 4
	for _, s := range []Spec{tinySpec("gpt2"), llamaGQA} {
		t.Run(s.Family, func(t *testing.T) {
			cfg, err := s.Config()
			if err != nil {
				t.Fatal(err)
			}
			if s.Family == "llama" {
				cfg["num_key_value_heads"] = 2 // grouped-query: two query heads per key/value head
			}
			m, err := NewModel("tiny", cfg, 7)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := NewTrainer(m, DefaultHyper())
			if err != nil {
				t.Fatal(err)
			}
			b := (&Induction{Seed: 3, Batch: 3, Seq: 16, VocabSize: 11}).Train(0)
			run := func() [][]float32 {
				return callOnBatch(t, tr, b, func(in []*Node) []*Node {
					loss, _ := crossEntropy(tr.Model.Forward(in[0], in[3:]), in[1], in[2])
					return append([]*Node{loss}, Gradient(loss, in[3:]...)...)
				})
			}
			before := kernels.Handled(compute.OpTypeFusedScaledDotProductAttentionVJP)
			fused := run()
			if kernels.Handled(compute.OpTypeFusedScaledDotProductAttentionVJP) == before {
				t.Error("the fused attention's backward did not run")
			}
			t.Setenv(FusionEnv, "false")
			plain := run()
			for i := range plain {
				var scale, diff float64
				for j, x := range plain[i] {
					scale = max(scale, math.Abs(float64(x)))
					diff = max(diff, math.Abs(float64(fused[i][j]-x)))
				}
				name := "loss"
				if i > 0 {
					name = tr.specs[i-1].Name
				}
				if diff > 1e-5*max(scale, 1e-3) {
					t.Errorf("%s: fused and decomposed differ by %.3g (largest value %.3g)", name, diff, scale)
				}
			}
		})
	}
}

// TestForwardMatchesInference checks that the training forward pass
// (unpadded: fused attention, position rows sliced rather than gathered)
// gives the logits of the engine's inference pass on the same weights.
func TestForwardMatchesInference(t *testing.T) {
	for _, s := range []Spec{tinySpec("gpt2"), tinySpec("llama")} {
		t.Run(s.Family, func(t *testing.T) {
			tr := tinyTrainer(t, s, DefaultHyper())
			b := (&Induction{Seed: 5, Batch: 2, Seq: 12, VocabSize: 11}).Train(0)
			got := callOnBatch(t, tr, b, func(in []*Node) []*Node { return []*Node{tr.Model.Forward(in[0], in[3:])} })[0]
			ids := make([][]int32, b.B)
			for i := range ids {
				ids[i] = b.IDs[i*b.T : (i+1)*b.T]
			}
			res, err := tr.Model.Run(engine.Request{IDs: ids})
			if err != nil {
				t.Fatal(err)
			}
			want := res.Logits.Data
			if len(got) != len(want) {
				t.Fatalf("%d logits from training's forward, %d from inference", len(got), len(want))
			}
			var diff, scale float64
			for i := range want {
				diff = max(diff, math.Abs(float64(got[i]-want[i])))
				scale = max(scale, math.Abs(float64(want[i])))
			}
			if diff > 1e-5*max(scale, 1) {
				t.Errorf("training and inference logits differ by %.3g (largest %.3g)", diff, scale)
			}
		})
	}
}

// callOnBatch runs fn, a graph of the batch's ids, targets and mask and
// the trainer's weights, and returns its outputs.
func callOnBatch(t *testing.T, tr *Trainer, b Batch, fn func(in []*Node) []*Node) [][]float32 {
	t.Helper()
	e, err := NewExec(tr.backend, fn)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	args, done := b.tensors()
	defer done()
	args = appendTensors(args, tr.w)
	outs, err := e.Call(args...)
	if err != nil {
		t.Fatal(err)
	}
	flat := make([][]float32, len(outs))
	for i, o := range outs {
		flat[i] = tensors.MustCopyFlatData[float32](o)
	}
	return flat
}
