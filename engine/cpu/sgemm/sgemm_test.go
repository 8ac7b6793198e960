package sgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/glia-dev/glia/engine/cpu/peak"
)

func naive(lhs, rhs []float32, batch, m, n, k int, transB bool) []float64 {
	out := make([]float64, batch*m*n)
	for b := range batch {
		for i := range m {
			for j := range n {
				var s float64
				for p := range k {
					r := rhs[b*k*n+p*n+j]
					if transB {
						r = rhs[b*k*n+j*k+p]
					}
					s += float64(lhs[b*m*k+i*k+p]) * float64(r)
				}
				out[b*m*n+i*n+j] = s
			}
		}
	}
	return out
}

func random(n int, r *rand.Rand) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func TestMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, 5, 6, 7, 16, 17, 33, 145, 300}
	kernels := []bool{false}
	if hasKernel {
		kernels = append(kernels, true)
	}
	defer func(v bool) { useAsm = v }(useAsm)
	for _, asm := range kernels {
		useAsm = asm
		for _, batch := range []int{1, 3} {
			for _, transB := range []bool{false, true} {
				for _, m := range sizes {
					for _, n := range sizes {
						for _, k := range []int{1, 7, 64, 257, 600} {
							if m*n*k*batch > 6e6 {
								continue
							}
							name := fmt.Sprintf("asm=%v/b%d/t=%v/%dx%dx%d", asm, batch, transB, m, n, k)
							lhs, rhs := random(batch*m*k, r), random(batch*k*n, r)
							out := random(batch*m*n, r) // garbage: must be overwritten
							MatMul(lhs, rhs, out, batch, m, n, k, transB)
							want := naive(lhs, rhs, batch, m, n, k, transB)
							var maxDiff float64
							for i, w := range want {
								maxDiff = max(maxDiff, math.Abs(float64(out[i])-w)/math.Sqrt(float64(k)))
							}
							if maxDiff > 1e-5 {
								t.Errorf("%s: max |diff|/sqrt(k) = %.3g", name, maxDiff)
							}
						}
					}
				}
			}
		}
	}
}

func TestMatMulEmpty(t *testing.T) {
	out := []float32{1, 2, 3, 4}
	MatMul(nil, nil, out, 1, 2, 2, 0, false)
	for _, v := range out {
		if v != 0 {
			t.Fatalf("k=0 must give zeros, got %v", out)
		}
	}
	MatMul(nil, nil, nil, 0, 3, 3, 3, false)
}

func TestMatMulBadSizes(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("short lhs did not panic")
		}
	}()
	MatMul(make([]float32, 5), make([]float32, 6), make([]float32, 4), 1, 2, 2, 3, false)
}

// BenchmarkMatMul reports GFLOP/s and the share of the peak, measured
// right before each product (the median ratio), for the GPT-2-small
// projection shapes (batch 8 x 128).
//
//	GOEXPERIMENT=simd go test ./engine/cpu/sgemm -run '^$' -bench MatMul
func BenchmarkMatMul(b *testing.B) {
	for _, s := range []struct {
		name           string
		batch, m, n, k int
		transB         bool
	}{
		{"mlp_in_1024x768x3072", 1, 1024, 3072, 768, false},
		{"mlp_out_1024x3072x768", 1, 1024, 768, 3072, false},
		{"qkv_1024x768x2304", 1, 1024, 2304, 768, false},
		{"attn_scores_96x128x128x64", 96, 128, 128, 64, false},
		{"mlp_in_transB", 1, 1024, 3072, 768, true},
	} {
		b.Run(s.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			lhs, rhs := random(s.batch*s.m*s.k, r), random(s.batch*s.k*s.n, r)
			out := make([]float32, s.batch*s.m*s.n)
			flop := 2 * float64(s.batch*s.m*s.n*s.k)
			b.ResetTimer()
			samples, _ := peak.Interleaved(b.N, 100*time.Millisecond, func() error {
				MatMul(lhs, rhs, out, s.batch, s.m, s.n, s.k, s.transB)
				return nil
			})
			var rates, ratios []float64
			for _, x := range samples {
				rates, ratios = append(rates, flop/x.Seconds), append(ratios, x.Ratio(flop))
			}
			b.ReportMetric(peak.Median(rates)/1e9, "GFLOP/s")
			b.ReportMetric(100*peak.Median(ratios), "%peak")
			b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "threads")
		})
	}
}

// TestPackA checks the packed A panels (SIMD transposes where the build
// has them) element by element against their definition, padding included,
// for widths around the 8-column SIMD chunks and row counts that leave a
// partial panel.
func TestPackA(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, kcb := range []int{1, 7, 8, 9, 15, 16, 17, 24, 40, 255, 256} {
		for _, mcb := range []int{6, 11, 18} {
			lda, ic, pc := kcb+5, 2, 3
			a := random((ic+mcb)*lda+pc, r)
			panels := roundUp(mcb, mr) / mr
			dst := random(panels*kcb*mr+4, r) // garbage, and a tail that must stay as it is
			tail := append([]float32(nil), dst[panels*kcb*mr:]...)
			packA(dst, a, lda, ic, mcb, pc, kcb)
			for ir := 0; ir < panels*mr; ir++ {
				for p := range kcb {
					want := float32(0)
					if ir < mcb {
						want = a[(ic+ir)*lda+pc+p]
					}
					if got := dst[ir/mr*kcb*mr+p*mr+ir%mr]; got != want {
						t.Fatalf("kcb %d mcb %d: row %d column %d packed as %g, want %g", kcb, mcb, ir, p, got, want)
					}
				}
			}
			for i, v := range tail {
				if dst[panels*kcb*mr+i] != v {
					t.Fatalf("kcb %d mcb %d: wrote past the panels", kcb, mcb)
				}
			}
		}
	}
}

// TestMatMulStrided checks every operand layout of MatMulStrided, with row
// strides wider than the rows and accumulation, against a float64 product
// read through the same strides. The cells between rows must stay as they
// were.
func TestMatMulStrided(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, sz := range [][3]int{{1, 1, 1}, {7, 5, 3}, {32, 64, 48}, {130, 70, 300}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, transA := range []bool{false, true} {
			for _, transB := range []bool{false, true} {
				for _, acc := range []bool{false, true} {
					p := Strided{M: m, N: n, K: k, TransA: transA, TransB: transB, Acc: acc}
					rowsA, colsA, rowsB, colsB := m, k, k, n
					if transA {
						rowsA, colsA = k, m
					}
					if transB {
						rowsB, colsB = n, k
					}
					p.Lda, p.Ldb, p.Ldc = colsA+3, colsB+5, n+7
					a, b := random(rowsA*p.Lda, r), random(rowsB*p.Ldb, r)
					c := random(m*p.Ldc, r)
					c0 := append([]float32(nil), c...)
					MatMulStrided(a, b, c, p)
					var worst float64
					for i := range m {
						for j := range p.Ldc {
							if j >= n {
								if c[i*p.Ldc+j] != c0[i*p.Ldc+j] {
									t.Fatalf("%+v: wrote outside the rows at [%d, %d]", p, i, j)
								}
								continue
							}
							var s float64
							if acc {
								s = float64(c0[i*p.Ldc+j])
							}
							for q := range k {
								ia, ib := i*p.Lda+q, q*p.Ldb+j
								if transA {
									ia = q*p.Lda + i
								}
								if transB {
									ib = j*p.Ldb + q
								}
								x, y := a[ia], b[ib]
								s += float64(x) * float64(y)
							}
							worst = max(worst, math.Abs(float64(c[i*p.Ldc+j])-s)/math.Sqrt(float64(k)+1))
						}
					}
					if worst > 1e-5 { // as TestMatMul
						t.Errorf("%+v: max difference %.3g (per √k) from the float64 product", p, worst)
					}
				}
			}
		}
	}
}

// TestMatMulTransA checks transposed left operands, one and several
// matrices, on one and several goroutines, against a float64 product.
func TestMatMulTransA(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, sz := range [][4]int{{1, 5, 7, 3}, {3, 17, 33, 64}, {1, 256, 1024, 1024}, {2, 145, 70, 300}} {
		batch, m, n, k := sz[0], sz[1], sz[2], sz[3]
		for _, transB := range []bool{false, true} {
			lhs, rhs := random(batch*k*m, r), random(batch*k*n, r)
			out := random(batch*m*n, r)
			MatMulTransA(lhs, rhs, out, batch, m, n, k, transB)
			// The same product with A transposed by hand.
			at := make([]float32, len(lhs))
			for b := range batch {
				for p := range k {
					for i := range m {
						at[b*m*k+i*k+p] = lhs[b*k*m+p*m+i]
					}
				}
			}
			want := naive(at, rhs, batch, m, n, k, transB)
			var worst float64
			for i, w := range want {
				worst = max(worst, math.Abs(float64(out[i])-w)/math.Sqrt(float64(k)))
			}
			if worst > 1e-5 {
				t.Errorf("%v transB=%v: max |diff|/sqrt(k) = %.3g", sz, transB, worst)
			}
		}
	}
}
