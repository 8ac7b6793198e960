package vecmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

func benchInput(n int) []float32 {
	rng := rand.New(rand.NewPCG(9, 10))
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64() * 3)
	}
	return xs
}

// benchPaths runs f as sub-benchmarks "simd" (when available) and "scalar",
// reporting ns per element.
func benchPaths(b *testing.B, elems int, f func()) {
	paths := []bool{false}
	if simdSupported {
		paths = []bool{true, false}
	}
	for _, simd := range paths {
		name := "scalar"
		if simd {
			name = "simd"
		}
		b.Run(name, func(b *testing.B) {
			defer func(saved bool) { useSIMD = saved }(useSIMD)
			useSIMD = simd
			b.SetBytes(int64(elems) * 4)
			for b.Loop() {
				f()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(elems), "ns/elem")
		})
	}
}

// GPT-2 small MLP activations: 1024 tokens x 3072 hidden.
const geluBenchN = 1024 * 3072

func BenchmarkGeluTanh(b *testing.B) {
	src := benchInput(geluBenchN)
	dst := make([]float32, len(src))
	benchPaths(b, len(src), func() { GeluTanh(dst, src) })
}

// BenchmarkGeluTanhMathTanh is the baseline: the float64 math.Tanh formula
// per element, as GoMLX's Go backend evaluates it.
func BenchmarkGeluTanhMathTanh(b *testing.B) {
	src := benchInput(geluBenchN)
	dst := make([]float32, len(src))
	k := math.Sqrt(2 / math.Pi)
	for b.Loop() {
		for i, x32 := range src {
			x := float64(x32)
			dst[i] = float32(0.5 * x * (1 + math.Tanh(k*(x+0.044715*x*x*x))))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(src)), "ns/elem")
}

// GPT-2 small attention scores: 96 (batch*heads) x 128 queries, rows of 128
// keys.
func BenchmarkSoftmaxRows(b *testing.B) {
	const rowLen = 128
	src := benchInput(96 * 128 * rowLen)
	dst := make([]float32, len(src))
	benchPaths(b, len(src), func() { SoftmaxRows(dst, src, rowLen) })
}

func BenchmarkExp(b *testing.B) {
	src := benchInput(geluBenchN)
	dst := make([]float32, len(src))
	benchPaths(b, len(src), func() { Exp(dst, src) })
}

func BenchmarkGeluTanhGrad(b *testing.B) {
	x, y, v, g := make([]float32, 1<<16), make([]float32, 1<<16), make([]float32, 1<<16), make([]float32, 1<<16)
	for i := range x {
		x[i], v[i] = float32(i%1000)/100-5, 1
	}
	GeluTanh(y, x)
	b.SetBytes(int64(len(x)) * 4)
	for b.Loop() {
		GeluTanhGrad(g, x, y, v)
	}
}
