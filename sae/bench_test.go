package sae

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkTopKTrain is the training throughput of a TopK SAE in activation
// vectors per second, with the step held to dense sgemm products and with
// the sparse ones (k of d_sae features per row); scripts/sae_bench.py
// times SAELens on the same shape. go test ./sae -run X -bench TopKTrain
func BenchmarkTopKTrain(b *testing.B) {
	const d, n, k, batch = 256, 2048, 32, 2048
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, batch*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for _, mode := range []string{"dense", "sparse"} {
		b.Run(mode, func(b *testing.B) {
			o := DefaultOptions(TopK, d, n)
			o.K = k
			tr, err := NewTrainer(o)
			if err != nil {
				b.Fatal(err)
			}
			tr.dense = mode == "dense"
			tr.TrainStep(x, batch) // compile the optimiser
			b.ResetTimer()
			for range b.N {
				if _, err := tr.TrainStep(x, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "vectors/s")
		})
	}
}
