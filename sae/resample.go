package sae

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/tensors"
)

// resample re-initialises the dead features as Anthropic's "Towards
// Monosemanticity" does (SAELens v6 has no resampling): each dead feature
// takes an input of the batch x [rows, d_in] drawn with probability ∝ its
// squared reconstruction loss; its decoder row becomes that input at unit
// norm, its encoder column the same direction at 0.2 × the mean norm of the
// live features' encoder columns, its b_enc 0 (θ θ₀ for jumprelu), and its
// Adam moments 0. It returns the number resampled.
func (t *Trainer) resample(x []float32, rows int) (int, error) {
	o := &t.Opt
	d, n := o.DIn, o.DSAE
	var dead []int
	for i, s := range t.SinceFired {
		if int(s) > o.DeadWindow {
			dead = append(dead, i)
		}
	}
	if len(dead) == 0 {
		return 0, nil
	}
	t.pass(x, rows, false)
	// Cumulative loss² over the rows; w.r is x̂ − x after the pass.
	cum := make([]float64, rows)
	var total float64
	for r := range rows {
		var l float64
		for _, v := range t.w.r[r*d : (r+1)*d] {
			l += float64(v) * float64(v)
		}
		total += l * l
		cum[r] = total
	}
	if !(total > 0) {
		return 0, nil
	}
	isDead := make([]bool, n)
	for _, i := range dead {
		isDead[i] = true
	}
	var encNorm float64
	live := 0
	for i := range n {
		if isDead[i] {
			continue
		}
		var s float64
		for j := range d {
			s += float64(t.WEnc[j*n+i]) * float64(t.WEnc[j*n+i])
		}
		encNorm += math.Sqrt(s)
		live++
	}
	if live > 0 {
		encNorm /= float64(live)
	} else {
		encNorm = 1
	}
	rng := rand.New(rand.NewPCG(o.Seed^uint64(t.Step), 0x7e5))
	for _, i := range dead {
		u := rng.Float64() * total
		r := 0
		for r < rows-1 && cum[r] <= u {
			r++
		}
		row := x[r*d : (r+1)*d]
		var s float64
		for _, v := range row {
			s += float64(v) * float64(v)
		}
		if s == 0 {
			continue
		}
		inv := 1 / math.Sqrt(s)
		for j, v := range row {
			t.WDec[i*d+j] = float32(float64(v) * inv)
			t.WEnc[j*n+i] = float32(0.2 * encNorm * float64(v) * inv)
		}
		t.BEnc[i] = 0
		if t.Theta != nil {
			t.Theta[i] = float32(o.InitThreshold)
		}
		t.SinceFired[i] = 0
	}
	// Their Adam moments: W_enc's columns, W_dec's rows, b_enc's and θ's entries.
	zero := func(p int, at func(flat []float32, i int)) error {
		for _, mv := range [][]*tensors.Tensor{t.opt.m, t.opt.v} {
			if err := tensors.MutableFlatData(mv[p], func(flat []float32) {
				for _, i := range dead {
					at(flat, i)
				}
			}); err != nil {
				return fmt.Errorf("sae: resampling: resetting %s's Adam moments: %w", paramNames[p], err)
			}
		}
		return nil
	}
	at := []func(flat []float32, i int){
		func(f []float32, i int) {
			for j := range d {
				f[j*n+i] = 0
			}
		},
		func(f []float32, i int) { clear(f[i*d : (i+1)*d]) },
		func(f []float32, i int) { f[i] = 0 },
		nil, // b_dec
		func(f []float32, i int) { f[i] = 0 },
	}
	for p := range t.params() {
		if at[p] == nil {
			continue
		}
		if err := zero(p, at[p]); err != nil {
			return 0, err
		}
	}
	return len(dead), nil
}
