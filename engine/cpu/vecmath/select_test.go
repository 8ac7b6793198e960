package vecmath

import (
	"math/rand/v2"
	"testing"
)

func TestSelect(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	forEachPath(t, func(t *testing.T) {
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1029} {
			cond := make([]bool, n)
			a, b := make([]float32, n), make([]float32, n)
			for i := range cond {
				cond[i] = rng.IntN(3) == 0
				a[i], b[i] = float32(i), -float32(i)-0.5
			}
			for variant := range 4 {
				ta, tb := a, b
				if variant&1 != 0 {
					ta = []float32{7}
				}
				if variant&2 != 0 {
					tb = []float32{-3.4e38}
				}
				if n == 0 && variant != 0 {
					continue
				}
				dst := make([]float32, n+1)
				dst[n] = 42
				Select(dst[:n], cond, ta, tb)
				for i := range n {
					want := tb[min(i, len(tb)-1)]
					if cond[i] {
						want = ta[min(i, len(ta)-1)]
					}
					if dst[i] != want {
						t.Fatalf("n=%d variant %d: dst[%d] = %v, want %v", n, variant, i, dst[i], want)
					}
				}
				if dst[n] != 42 {
					t.Fatalf("n=%d: wrote past the end", n)
				}
			}
		}
	})
}

func TestSelectPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on mismatched lengths")
		}
	}()
	Select(make([]float32, 3), make([]bool, 3), make([]float32, 2), make([]float32, 3))
}

// GPT-2 small attention mask: 96 x 128 x 128 scores, causal.
func BenchmarkSelect(b *testing.B) {
	const t = 128
	scores := benchInput(96 * t * t)
	cond := make([]bool, len(scores))
	for i := range cond {
		cond[i] = i%t <= (i/t)%t
	}
	dst := make([]float32, len(scores))
	benchPaths(b, len(dst), func() { Select(dst, cond, scores, []float32{-3.4e38}) })
}

// BenchmarkSelectBranchy is the baseline: the stock executor's loop.
func BenchmarkSelectBranchy(b *testing.B) {
	const t = 128
	scores := benchInput(96 * t * t)
	cond := make([]bool, len(scores))
	for i := range cond {
		cond[i] = i%t <= (i/t)%t
	}
	dst := make([]float32, len(scores))
	onFalse := float32(-3.4e38)
	for b.Loop() {
		for i, c := range cond {
			if c {
				dst[i] = scores[i]
			} else {
				dst[i] = onFalse
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(dst)), "ns/elem")
}
