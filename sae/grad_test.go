package sae

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/glia-dev/glia/format/safetensors"
)

// gradTrainer is a small trainer with weights far from the initial ones, so
// every code path (active, inactive, dead, prefixes) has work.
func gradTrainer(t *testing.T, arch string, seed uint64, set func(*Options)) (*Trainer, []float32, int) {
	t.Helper()
	const d, n, B = 6, 12, 7
	o := DefaultOptions(arch, d, n)
	o.K, o.L1, o.L0, o.CoefWarmup, o.Seed = 3, 0.3, 0.2, 0, seed
	o.Widths = []int{4, 8}
	o.DeadWindow = 5
	o.Bandwidth = 0.5 // wide, so the θ window holds entries
	if set != nil {
		set(&o)
	}
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
	if tr.Theta != nil {
		for i := range tr.Theta {
			tr.Theta[i] = 0.3 + 0.2*rng.Float32()
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
	cases := []struct {
		name, arch string
		set        func(*Options)
	}{
		{Standard, Standard, nil},
		{TopK, TopK, nil},
		{BatchTopK, BatchTopK, nil},
		{Matryoshka, Matryoshka, nil},
		{"jumprelu step", JumpReLU, nil},
		{"jumprelu step + pre-act", JumpReLU, func(o *Options) { o.PreActCoef = 0.7 }},
		{"jumprelu tanh + pre-act", JumpReLU, func(o *Options) { o.SparsityLoss, o.PreActCoef = "tanh", 0.7 }},
		{"jumprelu quadratic + pre-act", JumpReLU, func(o *Options) { o.SparsityLoss, o.TargetL0, o.PreActCoef = "quadratic", 4, 0.7 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, x, B := gradTrainer(t, c.arch, 3, c.set)
			since := slices.Clone(tr.SinceFired)
			st, g := tr.pass(x, B, true)
			copy(tr.SinceFired, since)
			tr.frozenResidual = slices.Clone(tr.w.r)
			if st.Aux == 0 {
				t.Fatalf("%s: the auxiliary term is zero; the test would not check it", c.name)
			}
			params := tr.params()
			checked := 0
			for pi, p := range params {
				if paramNames[pi] == "threshold" {
					continue // the STE is not a derivative of the loss; see TestJumpReLUAgainstSAELens
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
						t.Errorf("%s %s[%d]: gradient %.6g, finite difference %.6g", c.name, paramNames[pi], i, g[pi][i], fd)
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

// TestJumpReLUAgainstSAELens compares the whole JumpReLU step — loss and
// every gradient, θ's straight-through estimate included — with SAELens
// 6.54.12's autograd on the same weights, batch and dead mask, for each
// sparsity loss mode with and without jumprelu_ste_to_input, the
// pre-activation loss on (scripts/sae_jumprelu_grads.py wrote the file).
func TestJumpReLUAgainstSAELens(t *testing.T) {
	const path = "testdata/jumprelu_grads.safetensors"
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const d, n, B = 6, 12, 7
	get := func(name string, dims ...int) []float32 {
		v, err := readTensor(f, path, name, dims...)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	x, deadMask := get("in.x", B, d), get("in.dead", n)
	for _, mode := range []string{"step", "tanh", "quadratic"} {
		for _, ste := range []bool{false, true} {
			key := mode + ".plain"
			if ste {
				key = mode + ".ste"
			}
			t.Run(key, func(t *testing.T) {
				o := DefaultOptions(JumpReLU, d, n)
				o.L0, o.PreActCoef, o.Bandwidth, o.SparsityLoss, o.TargetL0, o.STEToInput, o.DeadWindow = 0.2, 0.7, 0.5, mode, 4, ste, 5
				tr, err := NewTrainer(o)
				if err != nil {
					t.Fatal(err)
				}
				dims := tr.dims()
				for i, p := range tr.params() {
					copy(p, get("in."+paramNames[i], dims[i]...))
				}
				for i, v := range deadMask {
					if v != 0 {
						tr.SinceFired[i] = int32(o.DeadWindow + 1)
					}
				}
				st, g := tr.pass(x, B, true)
				want := get(key+".loss", 1)[0]
				if math.Abs(st.Loss-float64(want)) > 1e-5*math.Abs(float64(want))+1e-6 {
					t.Errorf("loss %.7g, SAELens %.7g", st.Loss, want)
				}
				nonzero := 0
				for i, name := range paramNames {
					ref := get(key+"."+name, dims[i]...)
					for k, v := range ref {
						if math.Abs(float64(g[i][k]-v)) > 1e-5+1e-4*math.Abs(float64(v)) {
							t.Errorf("%s[%d]: gradient %.7g, SAELens %.7g", name, k, g[i][k], v)
						}
						if name == "threshold" && v != 0 {
							nonzero++
						}
					}
				}
				if nonzero == 0 {
					t.Fatal("every threshold gradient is zero; the test checks no straight-through estimate")
				}
			})
		}
	}
}
