package sae

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/glia-dev/glia/train"
)

// Options are one SAE's training settings, named after SAELens's
// TrainingSAEConfig fields where they exist.
type Options struct {
	Arch      string // standard, topk, batchtopk, jumprelu, matryoshka_batchtopk
	DIn, DSAE int
	K         int     // topk: per sample; batchtopk: k·B over the batch
	L1        float64 // standard: l1_coefficient
	L0        float64 // jumprelu: l0_coefficient
	// CoefWarmup steps ramp the L1/L0 coefficient linearly from 0, as
	// SAELens's CoefficientScheduler does.
	CoefWarmup    int
	Bandwidth     float64 // jumprelu_bandwidth, 0.05
	InitThreshold float64 // jumprelu_init_threshold, 0.01
	// SparsityLoss is jumprelu_sparsity_loss_mode: step (DeepMind's L0,
	// the default), tanh (Anthropic's Σ tanh(TanhScale·f·‖W_dec,ᵢ‖)) or
	// quadratic (Gemma Scope 2's 2/T·(L0 − T)² around TargetL0).
	SparsityLoss string
	TanhScale    float64 // jumprelu_tanh_scale, 4
	TargetL0     float64 // target_l0, quadratic only
	// PreActCoef is pre_act_loss_coefficient (0: none): dead features pay
	// ReLU(θ − pre)·‖W_dec,ᵢ‖, which pulls their pre-activations back up to
	// the threshold.
	PreActCoef float64
	// STEToInput is jumprelu_ste_to_input: the straight-through estimate
	// also reaches the pre-activations (Anthropic), not only θ (DeepMind).
	STEToInput      bool
	AuxKCoef        float64 // aux_loss_coefficient, 1
	DeadWindow      int     // dead_feature_window in steps, 1000
	ThresholdLR     float64 // batchtopk topk_threshold_lr, 0.01
	Widths          []int   // matryoshka_widths; d_sae is added as the last
	DecoderInitNorm float64 // decoder_init_norm, 0.1
	NoBDecInput     bool    // apply_b_dec_to_input false
	// Normalize is normalize_activations at training time: none, or
	// expected_average_only_in (train on x·s with s = √d_in / E‖x‖
	// estimated from the first NormBatches batches, folded into the
	// weights on save so the SAE takes raw activations).
	Normalize   string
	NormBatches int // n_batches_for_norm_estimate
	// ResampleEvery steps (0: never) the dead features are re-initialised
	// from badly reconstructed inputs (Anthropic's resampling; see resample).
	ResampleEvery int
	Hyper         train.Hyper
	Seed          uint64
	// DOut > 0 trains a transcoder to d_out outputs (Skip: with W_skip);
	// see transcoder_train.go.
	DOut int
	Skip bool
}

// DefaultOptions are SAELens's defaults for arch: Adam (no weight decay)
// with a gradient clip of 1 at a constant learning rate of 3e-4.
func DefaultOptions(arch string, dIn, dSAE int) Options {
	h := train.Hyper{LR: 3e-4, MinLRFrac: 1, Steps: 1, Clip: 1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	return Options{Arch: arch, DIn: dIn, DSAE: dSAE, K: 100, L1: 1, L0: 1, Bandwidth: 0.05, InitThreshold: 0.01,
		SparsityLoss: "step", TanhScale: 4, Normalize: "none", NormBatches: 10, AuxKCoef: 1, DeadWindow: 1000, ThresholdLR: 0.01, DecoderInitNorm: 0.1, Hyper: h, Seed: 1}
}

func (o *Options) check() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("sae: "+f, a...) }
	switch {
	case o.DIn <= 0 || o.DSAE <= 0:
		return bad("d_in (%d) and d_sae (%d) must be positive", o.DIn, o.DSAE)
	case o.Bandwidth <= 0 || o.InitThreshold <= 0:
		return bad("bandwidth (%g) and initial threshold (%g) must be positive", o.Bandwidth, o.InitThreshold)
	case o.DeadWindow <= 0:
		return bad("dead-feature window must be positive, got %d", o.DeadWindow)
	case o.ResampleEvery < 0:
		return bad("resampling interval must not be negative, got %d", o.ResampleEvery)
	case o.PreActCoef < 0:
		return bad("pre-activation loss coefficient must not be negative, got %g", o.PreActCoef)
	}
	if o.SparsityLoss == "" { // checkpoints from before the modes
		o.SparsityLoss = "step"
	}
	switch o.Normalize {
	case "", "none":
		o.Normalize = "none"
	case ExpectedAverage:
		if o.NormBatches <= 0 {
			return bad("expected_average_only_in needs a positive number of batches for its estimate, got %d", o.NormBatches)
		}
	default:
		// constant_norm_rescale and layer_norm rescale every row: SAELens
		// then takes the MSE after undoing it but AuxK and the prefixes
		// before, which this trainer does not reproduce.
		return bad("training normalisation %q is not none or %s (SAEs with the others are read and applied, not trained)", o.Normalize, ExpectedAverage)
	}
	if o.TanhScale == 0 {
		o.TanhScale = 4
	}
	switch o.SparsityLoss {
	case "step", "tanh":
	case "quadratic":
		if o.Arch == JumpReLU && (o.TargetL0 <= 0 || o.TargetL0 > float64(o.DSAE)) {
			return bad("the quadratic sparsity loss needs 0 < target L0 ≤ d_sae (%d), got %g", o.DSAE, o.TargetL0)
		}
	default:
		return bad("jumprelu sparsity loss %q is not step, tanh or quadratic", o.SparsityLoss)
	}
	if err := o.checkTranscoder(); err != nil {
		return err
	}
	switch o.Arch {
	case Standard, JumpReLU:
	case TopK, BatchTopK, Matryoshka:
		if o.K <= 0 || o.K > o.DSAE {
			return bad("%s needs 1 ≤ k ≤ d_sae (%d), got k %d", o.Arch, o.DSAE, o.K)
		}
	default:
		return bad("architecture %q is not standard, topk, batchtopk, jumprelu or matryoshka_batchtopk", o.Arch)
	}
	if o.Arch == Matryoshka {
		ws := slices.Clone(o.Widths)
		if len(ws) == 0 || ws[len(ws)-1] != o.DSAE {
			ws = append(ws, o.DSAE)
		}
		for i, w := range ws {
			if w <= 0 || w > o.DSAE || (i > 0 && w <= ws[i-1]) {
				return bad("matryoshka widths %v must increase strictly within (0, d_sae = %d]", o.Widths, o.DSAE)
			}
		}
		o.Widths = ws
	}
	return nil
}

// topkFamily: selection by pre-activation × decoder-row norm
// (rescale_acts_by_decoder_norm), AuxK for dead features.
func (o *Options) topkFamily() bool {
	return o.Arch == TopK || o.Arch == BatchTopK || o.Arch == Matryoshka
}

// Trainer trains one SAE on batches of activation vectors.
type Trainer struct {
	Opt  Options
	Step int
	// Parameters, as SAELens's training SAE holds them: jumprelu's
	// threshold θ itself (SAELens 6.54 dropped log θ: Adam moves a
	// parameter by about lr a step, too little for log θ from 0.01), kept
	// non-negative by projection before each step.
	WEnc, WDec, BEnc, BDec, Theta []float32
	// SinceFired counts the steps since each feature last fired
	// (n_forward_passes_since_fired); dead means above DeadWindow.
	SinceFired []int32
	// Fired counts each feature's activations and Samples the vectors seen,
	// for sparsity.safetensors.
	Fired   []float64
	Samples float64
	// Threshold is batchtopk's tracked inference threshold.
	Threshold float64
	// Scale is expected_average_only_in's factor (0 while estimating):
	// the trainer sees x·Scale. normSum and normRows accumulate ‖x‖ over
	// the first normBatches batches.
	Scale       float64
	normSum     float64
	normRows    int
	normBatches int
	xs          []float32
	// WSkip is a skip transcoder's [d_out, d_in].
	WSkip []float32

	opt *adam
	w   work
	// dense holds the step to sgemm products even where the activations are
	// sparse (the equality test and the benchmark's baseline).
	dense bool
	// frozenResidual, when set, stands in for x − x̂ in the AuxK loss:
	// SAELens detaches it, so a finite-difference test must hold it fixed.
	frozenResidual []float32
}

// StepStats are one step's figures, before the update.
type StepStats struct {
	Loss, MSE, Aux float64 // total, reconstruction (Σ over dims, mean over rows), the rest
	L0             float64 // mean active features per vector
	ExplainedVar   float64
	Dead           int // features dead after this step
	GradNorm       float64
	// Estimating marks a batch spent on the normalisation estimate: no
	// step was taken.
	Estimating bool
	Resampled  int // dead features re-initialised after this step
}

// ExpectedAverage is SAELens's expected_average_only_in normalisation.
const ExpectedAverage = "expected_average_only_in"

// NewTrainer initialises as SAELens does: W_dec rows uniform
// (kaiming_uniform, bound 1/√d_in) scaled to DecoderInitNorm, W_enc =
// W_decᵀ, biases zero, θ = InitThreshold.
func NewTrainer(o Options) (*Trainer, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	d, n, do := o.DIn, o.DSAE, o.outWidth()
	t := &Trainer{Opt: o, WEnc: make([]float32, d*n), WDec: make([]float32, n*do), BEnc: make([]float32, n), BDec: make([]float32, do),
		SinceFired: make([]int32, n), Fired: make([]float64, n)}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5ae))
	bound := 1 / math.Sqrt(float64(d))
	for i := range t.WDec {
		t.WDec[i] = float32((2*rng.Float64() - 1) * bound)
	}
	if o.DecoderInitNorm > 0 {
		for i, nv := range rowNorms(t.WDec, n, do) {
			for j := range do {
				t.WDec[i*do+j] *= float32(o.DecoderInitNorm) / nv
			}
		}
	}
	if o.DOut > 0 {
		t.initTranscoder(rng)
	} else {
		transpose(t.WDec, t.WEnc, n, d)
	}
	if o.Arch == JumpReLU {
		t.Theta = make([]float32, n)
		for i := range t.Theta {
			t.Theta[i] = float32(o.InitThreshold)
		}
	}
	var err error
	if t.opt, err = newAdam(o.Hyper, t.dims()); err != nil {
		return nil, err
	}
	return t, nil
}

// params lists the trained tensors in a fixed order, with their names and
// shapes (the optimiser's order).
func (t *Trainer) params() [][]float32 {
	p := [][]float32{t.WEnc, t.WDec, t.BEnc, t.BDec}
	if t.Theta != nil {
		p = append(p, t.Theta)
	}
	if t.WSkip != nil {
		p = append(p, t.WSkip)
	}
	return p
}

var paramNames = []string{"W_enc", "W_dec", "b_enc", "b_dec", "threshold"}

func (t *Trainer) dims() [][]int {
	d, n, do := t.Opt.DIn, t.Opt.DSAE, t.Opt.outWidth()
	out := [][]int{{d, n}, {n, do}, {n}, {do}}
	if t.Theta != nil {
		out = append(out, []int{n})
	}
	if t.WSkip != nil {
		out = append(out, []int{do, d})
	}
	return out
}

// coef is the sparsity coefficient at the current step.
func (t *Trainer) coef() float64 {
	c := t.Opt.L1
	if t.Opt.Arch == JumpReLU {
		c = t.Opt.L0
	}
	if w := t.Opt.CoefWarmup; t.Step < w {
		c *= float64(t.Step+1) / float64(w)
	}
	return c
}

// Dead is the number of features that have not fired for DeadWindow steps.
func (t *Trainer) Dead() int {
	n := 0
	for _, s := range t.SinceFired {
		if int(s) > t.Opt.DeadWindow {
			n++
		}
	}
	return n
}

// TrainStep takes one optimiser step on x [rows, d_in].
// A transcoder's rows are d_in + d_out values: the input, then the target
// (TrainPairs).
func (t *Trainer) TrainStep(x []float32, rows int) (StepStats, error) {
	if t.Opt.DOut > 0 {
		return t.trainStacked(x, rows)
	}
	if rows <= 0 || len(x) != rows*t.Opt.DIn {
		return StepStats{}, fmt.Errorf("sae: a batch of %d values is not %d rows of d_in %d", len(x), rows, t.Opt.DIn)
	}
	if t.Opt.Normalize == ExpectedAverage {
		if t.Scale == 0 {
			t.estimateScale(x, rows)
			return StepStats{Estimating: true}, nil
		}
		t.xs = append(t.xs[:0], x...)
		for i := range t.xs {
			t.xs[i] *= float32(t.Scale)
		}
		x = t.xs
	}
	t.projectTheta()
	st, g := t.pass(x, rows, true)
	return t.update(st, g, x, rows)
}

// projectTheta keeps JumpReLU's θ ≥ 0: SAELens projects θ on its data, not
// in the graph.
func (t *Trainer) projectTheta() {
	for i, v := range t.Theta {
		t.Theta[i] = max(v, 0)
	}
}

// update takes the optimiser step for one pass's gradients on inputs x
// [rows, d_in].
func (t *Trainer) update(st StepStats, g [][]float32, x []float32, rows int) (StepStats, error) {
	if math.IsNaN(st.Loss) || math.IsInf(st.Loss, 0) {
		return st, fmt.Errorf("sae: step %d: loss %g is not finite (lower the learning rate)", t.Step+1, st.Loss)
	}
	norm, err := t.opt.step(t.params(), g)
	if err != nil {
		return st, err
	}
	st.GradNorm = norm
	t.Step++
	if e := t.Opt.ResampleEvery; e > 0 && t.Step%e == 0 {
		if st.Resampled, err = t.resample(x, rows); err != nil {
			return st, err
		}
	}
	st.Dead = t.Dead()
	return st, nil
}

// estimateScale adds a batch to expected_average_only_in's estimate, as
// SAELens's ActivationScaler: s = √d_in / mean ‖x‖ over NormBatches
// batches, which are spent on it.
func (t *Trainer) estimateScale(x []float32, rows int) {
	d := t.Opt.DIn
	for r := range rows {
		var ss float64
		for _, v := range x[r*d : (r+1)*d] {
			ss += float64(v) * float64(v)
		}
		t.normSum += math.Sqrt(ss)
	}
	t.normRows += rows
	t.normBatches++
	if t.normBatches >= t.Opt.NormBatches && t.normSum > 0 {
		t.Scale = math.Sqrt(float64(d)) / (t.normSum / float64(t.normRows))
	}
}

// SAE returns the inference dictionary as SAELens saves it: decoder rows
// folded to unit norm (the encoder, b_enc and any threshold scaled to
// match, which leaves reconstructions unchanged); batchtopk and matryoshka
// become jumprelu with the tracked threshold. meta is written as cfg.json's
// metadata.
func (t *Trainer) SAE(meta Metadata) *SAE {
	o := t.Opt
	d, n, do := o.DIn, o.DSAE, o.outWidth()
	s := &SAE{Cfg: Config{Architecture: o.Arch, DIn: d, DSAE: n, DType: "float32", Device: "cpu", ApplyBDecToInput: !o.NoBDecInput,
		NormalizeActivations: "none", ReshapeActivations: "none", DOut: o.DOut, Skip: o.Skip, Metadata: meta},
		WEnc: slices.Clone(t.WEnc), WDec: slices.Clone(t.WDec), BEnc: slices.Clone(t.BEnc), BDec: slices.Clone(t.BDec), WSkip: slices.Clone(t.WSkip)}
	switch o.Arch {
	case TopK:
		s.Cfg.K, s.Cfg.RescaleActsByDecNorm = o.K, true
	case JumpReLU:
		s.Threshold = slices.Clone(t.Theta)
	case BatchTopK, Matryoshka:
		s.Cfg.Architecture = JumpReLU
		s.Threshold = make([]float32, n)
		thr := t.Threshold // against pre·‖W_dec,ᵢ‖, whose norms the scale divides
		if t.Scale > 0 {
			thr /= t.Scale
		}
		for i := range s.Threshold {
			s.Threshold[i] = float32(thr)
		}
	}
	if t.Scale > 0 {
		// fold_activation_norm_scaling_factor: x·s·W_enc = x·(s·W_enc), and
		// the reconstruction (f·W_dec + b_dec)/s; the features are unchanged.
		sc := float32(t.Scale)
		for i := range s.WEnc {
			s.WEnc[i] *= sc
		}
		for i := range s.WDec {
			s.WDec[i] /= sc
		}
		for i := range s.BDec {
			s.BDec[i] /= sc
		}
	}
	if strings.Contains(meta.HookName, "hook_z") {
		s.Cfg.ReshapeActivations = "hook_z"
	}
	nu := rowNorms(s.WDec, n, do)
	for i, v := range nu {
		if v == 0 {
			continue
		}
		for j := range do {
			s.WDec[i*do+j] /= v
		}
		for j := range d {
			s.WEnc[j*n+i] *= v
		}
		s.BEnc[i] *= v
		if s.Threshold != nil && o.Arch == JumpReLU {
			s.Threshold[i] *= v // batchtopk's threshold is already in scaled units
		}
	}
	if t.Samples > 0 {
		s.Sparsity = make([]float32, n)
		for i, f := range t.Fired {
			s.Sparsity[i] = float32(math.Log10(f/t.Samples + 1e-10))
		}
	}
	return s
}
