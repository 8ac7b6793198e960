package vecmath

import (
	"math/rand/v2"
	"testing"
)

func TestAdd(t *testing.T) {
	checkBinary(t, Add, func(a, b float32) float32 { return a + b }, 11)
}

// checkBinary checks an element-wise kernel on both paths against want,
// out of place (not writing past dst) and in place (dst aliasing a).
func checkBinary(t *testing.T, f func(dst, a, b []float32), want func(a, b float32) float32, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	forEachPath(t, func(t *testing.T) {
		for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 63, 100, 768, 1029} {
			a, b := make([]float32, n), make([]float32, n)
			for i := range a {
				a[i] = float32(rng.NormFloat64() * 10)
				b[i] = float32(rng.NormFloat64())
			}
			dst := make([]float32, n+1)
			dst[n] = 42
			f(dst[:n], a, b)
			c := append([]float32(nil), a...)
			f(c, c, b)
			for i := range n {
				if w := want(a[i], b[i]); dst[i] != w || c[i] != w {
					t.Fatalf("n=%d: [%d] = %v (in place %v), want %v", n, i, dst[i], c[i], w)
				}
			}
			if dst[n] != 42 {
				t.Fatalf("n=%d: wrote past the end", n)
			}
		}
	})
}

func TestAddPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on mismatched lengths")
		}
	}()
	Add(make([]float32, 3), make([]float32, 3), make([]float32, 2))
}

// GPT-2 small residual stream: 1024 tokens x 768.
const addBenchN = 1024 * 768

func BenchmarkAdd(b *testing.B) {
	a := benchInput(addBenchN)
	c := benchInput(addBenchN)
	dst := make([]float32, len(a))
	benchPaths(b, len(a), func() { Add(dst, a, c) })
}

// BenchmarkAddGoLoop is the baseline: the plain loop kernels used before.
func BenchmarkAddGoLoop(b *testing.B) {
	a := benchInput(addBenchN)
	c := benchInput(addBenchN)
	dst := make([]float32, len(a))
	for b.Loop() {
		for i := range dst {
			dst[i] = a[i] + c[i]
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(a)), "ns/elem")
}
