package sae

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/glia-dev/glia/engine/cpu/sgemm"
)

// Training a transcoder is training an SAE whose target is another
// vector: the same pass (encoder, activation, sparsity and auxiliary
// losses, hand-written gradients, AdamW) with the reconstruction measured
// against y [rows, d_out] instead of x, a decoder of width d_out, and for
// a skip transcoder ŷ += x·W_skipᵀ. SAELens 6.54.12 has transcoder classes
// for inference only; glia trains them with the SAE architectures' losses
// (standard's L1 weighted by decoder norms, topk with AuxK, batchtopk,
// jumprelu's L0), saved as transcoder, topk_transcoder or
// jumprelu_transcoder (skip_ variants with W_skip).

// outWidth is the decoder's width.
func (o *Options) outWidth() int {
	if o.DOut > 0 {
		return o.DOut
	}
	return o.DIn
}

func (o *Options) checkTranscoder() error {
	switch {
	case o.DOut < 0:
		return fmt.Errorf("sae: d_out is %d", o.DOut)
	case o.Skip && o.DOut == 0:
		return fmt.Errorf("sae: a skip connection needs a transcoder (d_out > 0)")
	case o.DOut > 0 && !o.NoBDecInput:
		return fmt.Errorf("sae: a transcoder cannot subtract b_dec (d_out values) from its input (set NoBDecInput, as SAELens requires)")
	case o.Skip && o.Arch == Matryoshka:
		return fmt.Errorf("sae: matryoshka prefixes of a skip transcoder are not implemented")
	case o.DOut > 0 && o.Normalize == ExpectedAverage:
		return fmt.Errorf("sae: normalize_activations %s is not implemented for transcoders (their input and target would need separate scales)", ExpectedAverage)
	case o.DOut > 0 && o.ResampleEvery > 0:
		return fmt.Errorf("sae: resampling dead features is not implemented for transcoders")
	}
	return nil
}

// initTranscoder draws W_enc apart from W_dec (their shapes differ unless
// d_in = d_out): columns uniform with bound 1/√d_in, scaled to
// DecoderInitNorm like the decoder's rows. W_skip starts at zero, as
// SAELens initialises it.
func (t *Trainer) initTranscoder(rng *rand.Rand) {
	o := t.Opt
	d, n := o.DIn, o.DSAE
	bound := 1 / math.Sqrt(float64(d))
	for i := range t.WEnc {
		t.WEnc[i] = float32((2*rng.Float64() - 1) * bound)
	}
	if o.DecoderInitNorm > 0 {
		colT := make([]float32, n*d)
		transpose(t.WEnc, colT, d, n)
		for i, nv := range rowNorms(colT, n, d) {
			for j := range d {
				t.WEnc[j*n+i] *= float32(o.DecoderInitNorm) / nv
			}
		}
	}
	if o.Skip {
		t.WSkip = make([]float32, o.DOut*d)
	}
}

// names are params()'s checkpoint names.
func (t *Trainer) names() []string {
	names := slices.Clone(paramNames[:4])
	if t.Theta != nil {
		names = append(names, paramNames[4])
	}
	if t.WSkip != nil {
		names = append(names, "W_skip")
	}
	return names
}

// TrainPairs takes one optimiser step of a transcoder on inputs x
// [rows, d_in] and targets y [rows, d_out].
func (t *Trainer) TrainPairs(x, y []float32, rows int) (StepStats, error) {
	o := t.Opt
	if o.DOut == 0 {
		return StepStats{}, fmt.Errorf("sae: TrainPairs on an SAE (d_out 0); use TrainStep")
	}
	if rows <= 0 || len(x) != rows*o.DIn || len(y) != rows*o.DOut {
		return StepStats{}, fmt.Errorf("sae: a batch of %d inputs and %d targets is not %d rows of d_in %d and d_out %d", len(x), len(y), rows, o.DIn, o.DOut)
	}
	t.projectTheta()
	st, g := t.passTo(x, y, rows, true)
	return t.update(st, g, x, rows)
}

// trainStacked is TrainPairs on rows of d_in + d_out values (input, then
// target), as a shuffle buffer of pairs holds them.
func (t *Trainer) trainStacked(xy []float32, rows int) (StepStats, error) {
	d, do := t.Opt.DIn, t.Opt.DOut
	if rows <= 0 || len(xy) != rows*(d+do) {
		return StepStats{}, fmt.Errorf("sae: a batch of %d values is not %d rows of d_in + d_out = %d", len(xy), rows, d+do)
	}
	x, y := SplitPairs(xy, rows, d, do)
	return t.TrainPairs(x, y, rows)
}

// StackPairs interleaves x [rows, d_in] and y [rows, d_out] into rows of
// d_in + d_out values, appended to dst.
func StackPairs(dst, x, y []float32, rows, d, do int) []float32 {
	for r := range rows {
		dst = append(dst, x[r*d:(r+1)*d]...)
		dst = append(dst, y[r*do:(r+1)*do]...)
	}
	return dst
}

// SplitPairs undoes StackPairs.
func SplitPairs(xy []float32, rows, d, do int) (x, y []float32) {
	x, y = make([]float32, rows*d), make([]float32, rows*do)
	for r := range rows {
		row := xy[r*(d+do) : (r+1)*(d+do)]
		copy(x[r*d:(r+1)*d], row[:d])
		copy(y[r*do:(r+1)*do], row[d:])
	}
	return x, y
}

// addSkip adds x·W_skipᵀ to xhat [B, d_out] when training a skip
// transcoder.
func (t *Trainer) addSkip(x, xhat []float32, B int) {
	if t.WSkip == nil {
		return
	}
	w := &t.w
	if len(w.e) < B*t.Opt.DOut {
		w.e = make([]float32, B*t.Opt.DOut)
	}
	sgemm.MatMul(x, t.WSkip, w.e[:B*t.Opt.DOut], 1, B, t.Opt.DOut, t.Opt.DIn, true)
	for i, v := range w.e[:B*t.Opt.DOut] {
		xhat[i] += v
	}
}

// skipGrad is dL/dW_skip = dxᵀ·x [d_out, d_in] for the reconstruction's
// dL/dŷ = dx (held in the work buffers).
func (t *Trainer) skipGrad(x []float32, B int) []float32 {
	d, do := t.Opt.DIn, t.Opt.DOut
	w := &t.w
	dxT := make([]float32, do*B)
	transpose(w.dx[:B*do], dxT, B, do)
	g := make([]float32, do*d)
	sgemm.MatMul(dxT, x, g, 1, do, d, B, false)
	return g
}
