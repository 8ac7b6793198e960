package sae

import (
	"fmt"
	"math"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format/safetensors"
	"github.com/glia-dev/glia/train"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// adam steps host parameters with package train's AdamW and gradient clip,
// run as one compiled GoMLX graph: the gradients are computed by hand in Go
// (sparse activations make that cheaper than autodiff on the CPU), the
// optimiser is the one glia's model training uses.
type adam struct {
	h     train.Hyper
	dims  [][]int
	exec  *graph.Exec
	m, v  []*tensors.Tensor
	steps int
}

func newAdam(h train.Hyper, dims [][]int) (*adam, error) {
	be, err := engine.Backend()
	if err != nil {
		return nil, fmt.Errorf("sae: backend: %w", err)
	}
	a := &adam{h: h, dims: dims}
	for _, d := range dims {
		a.m = append(a.m, tensors.FromShape(shapes.Make(dtypes.Float32, d...)))
		a.v = append(a.v, tensors.FromShape(shapes.Make(dtypes.Float32, d...)))
	}
	k := len(dims)
	a.exec, err = graph.NewExec(be, func(in []*graph.Node) []*graph.Node {
		sched := in[0]
		w, g, m, v := in[1:1+k], in[1+k:1+2*k], in[1+2*k:1+3*k], in[1+3*k:1+4*k]
		norm, g := train.ClipByGlobalNorm(g, h.Clip)
		at := func(i int) *graph.Node { return graph.Reshape(graph.Slice(sched, graph.AxisElem(i))) }
		out := []*graph.Node{norm}
		nw, nm, nv := make([]*graph.Node, k), make([]*graph.Node, k), make([]*graph.Node, k)
		for i := range w {
			nw[i], nm[i], nv[i] = train.AdamW(w[i], g[i], m[i], v[i], at(0), at(1), at(2), h, h.WeightDecay)
		}
		return append(append(append(out, nw...), nm...), nv...)
	})
	if err != nil {
		return nil, fmt.Errorf("sae: %w", err)
	}
	in := []shapes.Shape{shapes.Make(dtypes.Float32, 3)}
	for range 4 {
		for _, d := range dims {
			in = append(in, shapes.Make(dtypes.Float32, d...))
		}
	}
	if err := engine.Catch(func() error { _, err := a.exec.Compile(in...); return err }); err != nil {
		return nil, fmt.Errorf("sae: compiling the optimiser: %w", err)
	}
	return a, nil
}

// step updates params in place from grads (same order and sizes as dims)
// and returns the global gradient norm before clipping.
func (a *adam) step(params, grads [][]float32) (float64, error) {
	h := a.h
	n := float64(a.steps + 1)
	sched := []float32{float32(h.LRAt(a.steps)), float32(1 - math.Pow(h.Beta1, n)), float32(1 - math.Pow(h.Beta2, n))}
	var args []any
	var owned []*tensors.Tensor
	add := func(t *tensors.Tensor) { args = append(args, t); owned = append(owned, t) }
	add(tensors.FromFlatDataAndDimensions(sched, 3))
	for _, set := range [][][]float32{params, grads} {
		for i, p := range set {
			add(tensors.FromFlatDataAndDimensions(p, a.dims[i]...))
		}
	}
	for _, s := range [][]*tensors.Tensor{a.m, a.v} {
		for _, t := range s {
			args = append(args, t)
		}
	}
	outs, err := a.exec.Call(args...)
	for _, t := range owned {
		t.FinalizeAll()
	}
	if err != nil {
		return 0, fmt.Errorf("sae: optimiser step: %w", err)
	}
	var norm float64
	tensors.MustConstFlatData(outs[0], func(f []float32) { norm = float64(f[0]) })
	outs[0].FinalizeAll()
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		for _, o := range outs[1:] {
			o.FinalizeAll()
		}
		return norm, fmt.Errorf("sae: step %d: gradient norm %g is not finite (lower the learning rate)", a.steps+1, norm)
	}
	k := len(params)
	for i := range params {
		tensors.MustConstFlatData(outs[1+i], func(f []float32) { copy(params[i], f) })
		outs[1+i].FinalizeAll()
	}
	for i := range k {
		a.m[i].FinalizeAll()
		a.v[i].FinalizeAll()
		a.m[i], a.v[i] = outs[1+k+i], outs[1+2*k+i]
	}
	a.steps++
	return norm, nil
}

// state returns the moments as named host tensors for a checkpoint.
func (a *adam) state(names []string) []safetensors.Tensor {
	var out []safetensors.Tensor
	for j, s := range [][]*tensors.Tensor{a.m, a.v} {
		for i, t := range s {
			var data []float32
			tensors.MustConstFlatData(t, func(f []float32) { data = append([]float32(nil), f...) })
			out = append(out, safetensors.Tensor{Name: []string{"adam_m.", "adam_v."}[j] + names[i], Shape: a.dims[i], Data: data})
		}
	}
	return out
}

// restore sets the moments and the step count from a checkpoint.
func (a *adam) restore(m, v [][]float32, steps int) {
	for i := range a.dims {
		a.m[i].FinalizeAll()
		a.v[i].FinalizeAll()
		a.m[i] = tensors.FromFlatDataAndDimensions(m[i], a.dims[i]...)
		a.v[i] = tensors.FromFlatDataAndDimensions(v[i], a.dims[i]...)
	}
	a.steps = steps
}
