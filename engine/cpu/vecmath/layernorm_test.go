package vecmath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func refLayerNorm(x, gamma, beta []float32, eps float64) []float64 {
	n := float64(len(x))
	var mean, v float64
	for _, e := range x {
		mean += float64(e)
	}
	mean /= n
	for _, e := range x {
		v += (float64(e) - mean) * (float64(e) - mean)
	}
	inv := 1 / math.Sqrt(v/n+eps)
	out := make([]float64, len(x))
	for i, e := range x {
		z := (float64(e) - mean) * inv
		if gamma != nil {
			z *= float64(gamma[i])
		}
		if beta != nil {
			z += float64(beta[i])
		}
		out[i] = z
	}
	return out
}

func TestLayerNormRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	forEachPath(t, func(t *testing.T) {
		worst := 0.0
		for _, n := range []int{1, 2, 7, 8, 9, 31, 32, 33, 40, 64, 100, 768, 1029, 4096} {
			for _, offset := range []float64{0, 5, 300} {
				for variant := range 4 {
					x := make([]float32, n)
					for i := range x {
						x[i] = float32(offset + 3*rng.NormFloat64())
					}
					var gamma, beta []float32
					if variant&1 != 0 {
						gamma = make([]float32, n)
						for i := range gamma {
							gamma[i] = float32(1 + 0.5*rng.NormFloat64())
						}
					}
					if variant&2 != 0 {
						beta = make([]float32, n)
						for i := range beta {
							beta[i] = float32(rng.NormFloat64())
						}
					}
					want := refLayerNorm(x, gamma, beta, 1e-5)
					y := make([]float32, n+1)
					y[n] = 42
					LayerNormRow(y[:n], x, gamma, beta, 1e-5)
					if y[n] != 42 {
						t.Fatalf("n=%d: wrote past the end", n)
					}
					for i, w := range want {
						d := math.Abs(float64(y[i])-w) / max(1, math.Abs(w))
						worst = max(worst, d)
						if d > 2e-6 || math.IsNaN(float64(y[i])) {
							t.Fatalf("n=%d offset=%v variant=%d: y[%d] = %v, want %v (rel %.3g)", n, offset, variant, i, y[i], w, d)
						}
					}
					// In place.
					LayerNormRow(x, x, gamma, beta, 1e-5)
					for i := range n {
						if x[i] != y[i] {
							t.Fatalf("n=%d in place: %v, want %v", n, x[i], y[i])
						}
					}
				}
			}
		}
		t.Logf("worst relative error vs float64: %.3g", worst)
	})
}

func TestLayerNormRowEdge(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		LayerNormRow(nil, nil, nil, nil, 1e-5) // empty: no-op
		// A constant row normalizes to zero (plus beta).
		x := []float32{3, 3, 3, 3, 3, 3, 3, 3, 3, 3}
		beta := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
		y := make([]float32, len(x))
		LayerNormRow(y, x, nil, beta, 1e-5)
		for i := range y {
			if y[i] != beta[i] {
				t.Fatalf("constant row: y[%d] = %v, want %v", i, y[i], beta[i])
			}
		}
	})
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on mismatched lengths")
		}
	}()
	LayerNormRow(make([]float32, 3), make([]float32, 3), make([]float32, 2), nil, 1e-5)
}

func BenchmarkLayerNormRow(b *testing.B) {
	const row = 768
	for _, rows := range []int{8, 1024} {
		x := benchInput(rows * row)
		gamma, beta := benchInput(row), benchInput(row)
		y := make([]float32, len(x))
		b.Run(fmt.Sprint(rows, "rows"), func(b *testing.B) {
			benchPaths(b, len(x), func() {
				for r := 0; r < len(x); r += row {
					LayerNormRow(y[r:r+row], x[r:r+row], gamma, beta, 1e-5)
				}
			})
		})
	}
}

// BenchmarkLayerNormRowFloat32Loops is the baseline: the stock kernel's
// three sequential float32 loops, which kernels used before.
func BenchmarkLayerNormRowFloat32Loops(b *testing.B) {
	const row = 768
	x := benchInput(8 * row)
	gamma, beta := benchInput(row), benchInput(row)
	y := make([]float32, len(x))
	for b.Loop() {
		for r := 0; r < len(x); r += row {
			normRowFloat32(y[r:r+row], x[r:r+row], gamma, beta, 1e-5)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(x)), "ns/elem")
}

func normRowFloat32(y, x, gamma, beta []float32, eps float64) {
	n := float32(len(x))
	var sum float32
	for _, v := range x {
		sum += v
	}
	mean := sum / n
	var ss float32
	for _, v := range x {
		d := v - mean
		ss += d * d
	}
	inv := float32(1 / math.Sqrt(float64(ss/n)+eps))
	y = y[:len(x)]
	for i, v := range x {
		z := (v - mean) * inv
		if gamma != nil {
			z *= gamma[i]
		}
		if beta != nil {
			z += beta[i]
		}
		y[i] = z
	}
}

// TestLayerNormGradRow checks the layer norm's input, gain and bias
// gradients against central differences of L = Σ LayerNorm(x)·dy in float64.
func TestLayerNormGradRow(t *testing.T) {
	ln := func(x, gamma, beta []float64, eps float64) []float64 {
		var mean, ss float64
		for _, v := range x {
			mean += v
		}
		mean /= float64(len(x))
		for _, v := range x {
			ss += (v - mean) * (v - mean)
		}
		r := 1 / math.Sqrt(ss/float64(len(x))+eps)
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = (v-mean)*r*gamma[i] + beta[i]
		}
		return y
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 5, 8, 13, 256} {
		for _, offset := range []float64{0, 30} {
			for _, withGamma := range []bool{true, false} {
				x32, g32, dy32 := make([]float32, n), make([]float32, n), make([]float32, n)
				x, gamma, beta, dy := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
				for i := range n {
					x32[i] = float32(offset + r.NormFloat64())
					g32[i] = float32(1 + 0.3*r.NormFloat64())
					dy32[i] = float32(r.NormFloat64())
					x[i], gamma[i], beta[i], dy[i] = float64(x32[i]), float64(g32[i]), 0.1, float64(dy32[i])
					if !withGamma {
						gamma[i], g32[i] = 1, 1
					}
				}
				gArg := g32
				if !withGamma {
					gArg = nil
				}
				const eps = 1e-5
				loss := func() float64 {
					var l float64
					for i, y := range ln(x, gamma, beta, eps) {
						l += y * dy[i]
					}
					return l
				}
				fd := func(v []float64, i int) float64 {
					h := 1e-6 * max(1, math.Abs(v[i]))
					v0 := v[i]
					v[i] = v0 + h
					up := loss()
					v[i] = v0 - h
					down := loss()
					v[i] = v0
					return (up - down) / (2 * h)
				}
				forEachPath(t, func(t *testing.T) {
					dx := make([]float32, n)
					LayerNormGradRow(dx, x32, gArg, dy32, eps)
					dg, db := make([]float32, n), make([]float32, n)
					LayerNormParamGradRow(dg, db, x32, dy32, eps)
					for i := range n {
						for _, c := range []struct {
							name string
							got  float32
							want float64
						}{{"dx", dx[i], fd(x, i)}, {"dgamma", dg[i], fd(gamma, i)}, {"dbeta", db[i], fd(beta, i)}} {
							if d := math.Abs(float64(c.got) - c.want); d > 2e-5*max(1, math.Abs(c.want)) {
								t.Errorf("n=%d offset=%g gamma=%v: %s[%d] = %g, want %g", n, offset, withGamma, c.name, i, c.got, c.want)
							}
						}
					}
				})
			}
		}
	}
}
