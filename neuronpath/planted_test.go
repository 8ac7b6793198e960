package neuronpath

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format/safetensors"
)

// The planted circuit in a copy of the two-layer GPT-2 fixture (d_model 64,
// d_mlp 256): neuron 17 of layer 0 is always on and writes a direction v;
// neuron 42 of layer 1 reads v and writes the target token's unembedding.
// Decoys 200 (layer 0) and 99 (layer 1) fire twice as strongly but write
// nothing, so the largest activations lead nowhere.
const (
	plantedA, plantedB = 17, 42
	decoyA, decoyB     = 200, 99
	plantedToken       = 300
)

// planted writes the planted model into a temporary directory.
func planted(t *testing.T) *engine.Model {
	t.Helper()
	src := "../testdata/hf-tiny/gpt2"
	f, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := map[string][]float32{}
	var tensors []safetensors.Tensor
	for _, name := range f.Names() {
		data, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		shape, _ := f.Shape(name)
		w[name] = data
		tensors = append(tensors, safetensors.Tensor{Name: name, Shape: shape, Data: data})
	}
	const d, dm = 64, 256
	const vAxis = 5 // v is the basis vector e₅
	fc0, fb0, pr0 := w["transformer.h.0.mlp.c_fc.weight"], w["transformer.h.0.mlp.c_fc.bias"], w["transformer.h.0.mlp.c_proj.weight"]
	fc1, fb1, pr1 := w["transformer.h.1.mlp.c_fc.weight"], w["transformer.h.1.mlp.c_fc.bias"], w["transformer.h.1.mlp.c_proj.weight"]
	// Layer 0: the source, on at every position (bias only), and its decoy.
	for i := range d {
		fc0[i*dm+plantedA], fc0[i*dm+decoyA] = 0, 0
		pr0[plantedA*d+i], pr0[decoyA*d+i] = 0, 0
		fc1[i*dm+plantedB], fc1[i*dm+decoyB] = 0, 0
		pr1[plantedB*d+i], pr1[decoyB*d+i] = 0, 0
	}
	fb0[plantedA], fb0[decoyA] = 3, 6
	pr0[plantedA*d+vAxis] = 20
	// Layer 1: reads v (which dominates the normalised residual when the
	// source is on) and writes the target's unembedding.
	fc1[vAxis*dm+plantedB], fb1[plantedB], fb1[decoyB] = 0.5, -1, 6
	wte := w["transformer.wte.weight"]
	row := wte[plantedToken*d : (plantedToken+1)*d]
	var norm float64
	for i := range row {
		if i == vAxis {
			row[i] = 0 // keep the target's direction off v
		}
		norm += float64(row[i]) * float64(row[i])
	}
	for i := range row {
		row[i] *= float32(2 / math.Sqrt(norm))
		pr1[plantedB*d+i] = 15 * row[i]
	}
	dir := t.TempDir()
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := engine.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPlanted: on a model with one planted two-neuron circuit, the search
// finds it under either form, the single-neuron IG baseline too, and
// deactivating it removes the target; the activation baseline takes the
// decoys, whose deactivation changes nothing.
func TestPlanted(t *testing.T) {
	m := planted(t)
	ids := []int32{5, 6, 7, 8, 9}
	for _, o := range []Options{{Form: Code}, {Form: Paper}, {Form: Code, Exact: -1, Steps: 5}} {
		o.Pos = -1
		form := fmt.Sprintf("%s exact %d", o.Form, o.Exact)
		r, err := Find(m, ids, plantedToken, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range r.Paths {
			t.Logf("%s search: %-10s %v code %.4g paper %.4g deactivated %.4g kept %.4g (clean %.4g)", form, p.Method, p.Neurons, p.Code, p.Paper, p.Deactivated, p.Kept, r.Prob)
		}
		if r.Prob < 0.5 {
			t.Fatalf("the planted target has probability %.3g; the circuit is not in charge", r.Prob)
		}
		want := map[string][]int{"joint": {plantedA, plantedB}, "ig": {plantedA, plantedB}, "activation": {decoyA, decoyB}}
		for _, p := range r.Paths {
			if p.Method == "ig" && o.Steps != 0 {
				continue // 5 steps are too coarse for the single-neuron IG baseline (it takes neuron 71)
			}
			if w := want[p.Method]; p.Neurons[0] != w[0] || p.Neurons[1] != w[1] {
				t.Errorf("%s search: %s path %v, want %v", form, p.Method, p.Neurons, w)
			}
		}
		if j := r.Paths[0]; j.Deactivated > 0.1*r.Prob || j.Kept < 0.5*r.Prob {
			t.Errorf("%s search: the planted path deactivated leaves %.3g, kept alone %.3g, of %.3g", form, j.Deactivated, j.Kept, r.Prob)
		}
		if a := r.Paths[1]; math.Abs(a.Deactivated-r.Prob) > 1e-3 {
			t.Errorf("the decoys deactivated move the probability from %.4g to %.4g", r.Prob, a.Deactivated)
		}
	}
}
