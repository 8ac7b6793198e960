package train

import (
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func BenchmarkZZAdam(b *testing.B) {
	if err := engine.UseCPUKernels(true); err != nil {
		b.Skip(err)
	}
	be, _ := engine.Backend()
	h := Hyper{LR: 1e-3, Warmup: 5, Steps: 1000, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Clip: 1, MinLRFrac: 0.1}
	dims := [][]int{}
	for l := 0; l < 4; l++ {
		dims = append(dims, []int{256, 768}, []int{256, 256}, []int{256, 1024}, []int{1024, 256})
	}
	dims = append(dims, []int{2048, 256})
	k := len(dims)
	e, _ := NewExec(be, func(in []*Node) []*Node {
		sched := in[0]
		w, g, m, v := in[1:1+k], in[1+k:1+2*k], in[1+2*k:1+3*k], in[1+3*k:]
		sq := make([]*Node, k)
		for i := range g {
			sq[i] = Square(g[i])
		}
		norm := globalNorm(sq)
		scale := clipScale(norm, 1)
		outs := []*Node{norm}
		lr, bc1, bc2 := scalarAt(sched, 0), scalarAt(sched, 1), scalarAt(sched, 2)
		var nws, nms, nvs []*Node
		for i := range w {
			nw, nm, nv := adamW(w[i], g[i], sq[i], scale, m[i], v[i], lr, bc1, bc2, h, 0.01)
			nws, nms, nvs = append(nws, nw), append(nms, nm), append(nvs, nv)
		}
		return append(append(append(outs, nws...), nms...), nvs...)
	})
	in := []shapes.Shape{shapes.Make(dtypes.Float32, 3)}
	for range 4 {
		for _, d := range dims {
			in = append(in, shapes.Make(dtypes.Float32, d...))
		}
	}
	if _, err := e.Compile(in...); err != nil {
		b.Fatal(err)
	}
	mk := func() []*tensors.Tensor {
		var ts []*tensors.Tensor
		for _, d := range dims {
			n := d[0] * d[1]
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(i%7) * 0.01
			}
			ts = append(ts, tensors.FromFlatDataAndDimensions(x, d...))
		}
		return ts
	}
	w, g, m, v := mk(), mk(), mk(), mk()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		args := []any{tensors.FromFlatDataAndDimensions([]float32{1e-3, 0.1, 0.001}, 3)}
		for _, s := range [][]*tensors.Tensor{w, g, m, v} {
			for _, x := range s {
				args = append(args, x)
			}
		}
		outs, err := e.Call(args...)
		if err != nil {
			b.Fatal(err)
		}
		copy(w, outs[1:1+k])
		copy(m, outs[1+k:1+2*k])
		copy(v, outs[1+2*k:])
	}
}
