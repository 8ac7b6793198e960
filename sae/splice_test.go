package sae

import (
	"math"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/hook"
	"github.com/gomlx/gomlx/core/graph"
)

// TestSplice splices SAEs trained on the embedded model's residual stream
// into its forward pass: with the error kept the logits do not change, and
// the reconstruction the graph computes is the host's Forward.
func TestSplice(t *testing.T) {
	m, err := engine.Load("")
	if err != nil {
		t.Fatal(err)
	}
	const h = "blocks.1.hook_resid_post"
	ids, err := m.Encode("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.", true)
	if err != nil {
		t.Fatal(err)
	}
	clean, err := m.Run(engine.Request{IDs: [][]int32{ids}, Hooks: []string{h}})
	if err != nil {
		t.Fatal(err)
	}
	x := clean.Acts[h].Data
	rows := len(ids)
	d := m.Dims().DModel
	for _, arch := range []string{Standard, TopK, JumpReLU} {
		t.Run(arch, func(t *testing.T) {
			o := DefaultOptions(arch, d, 4*d)
			o.K, o.Hyper.LR, o.L0, o.InitThreshold = 8, 3e-3, 0.01, 0.01
			tr, err := NewTrainer(o)
			if err != nil {
				t.Fatal(err)
			}
			for range 30 {
				if _, err := tr.TrainStep(x, rows); err != nil {
					t.Fatal(err)
				}
			}
			s := tr.SAE(Metadata{ModelName: m.Name, HookName: h})
			_, want := s.Forward(x, rows)
			keep, _ := s.Splice(KeepError)
			recon, _ := s.Splice(Reconstruct)
			r, err := m.Run(engine.Request{IDs: [][]int32{ids}, Interventions: []engine.Intervention{{Hook: h, Key: "keep-" + arch, Fn: keep}}})
			if err != nil {
				t.Fatal(err)
			}
			if diff := maxDiff(r.Logits.Data, clean.Logits.Data); diff > 1e-4 {
				t.Errorf("splicing with the error kept changes the logits by %.3g", diff)
			}
			r, err = m.Run(engine.Request{IDs: [][]int32{ids}, Hooks: []string{h}, Interventions: []engine.Intervention{{Hook: h, Key: "recon-" + arch, Fn: recon}}})
			if err != nil {
				t.Fatal(err)
			}
			if diff := maxDiff(r.Acts[h].Data, want); diff > 1e-4 {
				t.Errorf("the spliced reconstruction differs from Forward's by %.3g", diff)
			}
			if diff := maxDiff(r.Logits.Data, clean.Logits.Data); diff < 1e-3 {
				t.Errorf("splicing the reconstruction left the logits unchanged (%.3g); the test would not see a splice", diff)
			}
			reconLogits := r.Logits.Data

			// Attached, the features are a hook point: unedited, the model
			// is unchanged to the bit; the features are the host's Encode;
			// zeroing the error term is the reconstruction splice.
			am, err := engine.Load("")
			if err != nil {
				t.Fatal(err)
			}
			if err := Attach(am, s); err != nil {
				t.Fatal(err)
			}
			feat := h + hook.SAEActs
			r, err = am.Run(engine.Request{IDs: [][]int32{ids}, Hooks: []string{feat}})
			if err != nil {
				t.Fatal(err)
			}
			if diff := maxDiff(r.Logits.Data, clean.Logits.Data); diff != 0 {
				t.Errorf("attached and unedited, the logits change by %.3g", diff)
			}
			if diff := maxDiff(r.Acts[feat].Data, s.Encode(x, rows)); diff > 1e-4 {
				t.Errorf("the attached features differ from Encode's by %.3g", diff)
			}
			zeroErr := engine.Intervention{Hook: h + hook.SAEError, Key: "zero", Fn: graph.ZerosLike}
			r, err = am.Run(engine.Request{IDs: [][]int32{ids}, Interventions: []engine.Intervention{zeroErr}})
			if err != nil {
				t.Fatal(err)
			}
			if diff := maxDiff(r.Logits.Data, reconLogits); diff > 1e-4 {
				t.Errorf("zeroing the attached error term differs from the reconstruction splice by %.3g", diff)
			}
		})
	}
}

func maxDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}
