package sae

import (
	"math"
	"testing"
)

// TestExpectedAverageFold: with expected_average_only_in the trainer
// estimates s = √d_in / mean ‖x‖ from its first batches, trains on x·s,
// and the saved SAE on raw activations equals the in-training SAE (saved
// without the fold) on scaled ones: the same features and reconstruction,
// both divided by s (the decoder rows are folded to unit norm after the
// scale, as SAELens saves a TopK SAE, so features are in raw units).
func TestExpectedAverageFold(t *testing.T) {
	const d, f, n, B, raw = 16, 24, 48, 64, 7.5
	for _, arch := range []string{Standard, TopK, BatchTopK, JumpReLU, Matryoshka} {
		t.Run(arch, func(t *testing.T) {
			p := newPlanted(d, f, 3, 2)
			batch := func() []float32 {
				x := p.batch(B)
				for i := range x {
					x[i] *= raw // far from √d_in, so the scale matters
				}
				return x
			}
			o := DefaultOptions(arch, d, n)
			o.K, o.L1, o.L0, o.Hyper.LR, o.Normalize, o.NormBatches = 3, 0.1, 0.05, 1e-2, ExpectedAverage, 2
			o.Widths = []int{n / 2}
			tr, err := NewTrainer(o)
			if err != nil {
				t.Fatal(err)
			}
			var sum float64
			for b := range 2 {
				x := batch()
				for r := range B {
					var ss float64
					for _, v := range x[r*d : (r+1)*d] {
						ss += float64(v) * float64(v)
					}
					sum += math.Sqrt(ss)
				}
				st, err := tr.TrainStep(x, B)
				if err != nil || !st.Estimating || tr.Step != 0 {
					t.Fatalf("batch %d: want an estimating batch and no step, got %+v, step %d, %v", b, st, tr.Step, err)
				}
			}
			want := math.Sqrt(d) / (sum / (2 * B))
			if math.Abs(tr.Scale-want) > 1e-9*want {
				t.Fatalf("scale %g, want √d_in / mean ‖x‖ = %g", tr.Scale, want)
			}
			for range 40 {
				if _, err := tr.TrainStep(batch(), B); err != nil {
					t.Fatal(err)
				}
			}
			saved := tr.SAE(Metadata{})
			if saved.Cfg.NormalizeActivations != "none" {
				t.Errorf("normalize_activations %q after folding, want none", saved.Cfg.NormalizeActivations)
			}
			scale := tr.Scale
			tr.Scale = 0
			inTraining := tr.SAE(Metadata{})
			tr.Scale = scale

			x := batch()
			xs := make([]float32, len(x))
			for i := range x {
				xs[i] = x[i] * float32(scale)
			}
			acts, recon := saved.Forward(x, B)
			wantActs, wantRecon := inTraining.Forward(xs, B)
			active := 0
			for i := range acts {
				if got := float64(acts[i]) * scale; math.Abs(got-float64(wantActs[i])) > 1e-4+1e-4*math.Abs(float64(wantActs[i])) {
					t.Fatalf("feature activation %d: %g × s on raw activations, %g in training", i, got, wantActs[i])
				}
				if acts[i] != 0 {
					active++
				}
			}
			for i := range recon {
				if got := float64(recon[i]) * scale; math.Abs(got-float64(wantRecon[i])) > 1e-4+1e-4*math.Abs(float64(wantRecon[i])) {
					t.Fatalf("reconstruction %d: %g × s on raw activations, %g in training", i, got, wantRecon[i])
				}
			}
			if active == 0 {
				t.Fatal("no feature is active; the test compares zeros")
			}
		})
	}
}
