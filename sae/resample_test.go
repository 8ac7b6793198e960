package sae

import (
	"math"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

// TestResampleDeadFeatures: at the resampling step every dead feature takes
// the input with by far the largest reconstruction loss (probability ∝
// loss²): its decoder row that input at unit norm, its encoder column the
// same direction at 0.2 × the live columns' mean norm, b_enc 0 and zero Adam
// moments; live features and their moments are untouched.
func TestResampleDeadFeatures(t *testing.T) {
	const d, n, B = 8, 16, 32
	for _, arch := range []string{Standard, JumpReLU} {
		t.Run(arch, func(t *testing.T) {
			o := DefaultOptions(arch, d, n)
			o.ResampleEvery, o.DeadWindow = 2, 5
			tr, err := NewTrainer(o)
			if err != nil {
				t.Fatal(err)
			}
			p := newPlanted(d, 12, 2, 6)
			if _, err := tr.TrainStep(p.batch(B), B); err != nil {
				t.Fatal(err)
			}
			dead := []int{1, 4, 9}
			for _, i := range dead {
				tr.SinceFired[i], tr.BEnc[i] = 100, -1e3 // and they stay dead this step
			}
			x := p.batch(B)
			for j := range d { // row 7: far from anything the SAE reconstructs
				x[7*d+j] = float32(40 * (j%3 - 1))
			}
			isDead := func(i int) bool { return slices.Contains(dead, i) }
			// The step updates the live weights first; resampling reads
			// them after, so the expected norm is taken after the update.
			st, err := tr.TrainStep(x, B)
			if err != nil {
				t.Fatal(err)
			}
			if st.Resampled != len(dead) {
				t.Fatalf("resampled %d, want %d", st.Resampled, len(dead))
			}
			var encNorm float64
			for i := range n {
				if isDead(i) {
					continue
				}
				var s float64
				for j := range d {
					s += float64(tr.WEnc[j*n+i]) * float64(tr.WEnc[j*n+i])
				}
				encNorm += math.Sqrt(s) / float64(n-len(dead))
			}
			xn := 0.0
			for j := range d {
				xn += float64(x[7*d+j]) * float64(x[7*d+j])
			}
			xn = math.Sqrt(xn)
			for _, i := range dead {
				for j := range d {
					dir := float64(x[7*d+j]) / xn
					if math.Abs(float64(tr.WDec[i*d+j])-dir) > 1e-6 || math.Abs(float64(tr.WEnc[j*n+i])-0.2*encNorm*dir) > 1e-6 {
						t.Fatalf("feature %d: W_dec %v, W_enc column not 0.2·%.4g × the loudest input's direction", i, tr.WDec[i*d:(i+1)*d], encNorm)
					}
				}
				if tr.BEnc[i] != 0 || tr.SinceFired[i] != 0 || (tr.Theta != nil && tr.Theta[i] != float32(o.InitThreshold)) {
					t.Fatalf("feature %d: b_enc %g, since fired %d", i, tr.BEnc[i], tr.SinceFired[i])
				}
			}
			for p, m := range tr.opt.m {
				tensors.MustConstFlatData(m, func(f []float32) {
					for k, v := range f {
						i := k % n // W_enc [d, n], b_enc, θ [n]
						if p == 1 {
							i = k / d // W_dec [n, d]
						}
						if p == 3 {
							continue // b_dec
						}
						if isDead(i) != (v == 0) {
							t.Fatalf("%s's first moment [%d] = %g (feature %d dead %v)", paramNames[p], k, v, i, isDead(i))
						}
					}
				})
			}
		})
	}
}
