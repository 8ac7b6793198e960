package sae

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/format/safetensors"
)

// TestCheckpointResume: a trainer resumed from its checkpoint (jumprelu's
// θ, the Adam moments, the normalisation scale mid-estimate and after)
// takes the same steps as the one that kept going; a checkpoint written
// when jumprelu trained log θ resumes with θ = exp(log θ).
func TestCheckpointResume(t *testing.T) {
	p := newPlanted(8, 16, 2, 3)
	o := DefaultOptions(JumpReLU, 8, 32)
	o.Normalize, o.NormBatches, o.SparsityLoss, o.STEToInput, o.PreActCoef, o.DeadWindow = ExpectedAverage, 2, "tanh", true, 0.1, 2
	o.Hyper.LR = 1e-2
	a, err := NewTrainer(o)
	if err != nil {
		t.Fatal(err)
	}
	batches := make([][]float32, 8)
	for i := range batches {
		batches[i] = p.batch(16)
	}
	dir := t.TempDir()
	var resumed []*Trainer
	for i, x := range batches {
		if i == 1 || i == 4 { // mid-estimate, and after three steps
			path := filepath.Join(dir, "ck.safetensors")
			if err := a.SaveCheckpoint(path, map[string]string{"cursor": "here"}); err != nil {
				t.Fatal(err)
			}
			r, extra, err := ResumeTrainer(path)
			if err != nil || extra["cursor"] != "here" {
				t.Fatalf("resume: %v, extra %v", err, extra)
			}
			resumed = append(resumed, r)
		}
		for _, tr := range append([]*Trainer{a}, resumed...) {
			if _, err := tr.TrainStep(x, 16); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k, r := range resumed {
		if a.Scale == 0 || r.Scale != a.Scale || r.Step != a.Step {
			t.Fatalf("resumed %d: scale %g / %g, step %d / %d", k, r.Scale, a.Scale, r.Step, a.Step)
		}
		for i, pa := range a.params() {
			if !slices.Equal(pa, r.params()[i]) {
				t.Fatalf("resumed %d: %s differs", k, paramNames[i])
			}
		}
	}

	// The same checkpoint with log θ in place of θ, as written before.
	path := filepath.Join(dir, "ck.safetensors")
	if err := a.SaveCheckpoint(path, nil); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	for _, name := range f.Names() {
		data, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		shape, _ := f.Shape(name)
		switch {
		case name == "threshold":
			name = "log_threshold"
			for i, v := range data {
				data[i] = float32(math.Log(float64(v)))
			}
		case strings.HasSuffix(name, ".threshold"):
			continue
		}
		ts = append(ts, safetensors.Tensor{Name: name, Shape: shape, Data: data})
	}
	meta := f.Metadata()
	f.Close()
	old := filepath.Join(dir, "old.safetensors")
	if err := safetensors.Write(old, ts, meta); err != nil {
		t.Fatal(err)
	}
	b, _, err := ResumeTrainer(old)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range b.Theta {
		if math.Abs(float64(v-a.Theta[i])) > 1e-6*math.Abs(float64(a.Theta[i]))+1e-9 {
			t.Fatalf("θ[%d] = %g from log θ, want %g", i, v, a.Theta[i])
		}
	}
}
