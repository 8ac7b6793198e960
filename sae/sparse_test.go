package sae

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSparseStepEqualsDense: where the activations are sparse the step
// runs the decoder and the encoder's backward over their nonzeros; the
// loss and every gradient equal the dense sgemm step's within float
// rounding, for each architecture (AuxK's and the prefixes' products
// included: a third of the features are dead).
func TestSparseStepEqualsDense(t *testing.T) {
	const d, n, B = 32, 512, 64
	for _, arch := range []string{Standard, TopK, BatchTopK, Matryoshka, JumpReLU} {
		t.Run(arch, func(t *testing.T) {
			mk := func(dense bool) *Trainer {
				o := DefaultOptions(arch, d, n)
				o.K, o.L1, o.L0, o.DeadWindow, o.PreActCoef = 4, 0.3, 0.2, 5, 0.1
				o.Widths = []int{n / 4, n / 2}
				tr, err := NewTrainer(o)
				if err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(4, 4))
				for _, p := range tr.params() {
					for i := range p {
						p[i] = float32(rng.NormFloat64() * 0.5)
					}
				}
				for i := range n {
					tr.BEnc[i] = -6 // the ReLU's and JumpReLU's few active features
					if tr.Theta != nil {
						tr.Theta[i] = 0.5
					}
					if i%3 == 0 {
						tr.SinceFired[i] = 100
					}
				}
				tr.dense = dense
				return tr
			}
			x := make([]float32, B*d)
			rng := rand.New(rand.NewPCG(5, 5))
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			sp, de := mk(false), mk(true)
			stS, gS := sp.pass(x, B, true)
			stD, gD := de.pass(x, B, true)
			if nnz := len(sp.w.su.idx); nnz == 0 || float64(nnz) >= sparseBelow*B*n {
				t.Fatalf("%d active of %d: the sparse products were not used", nnz, B*n)
			}
			if math.Abs(stS.Loss-stD.Loss) > 1e-5*math.Abs(stD.Loss) {
				t.Errorf("loss %.8g sparse, %.8g dense", stS.Loss, stD.Loss)
			}
			for pi := range gD {
				for i := range gD[pi] {
					if diff := math.Abs(float64(gS[pi][i] - gD[pi][i])); diff > 1e-5+1e-4*math.Abs(float64(gD[pi][i])) {
						t.Fatalf("%s[%d]: gradient %.8g sparse, %.8g dense", paramNames[pi], i, gS[pi][i], gD[pi][i])
					}
				}
			}
		})
	}
}
