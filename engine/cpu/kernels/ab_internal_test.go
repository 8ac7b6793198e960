//go:build !nokernels

package kernels

import (
	"testing"
	"time"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	_ "github.com/gomlx/gomlx/backends/default"
)

// abExec times the stock executor against glia's on the same node and
// inputs, interleaved round by round, and reports the best of each in
// ns per output element.
func abExec(b *testing.B, op compute.OpType, data any, outShape shapes.Shape, stock, ours executor, inShapes ...shapes.Shape) {
	be, err := compute.NewWithConfig("go")
	if err != nil {
		b.Fatal(err)
	}
	if r := Install(be); len(r.Installed) == 0 {
		b.Skip(r.String())
	}
	bp := (*eface)(unsafe.Pointer(&be)).data
	ins := make([]*buffer, len(inShapes))
	for i, s := range inShapes {
		ins[i], err = getBuffer(bp, s)
		if err != nil {
			b.Fatal(err)
		}
		if f, ok := ins[i].Flat.([]float32); ok {
			for j := range f {
				f[j] = float32(j%97) * 0.25
			}
		}
		if f, ok := ins[i].Flat.([]bool); ok {
			for j := range f {
				f[j] = j%128 <= (j/128)%128 // a causal mask's pattern
			}
		}
	}
	n := &node{OpType: op, Shape: outShape, Data: data}
	run := func(fn executor) time.Duration {
		best := time.Duration(1 << 62)
		for range 5 {
			inputs := append([]*buffer(nil), ins...)
			t0 := time.Now()
			if _, err := fn(bp, n, inputs, make([]bool, len(ins))); err != nil {
				b.Fatal(err)
			}
			best = min(best, time.Since(t0))
		}
		return best
	}
	bestStock, bestOurs := time.Duration(1<<62), time.Duration(1<<62)
	for b.Loop() {
		bestStock = min(bestStock, run(stock))
		bestOurs = min(bestOurs, run(ours))
	}
	elems := float64(outShape.Size())
	b.ReportMetric(float64(bestStock.Nanoseconds())/elems, "stock-ns/elem")
	b.ReportMetric(float64(bestOurs.Nanoseconds())/elems, "glia-ns/elem")
}

// The keys' transpose in a GPT-2-small forward over 8 x 128 tokens.
func BenchmarkABTransposeKeys(b *testing.B) {
	abExec(b, compute.OpTypeTranspose, []int{0, 2, 3, 1}, shapes.Make(dtypes.Float32, 8, 12, 64, 128),
		stockTranspose, transpose, shapes.Make(dtypes.Float32, 8, 128, 12, 64))
}

// The attention mask in a GPT-2-small forward over 8 x 128 tokens:
// Where(mask, scores, -big).
func BenchmarkABWhereMask(b *testing.B) {
	s := shapes.Make(dtypes.Float32, 8, 12, 128, 128)
	abExec(b, compute.OpTypeWhere, nil, s, stockWhere, where,
		shapes.Make(dtypes.Bool, 8, 12, 128, 128), s, shapes.Make(dtypes.Float32))
}

// SiLU's sigmoid on a Llama-3.2-1B MLP activation over 512 tokens.
func BenchmarkABSigmoid(b *testing.B) {
	s := shapes.Make(dtypes.Float32, 512, 8192)
	abExec(b, compute.OpTypeLogistic, nil, s, stockLogistic, sigmoid, s)
}

// SiLU's product x*sigmoid(x), same shape.
func BenchmarkABMul(b *testing.B) {
	s := shapes.Make(dtypes.Float32, 512, 8192)
	abExec(b, compute.OpTypeMul, nil, s, stockMul, mul, s, s)
}

// RMSNorm's scale: hidden states times a weight row.
func BenchmarkABMulRow(b *testing.B) {
	s := shapes.Make(dtypes.Float32, 512, 2048)
	abExec(b, compute.OpTypeMul, nil, s, stockMul, mul, s, shapes.Make(dtypes.Float32, 1, 2048))
}
