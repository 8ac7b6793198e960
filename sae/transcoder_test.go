package sae

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// gradTranscoder is a small transcoder trainer (d_in 6 → d_out 5) with
// random weights, random inputs x and targets y.
func gradTranscoder(t *testing.T, arch string, skip bool, seed uint64) (tr *Trainer, x, y []float32, B int) {
	t.Helper()
	const d, do, n = 6, 5, 12
	B = 7
	o := DefaultOptions(arch, d, n)
	o.DOut, o.Skip, o.NoBDecInput = do, skip, true
	o.K, o.L1, o.L0, o.Seed, o.DeadWindow, o.Bandwidth = 3, 0.3, 0.2, seed, 5, 0.5
	o.Widths = []int{4, 8}
	tr, err := NewTrainer(o)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 9))
	fill := func(p []float32, s float64) {
		for i := range p {
			p[i] = float32(rng.NormFloat64() * s)
		}
	}
	for _, p := range tr.params() {
		fill(p, 0.5)
	}
	for i := range tr.Theta {
		tr.Theta[i] = float32(0.3 + 0.2*rng.Float64())
	}
	for i := range tr.SinceFired {
		if i%3 == 0 {
			tr.SinceFired[i] = 100
		}
	}
	x, y = make([]float32, B*d), make([]float32, B*do)
	fill(x, 1)
	fill(y, 1)
	return tr, x, y, B
}

// TestTranscoderGradientsFiniteDifference checks every transcoder gradient
// (W_skip's included) against central differences of the loss, for each
// training architecture with and without the skip connection.
func TestTranscoderGradientsFiniteDifference(t *testing.T) {
	for _, arch := range []string{Standard, TopK, BatchTopK, Matryoshka, JumpReLU} {
		for _, skip := range []bool{false, true} {
			if skip && arch == Matryoshka {
				continue // refused by Options.check
			}
			// Seed 6 keeps every JumpReLU pre-activation more than the
			// finite-difference step from θ, where the loss jumps.
			tr, x, y, B := gradTranscoder(t, arch, skip, 6)
			since := slices.Clone(tr.SinceFired)
			st, g := tr.passTo(x, y, B, true)
			copy(tr.SinceFired, since)
			tr.frozenResidual = slices.Clone(tr.w.r)
			if st.Aux == 0 {
				t.Fatalf("%s: the auxiliary term is zero; the test would not check it", arch)
			}
			names := tr.names()
			if skip && names[len(names)-1] != "W_skip" {
				t.Fatalf("%s: parameter names %v", arch, names)
			}
			checked := 0
			for pi, p := range tr.params() {
				if names[pi] == "threshold" {
					continue // a straight-through estimate (TestJumpReLUThresholdGradient)
				}
				for i := 0; i < len(p); i += 1 + len(p)/20 {
					const eps = 1e-3
					old := p[i]
					p[i] = old + eps
					lp, _ := tr.passTo(x, y, B, false)
					p[i] = old - eps
					lm, _ := tr.passTo(x, y, B, false)
					p[i] = old
					fd := (lp.Loss - lm.Loss) / (2 * eps)
					if diff := math.Abs(fd - float64(g[pi][i])); diff > 3e-3+2e-2*math.Abs(fd) {
						t.Errorf("%s skip=%v %s[%d]: gradient %.6g, finite difference %.6g", arch, skip, names[pi], i, g[pi][i], fd)
					}
					checked++
				}
			}
			if checked < 45 {
				t.Fatalf("%s: checked only %d entries", arch, checked)
			}
		}
	}
}

// TestTranscoderForward: the trained pass, the saved transcoder's
// Forward and a naive float64 evaluation of SAELens's formula agree, and
// the files round-trip with d_out and W_skip.
func TestTranscoderForward(t *testing.T) {
	for _, c := range []struct {
		arch, name string
		skip       bool
	}{{Standard, "transcoder", false}, {Standard, "skip_transcoder", true}, {JumpReLU, "jumprelu_skip_transcoder", true},
		{TopK, "topk_transcoder", false}, {BatchTopK, "jumprelu_transcoder", false}} {
		tr, x, y, B := gradTranscoder(t, c.arch, c.skip, 11)
		st, _ := tr.passTo(x, y, B, false)
		s := tr.SAE(Metadata{ModelName: "m", HookName: "blocks.0.ln2.hook_normalized", HookNameOut: "blocks.0.hook_mlp_out"})
		if s.Cfg.ArchitectureName() != c.name {
			t.Fatalf("%s: saved as %s, want %s", c.arch, s.Cfg.ArchitectureName(), c.name)
		}
		dir := filepath.Join(t.TempDir(), c.name)
		if err := s.Save(dir); err != nil {
			t.Fatal(err)
		}
		got, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got.Cfg.DOut != 5 || got.Cfg.Skip != c.skip || got.Cfg.ApplyBDecToInput || !slices.Equal(got.WSkip, s.WSkip) || !slices.Equal(got.WDec, s.WDec) {
			t.Fatalf("%s: reloaded %+v", c.name, got.Cfg)
		}
		acts, yh := got.Forward(x, B)
		// SAELens: act(x·W_enc + b_enc)·W_dec + b_dec (+ x·W_skipᵀ).
		d, n, do := 6, 12, 5
		var sse float64
		for r := range B {
			pre := make([]float64, n)
			for i := range n {
				pre[i] = float64(got.BEnc[i])
				for j := range d {
					pre[i] += float64(x[r*d+j]) * float64(got.WEnc[j*n+i])
				}
			}
			for i := range n {
				if a := float64(acts[r*n+i]); a != 0 && math.Abs(a-pre[i]) > 1e-4 {
					t.Fatalf("%s: feature %d is %g, its pre-activation %g", c.name, i, a, pre[i])
				}
			}
			for k := range do {
				v := float64(got.BDec[k])
				for i := range n {
					v += float64(acts[r*n+i]) * float64(got.WDec[i*do+k])
				}
				for j := range d {
					if got.WSkip != nil {
						v += float64(x[r*d+j]) * float64(got.WSkip[k*d+j])
					}
				}
				if math.Abs(v-float64(yh[r*do+k])) > 1e-4 {
					t.Fatalf("%s: output %g, naive %g", c.name, yh[r*do+k], v)
				}
				sse += (v - float64(y[r*do+k])) * (v - float64(y[r*do+k]))
			}
		}
		// Folding the decoder norms leaves the reconstruction as trained
		// (batchtopk's saved threshold is an inference rule, not its
		// training selection).
		if c.arch != BatchTopK && math.Abs(sse/float64(B)-st.MSE) > 1e-3*(1+st.MSE) {
			t.Errorf("%s: saved MSE %g, trained %g", c.name, sse/float64(B), st.MSE)
		}
	}
}

func TestTranscoderConfig(t *testing.T) {
	c, err := ParseConfig("cfg.json", []byte(`{"architecture":"skip_transcoder","d_in":64,"d_out":48,"d_sae":512,"apply_b_dec_to_input":false,
		"metadata":{"model_name":"m","hook_name":"blocks.0.ln2.hook_normalized","hook_name_out":"blocks.0.hook_mlp_out"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Architecture != Standard || !c.Skip || c.DOut != 48 || c.ApplyBDecToInput || c.Metadata.HookNameOut != "blocks.0.hook_mlp_out" || len(c.Extra) != 0 {
		t.Fatalf("%+v", c)
	}
	// Pre-v6 flat configs put hook_name_out at the top level.
	c, err = ParseConfig("cfg.json", []byte(`{"architecture":"jumprelu_transcoder","d_in":8,"d_out":8,"d_sae":16,"hook_name":"a","hook_name_out":"b"}`))
	if err != nil || c.Architecture != JumpReLU || c.Skip || c.Metadata.HookNameOut != "b" || c.ApplyBDecToInput {
		t.Fatalf("%+v, %v", c, err)
	}
	for _, tc := range []struct{ js, want string }{
		{`{"architecture":"transcoder","d_in":4,"d_sae":4}`, `key "d_out": is missing`},
		{`{"architecture":"transcoder","d_in":4,"d_sae":4,"d_out":0}`, `key "d_out": is 0`},
		{`{"architecture":"transcoder","d_in":4,"d_sae":4,"d_out":4,"apply_b_dec_to_input":true}`, `key "apply_b_dec_to_input"`},
		{`{"architecture":"transcoder","d_in":4,"d_sae":4,"d_out":4,"normalize_activations":"layer_norm"}`, `key "normalize_activations"`},
		{`{"architecture":"topk_transcoder","d_in":4,"d_sae":4,"d_out":4,"k":5}`, `key "k"`},
	} {
		_, err := ParseConfig("x/cfg.json", []byte(tc.js))
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want an *Error containing %q", tc.js, err, tc.want)
		}
	}
}

func TestLoadTranscoderMismatch(t *testing.T) {
	tr, _, _, _ := gradTranscoder(t, Standard, true, 2)
	dir := t.TempDir()
	if err := tr.SAE(Metadata{ModelName: "m", HookName: "blocks.0.ln2.hook_normalized", HookNameOut: "blocks.0.hook_mlp_out"}).Save(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTranscoderFor(dir, "m", "blocks.0.ln2.hook_normalized", "blocks.0.hook_mlp_out"); err != nil {
		t.Fatal(err)
	}
	_, err := LoadTranscoderFor(dir, "m", "blocks.1.ln2.hook_normalized", "blocks.1.hook_mlp_out")
	var me *MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("got %v, want a *MismatchError", err)
	}
	for _, want := range []string{`"blocks.0.ln2.hook_normalized" → "blocks.0.hook_mlp_out"`, `"blocks.1.ln2.hook_normalized" → "blocks.1.hook_mlp_out"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not name %s", err, want)
		}
	}
	if _, err := LoadFor(dir, "other", ""); err == nil || !strings.Contains(err.Error(), `"blocks.0.ln2.hook_normalized" → "blocks.0.hook_mlp_out"`) {
		t.Errorf("LoadFor on another model: %v", err)
	}
}

// FuzzTranscoderWeights: any sae_weights.safetensors under a skip
// transcoder's config either fails with an error or yields tensors of the
// configured shapes (W_dec [d_sae, d_out], b_dec [d_out], W_skip).
func FuzzTranscoderWeights(f *testing.F) {
	cfg := Config{Architecture: JumpReLU, DIn: 3, DSAE: 5, DOut: 2, Skip: true, DType: "float32", NormalizeActivations: "none", ReshapeActivations: "none"}
	fuzzWeights(f, &SAE{Cfg: cfg, WEnc: make([]float32, 15), WDec: make([]float32, 10), BEnc: make([]float32, 5), BDec: make([]float32, 2),
		Threshold: make([]float32, 5), WSkip: make([]float32, 6)})
}

// plantedPairs is a planted transcoder: each sample draws sparse codes c
// (magnitudes uniform in [0.5, 1.5]); x = Σ cᵢ·inᵢ + n, y = Σ cᵢ·outᵢ
// (+ W_skip·x). For a skip transcoder the input directions span the first
// d_in − dense axes and n, dense Gaussian, the last dense ones, which are
// all W_skip reads: the linear part the sparse code cannot carry. (A W_skip
// on the features' span is not identifiable: W_skip·Σ cᵢ·inᵢ folds as well
// into the output directions.)
type plantedPairs struct {
	in, out *planted // their features: the input and output directions
	skip    []float32
	dense   int
	noise   float64 // the dense part's standard deviation
	exact   int     // when set, every sample has exactly this many features
}

func newPlantedPairs(dIn, dOut, f int, skip bool, seed uint64) *plantedPairs {
	p := &plantedPairs{in: newPlanted(dIn, f, 5, seed), out: newPlanted(dOut, f, 5, seed+100)}
	if skip {
		p.dense, p.noise = dIn/4, 1
		sp := dIn - p.dense
		for i := range f {
			row := p.in.features[i*dIn : (i+1)*dIn]
			clear(row[sp:])
			nv := rowNorms(row, 1, dIn)[0]
			for j := range row {
				row[j] /= nv
			}
		}
		p.skip = make([]float32, dOut*dIn)
		for k := range dOut {
			for j := sp; j < dIn; j++ {
				p.skip[k*dIn+j] = float32(p.in.rng.NormFloat64() / math.Sqrt(float64(p.dense)))
			}
		}
	}
	return p
}

// codes draws one sample's active features: exactly p.exact distinct
// ones when set, else each with probability active/f.
func (p *plantedPairs) codes(f int) []int {
	rng := p.in.rng
	var out []int
	if p.exact > 0 {
		for len(out) < p.exact {
			if i := rng.IntN(f); !slices.Contains(out, i) {
				out = append(out, i)
			}
		}
		return out
	}
	for i := range f {
		if rng.Float64() < p.in.active/float64(f) {
			out = append(out, i)
		}
	}
	return out
}

// batch returns rows of x followed by y (StackPairs's layout).
func (p *plantedPairs) batch(rows int) []float32 {
	d, do, f := p.in.d, p.out.d, p.in.f
	x, y := make([]float32, rows*d), make([]float32, rows*do)
	rng := p.in.rng
	for r := range rows {
		for _, i := range p.codes(f) {
			c := float32(0.5 + rng.Float64())
			for j := range d {
				x[r*d+j] += c * p.in.features[i*d+j]
			}
			for j := range do {
				y[r*do+j] += c * p.out.features[i*do+j]
			}
		}
		for j := d - p.dense; j < d; j++ {
			x[r*d+j] = float32(p.noise * rng.NormFloat64())
		}
		for k := range p.skip {
			y[r*do+k/d] += p.skip[k] * x[r*d+k%d]
		}
	}
	return StackPairs(nil, x, y, rows, d, do)
}

// response is the mean over planted features of the cosine between the
// transcoder's response to feature i's input direction, T(inᵢ) − T(0),
// and its output direction outᵢ: recovery of the planted map as a
// function, whatever the split between decoder and W_skip.
func response(s *SAE, p *plantedPairs) float64 {
	d, do, f := p.in.d, p.out.d, p.in.f
	x := make([]float32, (f+1)*d)
	copy(x[d:], p.in.features)
	_, y := s.Forward(x, f+1)
	var sum float64
	for i := range f {
		var dot, nn float64
		for k := range do {
			v := float64(y[(i+1)*do+k] - y[k])
			dot += v * float64(p.out.features[i*do+k])
			nn += v * v
		}
		if nn > 0 {
			sum += dot / math.Sqrt(nn)
		}
	}
	return sum / float64(f)
}

// TestPlantedTranscoder is the transcoders' known answer, 48 features in
// CI (d_in 32 → d_out 24), 192 with GLIA_LONG=1 (64 → 48, four times the
// steps). A transcoder recovers the planted output directions in its
// decoder rows (mean max cosine ≥ 0.95). A skip transcoder's W_skip
// recovers the planted one on the dense axes (relative Frobenius error
// ≤ 0.05) and its response to each input direction is the planted output
// direction (mean cosine ≥ 0.95); its decoder rows alone are reported, not
// checked: the skip is free to carry part of the features' linear span
// (see plantedPairs).
func TestPlantedTranscoder(t *testing.T) {
	dIn, dOut, f, steps := 32, 24, 48, 500
	if os.Getenv("GLIA_LONG") != "" {
		dIn, dOut, f, steps = 64, 48, 192, 2000
	}
	const batch = 256
	for _, c := range []struct {
		arch string
		skip bool
		set  func(*Options)
	}{
		{TopK, false, func(o *Options) { o.K = 5 }},
		{TopK, true, func(o *Options) { o.K = 5 }},
		{Standard, false, func(o *Options) { o.L1, o.CoefWarmup = 1, 100 }},
		{Standard, true, func(o *Options) { o.L1, o.CoefWarmup = 0.2, 100 }},
	} {
		start := time.Now()
		p := newPlantedPairs(dIn, dOut, f, c.skip, 3)
		o := DefaultOptions(c.arch, dIn, 2*f)
		o.DOut, o.Skip, o.NoBDecInput = dOut, c.skip, true
		c.set(&o)
		tr, st := trainSynthetic(t, o, steps, batch, p.batch)
		s := tr.SAE(Metadata{})
		rec, resp := recovery(p.out, s.WDec, 2*f), response(s, p)
		skipErr := 0.0
		if c.skip {
			var num, den float64
			for i, v := range s.WSkip {
				if i%dIn >= dIn-p.dense {
					num += float64(v-p.skip[i]) * float64(v-p.skip[i])
					den += float64(p.skip[i]) * float64(p.skip[i])
				}
			}
			skipErr = math.Sqrt(num / den)
		}
		name := s.Cfg.ArchitectureName()
		t.Logf("%s (%s): %d features, %d → %d, d_sae %d, %d steps × %d: decoder recovery %.4f, response %.4f, W_skip error %.4f, L0 %.2f, explained variance %.4f, dead %d, %.1fs",
			name, c.arch, f, dIn, dOut, 2*f, steps, batch, rec, resp, skipErr, st.L0, st.ExplainedVar, st.Dead, time.Since(start).Seconds())
		if (!c.skip && rec < 0.95) || resp < 0.95 || math.IsNaN(rec+resp) {
			t.Errorf("%s (%s) recovers the planted output directions at mean max cosine %.4f (response %.4f), want ≥ 0.95", name, c.arch, rec, resp)
		}
		if skipErr > 0.05 || math.IsNaN(skipErr) {
			t.Errorf("%s (%s) recovers W_skip with relative error %.4f, want ≤ 0.05", name, c.arch, skipErr)
		}
	}
}
