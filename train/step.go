package train

import (
	"fmt"
	"math"
	"strings"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/engine/cpu/kernels"
	"github.com/glia-dev/glia/format/safetensors"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Hyper are the optimiser's settings. They are fixed for a run: the step
// graph bakes all but the learning rate in.
type Hyper struct {
	LR          float64 // peak learning rate
	MinLRFrac   float64 // the cosine decays to LR·MinLRFrac
	Warmup      int     // steps of linear warm-up from LR/Warmup to LR
	Steps       int     // total steps (the cosine ends here)
	WeightDecay float64 // decoupled (AdamW), on Decayed weights only
	Clip        float64 // global gradient-norm clip; 0: none
	Beta1       float64
	Beta2       float64
	Eps         float64
	DecayAll    bool // also decay norm gains, biases and embeddings
}

// DefaultHyper are PyTorch AdamW's betas and eps with a 10% cosine floor.
func DefaultHyper() Hyper {
	return Hyper{LR: 1e-3, MinLRFrac: 0.1, Warmup: 100, Steps: 1000, WeightDecay: 0.1, Clip: 1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
}

// LRAt is the learning rate of 0-based step t: linear warm-up over Warmup
// steps, then a cosine from LR down to LR·MinLRFrac at Steps. It is computed
// in float64 on the host and fed to the step graph as a scalar.
func (h Hyper) LRAt(t int) float64 {
	if t < h.Warmup {
		return h.LR * float64(t+1) / float64(h.Warmup)
	}
	p := float64(t-h.Warmup) / float64(max(1, h.Steps-h.Warmup))
	p = min(p, 1)
	return h.LR * (h.MinLRFrac + (1-h.MinLRFrac)*0.5*(1+math.Cos(math.Pi*p)))
}

// schedule is step t's learning rate and AdamW bias corrections 1-β₁ᵗ⁺¹
// and 1-β₂ᵗ⁺¹, computed in float64 as PyTorch does and handed to float32
// arithmetic (the step graph's or the host's).
func (h Hyper) schedule(t int) (lr float64, bc1, bc2 float32) {
	n := float64(t + 1)
	return h.LRAt(t), float32(1 - math.Pow(h.Beta1, n)), float32(1 - math.Pow(h.Beta2, n))
}

func (h Hyper) check() error {
	switch {
	case h.Steps <= 0:
		return fmt.Errorf("train: steps must be positive, got %d", h.Steps)
	case h.LR <= 0 || math.IsNaN(h.LR) || math.IsInf(h.LR, 0):
		return fmt.Errorf("train: learning rate must be positive, got %g", h.LR)
	case h.Warmup < 0:
		return fmt.Errorf("train: warm-up must not be negative, got %d", h.Warmup)
	case h.WeightDecay < 0, h.Clip < 0:
		return fmt.Errorf("train: weight decay (%g) and clip (%g) must not be negative", h.WeightDecay, h.Clip)
	case h.Beta1 < 0 || h.Beta1 >= 1 || h.Beta2 < 0 || h.Beta2 >= 1:
		return fmt.Errorf("train: betas must lie in [0, 1), got %g, %g", h.Beta1, h.Beta2)
	}
	return nil
}

// Decayed says whether AdamW's weight decay applies to a weight: matrices
// other than embeddings, unless all is set.
func Decayed(s arch.WeightSpec, all bool) bool {
	if all {
		return true
	}
	if len(s.Shape) < 2 {
		return false // norm gains, biases
	}
	for _, e := range []string{"wte.", "wpe.", "embed_tokens.", "embed_positions."} {
		if strings.Contains(s.Name, e) {
			return false
		}
	}
	return true
}

// Batch is one batch of next-token examples: the loss at [b, t] is the
// cross-entropy of Targets[b, t] under the logits of IDs[b, :t+1], weighted
// by Mask[b, t] (0 or 1); the mean is over the weighted positions.
//
// An image classifier's batch has Pixels [B, channels, height, width]
// instead of IDs, T = 1 and the class labels as Targets: its logits are
// [B, 1, classes] (arch.ImageFamily), so the same loss and accuracy apply.
type Batch struct {
	B, T    int
	IDs     []int32 // [B, T]
	Targets []int32 // [B, T]
	Mask    []float32
	Pixels  []float32 // [B, Image...], instead of IDs
	Image   [3]int    // channels, height, width of Pixels
}

// Rows are the batch's sequences, as engine.Request takes them (views
// into IDs).
func (b Batch) Rows() [][]int32 {
	rows := make([][]int32, b.B)
	for i := range rows {
		rows[i] = b.IDs[i*b.T : (i+1)*b.T]
	}
	return rows
}

// tensors are the batch's graph inputs; done releases them (on an
// accelerator they hold device memory until finalized).
func (b Batch) tensors() (args []any, done func()) {
	var in *tensors.Tensor
	if b.Pixels != nil {
		in = tensors.FromFlatDataAndDimensions(b.Pixels, b.B, b.Image[0], b.Image[1], b.Image[2])
	} else {
		in = tensors.FromFlatDataAndDimensions(b.IDs, b.B, b.T)
	}
	ts := []*tensors.Tensor{in, tensors.FromFlatDataAndDimensions(b.Targets, b.B, b.T), tensors.FromFlatDataAndDimensions(b.Mask, b.B, b.T)}
	for _, t := range ts {
		args = append(args, t)
	}
	return args, func() { finalize(ts) }
}

// Trainer holds a model's weights and AdamW state on the backend and runs
// compiled steps over them.
type Trainer struct {
	Model *engine.Model
	Hyper Hyper
	Step  int // steps done

	backend compute.Backend
	specs   []arch.WeightSpec
	decay   []bool
	w, m, v []*tensors.Tensor // AdamW state: first and second moments
	steps   map[[2]int]*Exec  // by batch shape
	evals   map[[2]int]*Exec
	grads   map[[2]int]*Exec
	// hostAdam: the graph returns the gradients and AdamW runs on the host
	// in one pass per weight (adam.go); on the pure-Go backend the weights
	// are host memory already. Elsewhere (a GPU) the update stays in the
	// graph, on the device.
	hostAdam bool
}

// NewTrainer starts from the model's weights with zero AdamW moments.
func NewTrainer(m *engine.Model, h Hyper) (*Trainer, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	be, err := engine.Backend()
	if err != nil {
		return nil, fmt.Errorf("train: backend: %w", err)
	}
	if m.DType() != dtypes.Float32 {
		return nil, fmt.Errorf("train: training runs in float32; the model computes in %s", m.DType())
	}
	t := &Trainer{Model: m, Hyper: h, backend: be, specs: m.WeightSpecs(), steps: map[[2]int]*Exec{}, evals: map[[2]int]*Exec{},
		grads: map[[2]int]*Exec{}, hostAdam: kernels.IsGoBackend(be)}
	for _, s := range t.specs {
		a, err := m.Weight(s.Name)
		if err != nil {
			return nil, err
		}
		t.decay = append(t.decay, Decayed(s, h.DecayAll))
		t.w = append(t.w, tensors.FromFlatDataAndDimensions(a.Data, s.Shape...))
		t.m = append(t.m, tensors.FromShape(shapes.Make(dtypes.Float32, s.Shape...)))
		t.v = append(t.v, tensors.FromShape(shapes.Make(dtypes.Float32, s.Shape...)))
	}
	return t, nil
}

// StepResult is what one step reports.
type StepResult struct {
	Loss     float64 // mean cross-entropy before the update
	GradNorm float64 // global gradient norm before clipping
	LR       float64
}

// NonFiniteError is a step whose loss or gradient norm is NaN or ±Inf. The
// trainer's state is left as it was before the step.
type NonFiniteError struct {
	Step           int
	Loss, GradNorm float64
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("train: step %d: loss %g, gradient norm %g: not finite (lower the learning rate or raise the warm-up)", e.Step+1, e.Loss, e.GradNorm)
}

// TrainStep runs one optimiser step on b: on the pure-Go backend the graph
// returns the gradients and AdamW runs on the host (adam.go), elsewhere the
// update is part of the graph.
func (t *Trainer) TrainStep(b Batch) (StepResult, error) {
	lr, bc1, bc2 := t.Hyper.schedule(t.Step)
	args, done := b.tensors()
	defer done()
	var e *Exec
	var err error
	if t.hostAdam {
		e, err = t.compile(t.grads, b, t.gradGraph, false)
		args = appendTensors(args, t.w)
	} else {
		e, err = t.compile(t.steps, b, t.stepGraph, true)
		st := tensors.FromFlatDataAndDimensions([]float32{float32(lr), bc1, bc2}, 3)
		defer st.FinalizeAll()
		args = appendTensors(append(args, st), t.w, t.m, t.v)
	}
	if err != nil {
		return StepResult{}, err
	}
	outs, err := e.Call(args...)
	if err != nil {
		return StepResult{}, fmt.Errorf("train: step %d: %w", t.Step+1, err)
	}
	res := StepResult{Loss: scalar(outs[0]), GradNorm: scalar(outs[1]), LR: lr}
	if bad(res.Loss) || bad(res.GradNorm) {
		finalize(outs)
		return res, &NonFiniteError{Step: t.Step, Loss: res.Loss, GradNorm: res.GradNorm}
	}
	if t.hostAdam {
		t.adamHost(outs[2:], res.GradNorm, lr, bc1, bc2)
		finalize(outs)
	} else {
		k := len(t.w)
		for i, s := range [][]*tensors.Tensor{t.w, t.m, t.v} {
			finalize(s)
			copy(s, outs[2+i*k:2+(i+1)*k])
		}
		finalize(outs[:2])
	}
	t.Step++
	return res, nil
}

// appendTensors appends every tensor of every list to args, in order.
func appendTensors(args []any, lists ...[]*tensors.Tensor) []any {
	for _, l := range lists {
		for _, x := range l {
			args = append(args, x)
		}
	}
	return args
}

func bad(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }

func finalize(ts []*tensors.Tensor) {
	for _, x := range ts {
		x.FinalizeAll()
	}
}

func scalar(t *tensors.Tensor) float64 {
	var v float64
	tensors.MustConstFlatData(t, func(f []float32) { v = float64(f[0]) })
	return v
}

// compile returns the graph for b's shape from cache, compiling fn for the
// batch inputs, then (withState) the schedule, then the weights, then
// (withState) the AdamW moments.
func (t *Trainer) compile(cache map[[2]int]*Exec, b Batch, fn func([]*Node) []*Node, withState bool) (*Exec, error) {
	input := shapes.Make(dtypes.Int32, b.B, b.T)
	if want, images := t.Model.ImageShape(); images {
		if b.Pixels == nil || b.Image != want || b.T != 1 || len(b.Pixels) != b.B*want[0]*want[1]*want[2] {
			return nil, fmt.Errorf("train: image batch of %d: %d pixel values of %v and T %d; the model reads %v images, T 1", b.B, len(b.Pixels), b.Image, b.T, want)
		}
		input = shapes.Make(dtypes.Float32, b.B, want[0], want[1], want[2])
		b.IDs = make([]int32, b.B) // no token ids to check below
	}
	if len(b.IDs) != b.B*b.T || len(b.Targets) != b.B*b.T || len(b.Mask) != b.B*b.T {
		return nil, fmt.Errorf("train: batch %dx%d has %d ids, %d targets, %d mask entries", b.B, b.T, len(b.IDs), len(b.Targets), len(b.Mask))
	}
	d := t.Model.Dims()
	if d.MaxCtx > 0 && b.T > d.MaxCtx {
		return nil, fmt.Errorf("train: sequence length %d exceeds the model's context %d", b.T, d.MaxCtx)
	}
	for i, id := range b.IDs {
		if id < 0 || int(id) >= d.Vocab || b.Targets[i] < 0 || int(b.Targets[i]) >= d.Vocab {
			return nil, fmt.Errorf("train: token %d or target %d at %d is outside the vocabulary [0,%d)", id, b.Targets[i], i, d.Vocab)
		}
	}
	key := [2]int{b.B, b.T}
	if e, ok := cache[key]; ok {
		return e, nil
	}
	e, err := NewExec(t.backend, fn)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	in := []shapes.Shape{input, shapes.Make(dtypes.Int32, b.B, b.T), shapes.Make(dtypes.Float32, b.B, b.T)}
	if withState {
		in = append(in, shapes.Make(dtypes.Float32, 3))
	}
	copies := 1 // the weights
	if withState {
		copies = 3 // and the moments
	}
	for range copies {
		for _, s := range t.specs {
			in = append(in, shapes.Make(dtypes.Float32, s.Shape...))
		}
	}
	if err := engine.Catch(func() error { _, err := e.Compile(in...); return err }); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	cache[key] = e
	return e, nil
}

// crossEntropy is the masked mean next-token cross-entropy of logits
// [B, T, V] against targets [B, T], and the per-position losses [B, T].
// The target's log-probability is gathered, not summed against a one-hot
// row: the same value (the other terms add ±0), without three passes over
// [B, T, V] forward and two backward.
//
// On the Go backend with glia's kernels, float32 logits go through one op
// (kernels.CrossEntropy: a pass per row forward, one backward) instead of
// the log-softmax's five passes and its gradient's six.
func crossEntropy(logits, targets, mask *Node) (mean, each *Node) {
	d := logits.Shape().Dimensions
	if each = kernels.CrossEntropy(logits, targets); each == nil { // [B, T]
		logp := Reshape(LogSoftmax(logits, -1), d[0]*d[1]*d[2])
		g, s := targets.Graph(), shapes.Make(dtypes.Int64, d[0], d[1])
		at := Add(MulScalar(Add(MulScalar(Iota(g, s, 0), d[1]), Iota(g, s, 1)), d[2]), ConvertDType(targets, dtypes.Int64)) // flat index of [b, t, target]
		each = Neg(Reshape(Gather(logp, Reshape(at, d[0]*d[1], 1)), d[0], d[1]))                                            // [B, T]
	}
	n := Max(ReduceAllSum(mask), ScalarOne(mask.Graph(), mask.DType()))
	return Div(ReduceAllSum(Mul(each, mask)), n), each
}

// stepGraph is one training step. Inputs: ids, targets, mask, sched
// [lr, 1-β₁ᵗ, 1-β₂ᵗ], then the weights, first moments and second moments
// (t.specs order each). Outputs: loss, gradient norm, then the updated
// weights and moments in the same order.
func (t *Trainer) stepGraph(in []*Node) []*Node {
	k := len(t.specs)
	sched, w, m, v := in[3], in[4:4+k], in[4+k:4+2*k], in[4+2*k:4+3*k]
	loss, norm, grads, sq := t.lossGrads(in[0], in[1], in[2], w)
	scale := clipScale(norm, t.Hyper.Clip)
	lr, bc1, bc2 := scalarAt(sched, 0), scalarAt(sched, 1), scalarAt(sched, 2)
	outs := []*Node{loss, norm}
	nw, nm, nv := make([]*Node, k), make([]*Node, k), make([]*Node, k)
	for i := range w {
		wd := 0.0
		if t.decay[i] {
			wd = t.Hyper.WeightDecay
		}
		nw[i], nm[i], nv[i] = adamW(w[i], grads[i], sq[i], scale, m[i], v[i], lr, bc1, bc2, t.Hyper, wd)
	}
	return append(append(append(outs, nw...), nm...), nv...)
}

// lossGrads is the masked mean cross-entropy of the batch, the gradients
// of the weights w, their squares and the global gradient norm. The
// squares serve both the norm and AdamW's second moments, and the clipping
// factor goes into the moments' coefficients: two passes over every weight
// fewer than clipping first.
func (t *Trainer) lossGrads(ids, targets, mask *Node, w []*Node) (loss, norm *Node, grads, sq []*Node) {
	loss, _ = crossEntropy(t.Model.Forward(ids, w), targets, mask)
	grads = Gradient(loss, w...)
	sq = make([]*Node, len(grads))
	for i, g := range grads {
		sq[i] = Square(g)
	}
	return loss, globalNorm(sq), grads, sq
}

func scalarAt(x *Node, i int) *Node { return Reshape(Slice(x, AxisElem(i))) }

// ClipByGlobalNorm returns the global gradient norm √Σ‖g‖² and the
// gradients scaled as PyTorch's clip_grad_norm_ scales them: by
// clip/(norm+1e-6) when that is below 1. clip 0 leaves them as they are.
// Package sae steps its dictionaries with it and AdamW.
func ClipByGlobalNorm(grads []*Node, clip float64) (norm *Node, clipped []*Node) {
	sq := make([]*Node, len(grads))
	for i, g := range grads {
		sq[i] = Square(g)
	}
	norm = globalNorm(sq)
	scale := clipScale(norm, clip)
	if scale == nil {
		return norm, grads
	}
	clipped = make([]*Node, len(grads))
	for i := range grads {
		clipped[i] = Mul(grads[i], scale)
	}
	return norm, clipped
}

// clipScale is clip_grad_norm_'s factor min(1, clip/(norm+1e-6)), nil for
// clip 0 (no clipping).
func clipScale(norm *Node, clip float64) *Node {
	if clip <= 0 {
		return nil
	}
	return MinScalar(Div(Scalar(norm.Graph(), dtypes.Float32, clip), AddScalar(norm, 1e-6)), 1.0)
}

// globalNorm is √Σ‖g‖² given every gradient's square.
func globalNorm(squares []*Node) *Node {
	var sum *Node
	for _, s := range squares {
		s = ReduceAllSum(s)
		if sum == nil {
			sum = s
		} else {
			sum = Add(sum, s)
		}
	}
	return Sqrt(sum)
}

// AdamW is one AdamW update in PyTorch's order (torch.optim.AdamW,
// non-amsgrad): decay the weight, update the moments, then step by
// lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε). lr, bc1 = 1-β₁ᵗ and bc2 = 1-β₂ᵗ are
// scalar nodes fed from the host each step; wd 0 is Adam.
func AdamW(w, g, m, v, lr, bc1, bc2 *Node, h Hyper, wd float64) (nw, nm, nv *Node) {
	return adamW(w, g, Square(g), nil, m, v, lr, bc1, bc2, h, wd)
}

// adamW is AdamW for the gradient scale·g given g and g² (scale nil: 1),
// written for few passes over the weight (twelve): the scale rides on the
// moments' coefficients, and m/bc1 / (√v/√bc2 + ε) is computed as
// (√bc2/bc1) · m/(√v + ε√bc2), which leaves no division by a broadcast
// scalar. Equal to PyTorch's order up to float32 rounding.
func adamW(w, g, g2, scale, m, v, lr, bc1, bc2 *Node, h Hyper, wd float64) (nw, nm, nv *Node) {
	if scale == nil {
		nm = Add(MulScalar(m, h.Beta1), MulScalar(g, 1-h.Beta1))
		nv = Add(MulScalar(v, h.Beta2), MulScalar(g2, 1-h.Beta2))
	} else {
		nm = Add(MulScalar(m, h.Beta1), Mul(g, MulScalar(scale, 1-h.Beta1)))
		nv = Add(MulScalar(v, h.Beta2), Mul(g2, MulScalar(Square(scale), 1-h.Beta2)))
	}
	sb := Sqrt(bc2)
	step := Mul(Div(nm, Add(Sqrt(nv), MulScalar(sb, h.Eps))), Div(Mul(lr, sb), bc1))
	if wd != 0 {
		w = Mul(w, OneMinus(MulScalar(lr, wd)))
	}
	return Sub(w, step), nm, nv
}

// evalGraph: inputs ids, targets, mask, weights; outputs the summed loss,
// the weight sum and the number of weighted positions whose argmax is the
// target.
func (t *Trainer) evalGraph(in []*Node) []*Node {
	ids, targets, mask := in[0], in[1], in[2]
	logits := t.Model.Forward(ids, in[3:])
	_, each := crossEntropy(logits, targets, mask)
	hit := ConvertDType(Equal(ArgMax(logits, -1, dtypes.Int32), targets), dtypes.Float32)
	return []*Node{ReduceAllSum(Mul(each, mask)), ReduceAllSum(mask), ReduceAllSum(Mul(hit, mask))}
}

// EvalResult is a held-out evaluation.
type EvalResult struct {
	Loss     float64 `json:"loss"`     // mean cross-entropy over weighted positions
	Accuracy float64 `json:"accuracy"` // fraction of them whose most likely token is the target
	Count    int     `json:"count"`    // weighted positions
}

// Evaluate runs the current weights over batches without updating them.
func (t *Trainer) Evaluate(batches []Batch) (EvalResult, error) {
	var loss, n, hit float64
	for _, b := range batches {
		e, err := t.compile(t.evals, b, t.evalGraph, false)
		if err != nil {
			return EvalResult{}, err
		}
		args, done := b.tensors()
		outs, err := e.Call(appendTensors(args, t.w)...)
		done()
		if err != nil {
			return EvalResult{}, fmt.Errorf("train: evaluating: %w", err)
		}
		loss += scalar(outs[0])
		n += scalar(outs[1])
		hit += scalar(outs[2])
		finalize(outs)
	}
	if n == 0 {
		return EvalResult{}, fmt.Errorf("train: the held-out set has no weighted positions")
	}
	return EvalResult{Loss: loss / n, Accuracy: hit / n, Count: int(n)}, nil
}

// Weights returns host copies of the current weights, named as the family
// names them in a checkpoint.
func (t *Trainer) Weights() []safetensors.Tensor { return t.host("", t.w) }

func (t *Trainer) host(prefix string, ts []*tensors.Tensor) []safetensors.Tensor {
	out := make([]safetensors.Tensor, len(ts))
	for i, x := range ts {
		var data []float32
		tensors.MustConstFlatData(x, func(f []float32) { data = append([]float32(nil), f...) })
		out[i] = safetensors.Tensor{Name: prefix + t.specs[i].Name, Shape: append([]int(nil), t.specs[i].Shape...), Data: data}
	}
	return out
}
