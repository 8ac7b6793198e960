package sae

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// gradTrainer is a small trainer with weights far from the initial ones, so
// every code path (active, inactive, dead, prefixes) has work.
func gradTrainer(t *testing.T, arch string, seed uint64) (*Trainer, []float32, int) {
	t.Helper()
	const d, n, B = 6, 12, 7
	o := DefaultOptions(arch, d, n)
	o.K, o.L1, o.L0, o.CoefWarmup, o.Seed = 3, 0.3, 0.2, 0, seed
	o.Widths = []int{4, 8}
	o.DeadWindow = 5
	o.Bandwidth = 0.5 // wide, so the θ window holds entries
	tr, err := NewTrainer(o)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, p := range tr.params() {
		for i := range p {
			p[i] = float32(rng.NormFloat64() * 0.5)
		}
	}
	if tr.LogTheta != nil {
		for i := range tr.LogTheta {
			tr.LogTheta[i] = float32(math.Log(0.3 + 0.2*rng.Float64()))
		}
	}
	for i := range tr.SinceFired {
		if i%3 == 0 {
			tr.SinceFired[i] = 100 // dead: AuxK has work
		}
	}
	x := make([]float32, B*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return tr, x, B
}

// TestGradientsFiniteDifference checks every hand-written gradient against
// central differences of the loss. Selections are constant under the
// small steps, so each loss piece is smooth in the parameter moved.
func TestGradientsFiniteDifference(t *testing.T) {
	for _, arch := range []string{Standard, TopK, BatchTopK, Matryoshka, JumpReLU} {
		t.Run(arch, func(t *testing.T) {
			tr, x, B := gradTrainer(t, arch, 3)
			since := slices.Clone(tr.SinceFired)
			st, g := tr.pass(x, B, true)
			copy(tr.SinceFired, since)
			tr.frozenResidual = slices.Clone(tr.w.r)
			if st.Aux == 0 {
				t.Fatalf("%s: the auxiliary term is zero; the test would not check it", arch)
			}
			params := tr.params()
			checked := 0
			for pi, p := range params {
				if paramNames[pi] == "log_threshold" {
					continue // the STE is not a derivative of the loss; see TestJumpReLUThresholdGradient
				}
				for i := 0; i < len(p); i += 1 + len(p)/17 {
					const eps = 1e-3
					old := p[i]
					p[i] = old + eps
					lp, _ := tr.pass(x, B, false)
					p[i] = old - eps
					lm, _ := tr.pass(x, B, false)
					p[i] = old
					fd := (lp.Loss - lm.Loss) / (2 * eps)
					if diff := math.Abs(fd - float64(g[pi][i])); diff > 3e-3+2e-2*math.Abs(fd) {
						t.Errorf("%s %s[%d]: gradient %.6g, finite difference %.6g", arch, paramNames[pi], i, g[pi][i], fd)
					}
					checked++
				}
			}
			if checked < 40 {
				t.Fatalf("checked only %d entries", checked)
			}
		})
	}
}

// TestJumpReLUThresholdGradient checks log θ's straight-through gradient
// against SAELens's formula evaluated naively in float64:
// ∂L/∂θᵢ = Σ_b −(θᵢ/ε)·rect((preᵢ−θᵢ)/ε)·∂L/∂fᵢ − (c/B)(1/ε)·rect(…), times θᵢ for log θ.
func TestJumpReLUThresholdGradient(t *testing.T) {
	tr, x, B := gradTrainer(t, JumpReLU, 5)
	_, g := tr.pass(x, B, true)
	o := tr.Opt
	d, n := o.DIn, o.DSAE
	inWindow := 0
	for i := range n {
		theta := math.Exp(float64(tr.LogTheta[i]))
		var want float64
		for b := range B {
			pre := float64(tr.BEnc[i])
			for j := range d {
				pre += (float64(x[b*d+j]) - float64(tr.BDec[j])) * float64(tr.WEnc[j*n+i])
			}
			z := (pre - theta) / o.Bandwidth
			if !(z > -0.5 && z < 0.5) {
				continue
			}
			inWindow++
			// ∂L/∂f_bi = Σ_j 2(x̂−x)_bj/B · W_dec[i, j], x̂ recomputed here.
			var gf float64
			for j := range d {
				xh := float64(tr.BDec[j])
				for k := range n {
					p := float64(tr.BEnc[k])
					for jj := range d {
						p += (float64(x[b*d+jj]) - float64(tr.BDec[jj])) * float64(tr.WEnc[jj*n+k])
					}
					if p > math.Exp(float64(tr.LogTheta[k])) {
						xh += p * float64(tr.WDec[k*d+j])
					}
				}
				gf += 2 * (xh - float64(x[b*d+j])) / float64(B) * float64(tr.WDec[i*d+j])
			}
			want += -(theta/o.Bandwidth)*gf - o.L0/float64(B)/o.Bandwidth
		}
		want *= theta
		if math.Abs(want-float64(g[4][i])) > 1e-4+1e-3*math.Abs(want) {
			t.Errorf("log_threshold[%d]: gradient %.6g, want %.6g", i, g[4][i], want)
		}
	}
	if inWindow == 0 {
		t.Fatal("no pre-activation fell in the bandwidth window; the test checks nothing")
	}
}
