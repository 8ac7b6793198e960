package arch

import (
	"fmt"
	"math"
	"strings"

	"github.com/glia-dev/glia/engine/cpu/kernels"
	"github.com/glia-dev/glia/hook"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// smallMatMul is the size (rows·out·in) below which the CPU backend uses
// its "small" matmul kernels; there, contracting against a transposed
// operand runs as one short dot product per output and is ~5x slower than
// transposing the weight first.
const smallMatMul = 4 << 20

// Linear is x·Wᵀ + b for a PyTorch nn.Linear weight W [out, in]; b may be nil.
func Linear(x, w, b *Node) *Node {
	rows := x.Shape().Size() / x.Shape().Dimensions[x.Rank()-1]
	var y *Node
	if rows*w.Shape().Size() < smallMatMul {
		y = DotGeneral(x, []int{x.Rank() - 1}, nil, Transpose(w, 0, 1), []int{0}, nil)
	} else {
		y = DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{1}, nil)
	}
	if b != nil {
		y = Add(y, ExpandLeftToRank(b, y.Rank()))
	}
	return y
}

// Conv1D is x·W + b for a GPT-2 style Conv1D weight W [in, out].
func Conv1D(x, w, b *Node) *Node {
	y := DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{0}, nil)
	if b != nil {
		y = Add(y, ExpandLeftToRank(b, y.Rank()))
	}
	return y
}

// Embed gathers rows of table [vocab, d] for ids [batch, pos] → [batch, pos, d].
func Embed(table, ids *Node) *Node {
	b, t := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1]
	rows := Gather(table, Reshape(ids, b*t, 1))
	return Reshape(rows, b, t, table.Shape().Dimensions[1])
}

// PosEmbed is a learned position embedding: table's rows at in.Pos, or,
// for unpadded inputs (positions 0..pos-1 in every sequence), its first
// pos rows broadcast over the batch, which trains without the gather and
// its scatter-add gradient.
func PosEmbed(table *Node, in Inputs) *Node {
	if !in.Unpadded {
		return Embed(table, in.Pos)
	}
	b, t := in.Pos.Shape().Dimensions[0], in.Pos.Shape().Dimensions[1]
	d := table.Shape().Dimensions[1]
	rows := Slice(table, AxisRange(0, t), AxisRange()) // [pos, d_model]
	return BroadcastToDims(Reshape(rows, 1, t, d), b, t, d)
}

// LayerNorm normalises over the last axis: (x-μ)/√(σ²+eps)·w + b, recording
// prefix.hook_scale [batch, pos, 1] and prefix.hook_normalized (the output).
//
// Below float32 (bf16 compute) the whole norm runs in float32, gain and bias
// included, and its output is converted back, as PyTorch's layer_norm does.
func LayerNorm(hp *hook.Points, prefix string, x, w, b *Node, eps float64) *Node {
	dt := x.DType()
	x, w, b = toFloat32(x), toFloat32(w), toFloat32(b)
	if scaleHook := prefix + ".hook_scale"; !hp.Exact(scaleHook) {
		// One fused pass instead of eight elementwise ones. hook_scale is
		// still recorded for reading (and costs nothing unless read); it is
		// only off the output's path, so replacing or differentiating it
		// takes the primitive form below.
		centred := Sub(x, ReduceAndKeep(x, ReduceMean, -1))
		hp.At(Sqrt(AddScalar(ReduceAndKeep(Square(centred), ReduceMean, -1), eps)), "%s", scaleHook) // [batch, pos, 1]
		y, _ := InternalFusedOpCaller(
			func() *Node { return BackendFusedLayerNorm(x, []int{x.Rank() - 1}, eps, w, b) },
			func() *Node { return layerNormPrimitive(x, w, b, eps) },
			false) // differentiated by fusedLayerNormVJP

		return hp.At(convertTo(y, dt), "%s.hook_normalized", prefix) // [batch, pos, d_model]
	}
	x = Sub(x, ReduceAndKeep(x, ReduceMean, -1))
	scale := hp.At(Sqrt(AddScalar(ReduceAndKeep(Square(x), ReduceMean, -1), eps)), "%s.hook_scale", prefix) // [batch, pos, 1]
	y := Div(x, scale)
	y = Mul(y, ExpandLeftToRank(w, y.Rank()))
	if b != nil {
		y = Add(y, ExpandLeftToRank(b, y.Rank()))
	}
	return hp.At(convertTo(y, dt), "%s.hook_normalized", prefix) // [batch, pos, d_model]
}

func layerNormPrimitive(x, w, b *Node, eps float64) *Node {
	x = Sub(x, ReduceAndKeep(x, ReduceMean, -1))
	y := Div(x, Sqrt(AddScalar(ReduceAndKeep(Square(x), ReduceMean, -1), eps)))
	y = Mul(y, ExpandLeftToRank(w, y.Rank()))
	if b != nil {
		y = Add(y, ExpandLeftToRank(b, y.Rank()))
	}
	return y
}

// RMSNorm is x/√(mean(x²)+eps)·(offset+w): offset 0 for Llama, 1 for Gemma's
// zero-centred gain. With prefix != "" it records prefix.hook_scale and
// prefix.hook_normalized (the output).
//
// Below float32 (bf16 compute) the statistics and the gain run in float32
// and the output is converted back, as transformers' Llama and Gemma norms
// do (up to where the gain multiplies: within bf16 rounding).
func RMSNorm(hp *hook.Points, prefix string, x, w *Node, eps, offset float64) *Node {
	dt := x.DType()
	x, w = toFloat32(x), toFloat32(w)
	scale := Sqrt(AddScalar(ReduceAndKeep(Square(x), ReduceMean, -1), eps)) // [batch, pos, 1]
	if prefix != "" {
		scale = hp.At(scale, "%s.hook_scale", prefix)
	}
	y := Div(x, scale)
	g := w
	if offset != 0 {
		g = AddScalar(w, offset)
	}
	y = convertTo(Mul(y, ExpandLeftToRank(g, y.Rank())), dt)
	if prefix != "" {
		y = hp.At(y, "%s.hook_normalized", prefix) // [batch, pos, d]
	}
	return y
}

// GeluTanh is GELU's tanh approximation (HF gelu_new / gelu_pytorch_tanh):
// the backend's fused kernel (parallel, no intermediate tensors) when it has
// one, with the hand-written gradient fusedGeluVJP; backends without it
// (XLA) run the primitive form and its autodiff. Beware nn.Dense's fused
// activation: it computes the erf form even when asked for this one.
func GeluTanh(x *Node) *Node {
	y, _ := InternalFusedOpCaller(
		func() *Node { return BackendFusedGelu(x, false) },
		func() *Node { return geluTanhPrimitive(x) },
		false)
	return y
}

// GoMLX v0.28.2 defines no gradient for FusedGelu: its own callers hand
// autodiff the primitive form instead, which in training recomputes that
// form's nine element-wise passes next to the fused kernel and then
// differentiates them in about sixteen more, each over a tensor as large as
// the MLP's hidden layer. The derivative written out takes thirteen and
// leaves the forward pass to the fused kernel alone.
func init() {
	for t, vjp := range map[NodeType]VJP{NodeTypeFusedGelu: fusedGeluVJP, NodeTypeFusedSoftmax: fusedSoftmaxVJP, NodeTypeFusedLayerNorm: fusedLayerNormVJP} {
		if _, ok := VJPRegistration[t]; !ok {
			VJPRegistration[t] = vjp
		}
	}
}

// softmaxLast is graph.Softmax over the last axis (the same fused kernel,
// or the same primitive form where the backend has none), differentiated
// by fusedSoftmaxVJP instead of autodiff of the primitive form, which in
// training recomputed the softmax in five passes and differentiated them
// in about eight more over every attention pattern.
func softmaxLast(x *Node) *Node {
	y, _ := InternalFusedOpCaller(
		func() *Node { return BackendFusedSoftmax(x, x.Rank()-1) },
		func() *Node { return Softmax(x, -1) },
		false)
	return y
}

// fusedSoftmaxVJP is y·(v - Σ v·y) along the softmax's axis (four passes).
func fusedSoftmaxVJP(node *Node, v []*Node, _ shapes.Shape) []*Node {
	// The node keeps its axis only in its description.
	desc, axis := node.String(), -1
	if i := strings.Index(desc, "axis="); i >= 0 {
		fmt.Sscanf(desc[i:], "axis=%d", &axis)
	}
	if axis < 0 || axis >= node.Rank() {
		panic(fmt.Errorf("arch: no softmax axis in %q", desc))
	}
	return []*Node{Mul(node, Sub(v[0], ReduceAndKeep(Mul(v[0], node), ReduceSum, axis)))}
}

// fusedLayerNormVJP is the layer norm's gradient written out, over the
// last axis (the only one LayerNorm normalises): with x̂ = (x-μ)·r,
// r = 1/√(σ²+eps) and g = v·γ,
//
//	dx = r·(g - mean(g) - x̂·mean(g·x̂)),  dγ = Σ v·x̂,  dβ = Σ v
//
// (sums over every axis but the last): sixteen passes. GoMLX v0.28.2 has
// none and differentiated the decomposed form instead, which in training
// also recomputed that form's forward pass beside the fused kernel.
func fusedLayerNormVJP(node *Node, v []*Node, _ shapes.Shape) []*Node {
	desc := node.String()
	in := node.Inputs()
	x := in[0]
	var eps float64
	if i := strings.Index(desc, "epsilon="); i < 0 || !strings.Contains(desc, fmt.Sprintf("axes=[%d]", x.Rank()-1)) {
		panic(fmt.Errorf("arch: no last-axis layer norm in %q", desc))
	} else if _, err := fmt.Sscanf(desc[i:], "epsilon=%g", &eps); err != nil {
		panic(fmt.Errorf("arch: layer norm epsilon in %q: %w", desc, err))
	}
	hasGamma, hasBeta := !strings.Contains(desc, "gamma=nil"), !strings.Contains(desc, "beta=nil")
	var gamma *Node
	if hasGamma {
		gamma = in[1]
	}
	var dx, dGamma, dBeta *Node
	if dx = kernels.LayerNormGrad(x, gamma, v[0], eps); dx != nil {
		p := kernels.LayerNormParamGrad(x, v[0], eps) // [2, d]: gain, bias
		d := x.Shape().Dim(-1)
		dGamma, dBeta = Reshape(Slice(p, AxisElem(0), AxisRange()), d), Reshape(Slice(p, AxisElem(1), AxisRange()), d)
	} else {
		rows := make([]int, x.Rank()-1)
		for i := range rows {
			rows[i] = i
		}
		xc := Sub(x, ReduceAndKeep(x, ReduceMean, -1))
		r := Rsqrt(AddScalar(ReduceAndKeep(Square(xc), ReduceMean, -1), eps))
		xhat := Mul(xc, r)
		g := v[0]
		if hasGamma {
			g = Mul(g, ExpandLeftToRank(gamma, x.Rank()))
		}
		m1 := ReduceAndKeep(g, ReduceMean, -1)
		m2 := ReduceAndKeep(Mul(g, xhat), ReduceMean, -1)
		dx = Mul(Sub(Sub(g, m1), Mul(xhat, m2)), r)
		dGamma, dBeta = ReduceSum(Mul(v[0], xhat), rows...), ReduceSum(v[0], rows...)
	}
	grads := []*Node{dx}
	if hasGamma {
		grads = append(grads, dGamma)
	}
	if hasBeta {
		grads = append(grads, dBeta)
	}
	if len(grads) != len(in) {
		panic(fmt.Errorf("arch: layer norm %q has %d inputs, gradient for %d", desc, len(in), len(grads)))
	}
	return grads
}

// fusedGeluVJP is v·GELU'(x). The node keeps its exact flag only in its
// description, hence the string test.
func fusedGeluVJP(node *Node, v []*Node, _ shapes.Shape) []*Node {
	x := node.Inputs()[0]
	if strings.Contains(node.String(), "exact=true") {
		return []*Node{Mul(v[0], geluErfGrad(x))}
	}
	if g := kernels.GeluTanhGrad(x, node, v[0]); g != nil {
		return []*Node{g}
	}
	return []*Node{Mul(v[0], geluTanhGrad(x))}
}

// geluTanhGrad is d/dx ½x(1+t), t = tanh(u), u = c(x+ax³):
// ½(1+t) + ½x(1-t²)·c(1+3ax²). With s = σ(2u), 1+t = 2s and 1-t = 2(1-s),
// so it is s·(1 + (1-s)·cx(2+6ax²)): thirteen passes with the sigmoid,
// which glia's CPU kernels run in SIMD, where tanh goes through float64.
func geluTanhGrad(x *Node) *Node {
	const a = 0.044715
	c := math.Sqrt(2 / math.Pi)
	x2 := Square(x)
	s := Logistic(Mul(x, AddScalar(MulScalar(x2, 2*c*a), 2*c)))
	w := Mul(x, AddScalar(MulScalar(x2, 6*c*a), 2*c))
	return Mul(s, OnePlus(Mul(w, OneMinus(s))))
}

// geluErfGrad is d/dx ½x(1+erf(x/√2)) = ½(1+erf(x/√2)) + x·φ(x).
func geluErfGrad(x *Node) *Node {
	phi := MulScalar(Exp(MulScalar(Square(x), -0.5)), 1/math.Sqrt(2*math.Pi))
	return Add(MulScalar(OnePlus(Erf(MulScalar(x, 1/math.Sqrt2))), 0.5), Mul(x, phi))
}

func geluTanhPrimitive(x *Node) *Node {
	inner := MulScalar(Add(x, MulScalar(Mul(x, Square(x)), 0.044715)), math.Sqrt(2/math.Pi))
	return Mul(MulScalar(x, 0.5), OnePlus(Tanh(inner)))
}

// Gelu is the exact erf GELU (HF "gelu").
func Gelu(x *Node) *Node {
	return Mul(MulScalar(x, 0.5), OnePlus(Erf(MulScalar(x, 1/math.Sqrt2))))
}

// SiLU is x·σ(x).
func SiLU(x *Node) *Node { return Mul(x, Sigmoid(x)) }

// Activation returns the activation named by a HF config (hidden_act).
func Activation(c *Config, name string) func(*Node) *Node {
	switch name {
	case "silu", "swish":
		return SiLU
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_approximate":
		return GeluTanh
	case "gelu":
		return Gelu
	case "relu":
		return func(x *Node) *Node { return Max(x, ZerosLike(x)) }
	}
	c.fail("unsupported activation %q (supported: silu, gelu, gelu_new, gelu_pytorch_tanh, relu)", name)
	return SiLU
}

// SplitHeads reshapes [batch, pos, heads*d_head] to [batch, pos, heads, d_head].
func SplitHeads(x *Node, heads int) *Node {
	d := x.Shape().Dimensions
	return Reshape(x, d[0], d[1], heads, d[2]/heads)
}

// MergeHeads reshapes [batch, pos, heads, d_head] to [batch, pos, heads*d_head].
func MergeHeads(x *Node) *Node {
	d := x.Shape().Dimensions
	return Reshape(x, d[0], d[1], d[2]*d[3])
}

// AttnOpts are the per-layer choices of scaled dot-product attention.
type AttnOpts struct {
	Scale   float64 // multiplies q·k (usually 1/√d_head)
	SoftCap float64 // Gemma-2 attention logit soft-capping: cap·tanh(s/cap); 0 = off
	Window  int     // sliding window: key k is visible from query q iff q-k < Window; 0 = full
	// Bidirectional: every query sees every key (encoders such as ViT,
	// whose inputs have no padding); Window and Inputs.Mask are unused.
	Bidirectional bool
}

// minScore is what masked scores are set to: finite, as in transformers, so a
// fully-masked (padding) query row gives a uniform pattern instead of NaN.
const minScore = -math.MaxFloat32

// Attention is causal softmax attention over q [batch, pos, heads, d_head] and
// k, v [batch, pos, kv_heads, d_head] (grouped-query heads share kv heads in
// order), recording blocks.{l}.attn.hook_attn_scores, hook_pattern and
// hook_z. It returns z [batch, pos, heads, d_head].
func Attention(hp *hook.Points, l int, q, k, v *Node, in Inputs, o AttnOpts) *Node {
	if c := in.Cache; c != nil {
		// Write the new keys and values at their positions; attend over
		// the whole cache (slots past each query's position are masked).
		c.K[l] = writeSlots(c.K[l], convertTo(k, c.K[l].DType()), c.Len) // [batch, capacity, kv_heads, d_head]
		c.V[l] = writeSlots(c.V[l], convertTo(v, c.V[l].DType()), c.Len) // [batch, capacity, kv_heads, d_head]
		k, v = convertTo(c.K[l], k.DType()), convertTo(c.V[l], v.DType())
	}
	scoresHook, patternHook := fmt.Sprintf("blocks.%d.attn.hook_attn_scores", l), fmt.Sprintf("blocks.%d.attn.hook_pattern", l)
	t := q.Shape().Dimensions[1]
	var z *Node // [batch, pos, head, d_head]
	if in.Unpadded && in.Cache == nil && o.SoftCap == 0 && o.Scale != 0 && (o.Window == 0 || o.Window >= t) && q.DType() == dtypes.Float32 &&
		!hp.Needed(scoresHook) && !hp.Needed(patternHook) && kernels.Available(q.Graph()) {
		// One op for the whole attention, forward and backward, where the
		// backend has it (engine/cpu/attention); the graph below otherwise.
		z, _ = InternalFusedOpCaller(
			func() *Node {
				out, _ := BackendFusedScaledDotProductAttention(q, k, v, compute.AttentionAxesLayoutBSHD,
					&compute.ScaledDotProductAttentionConfig{Scale: o.Scale, Causal: !o.Bidirectional})
				return out
			},
			func() *Node { return attentionGraph(hp, scoresHook, patternHook, q, k, v, in, o) },
			false)
	} else {
		z = attentionGraph(hp, scoresHook, patternHook, q, k, v, in, o)
	}
	return hp.At(z, "blocks.%d.attn.hook_z", l) // [batch, pos, head, d_head]
}

// attentionGraph is Attention in graph ops: scores and pattern
// materialised (and recorded in hp), long sequences in query chunks.
func attentionGraph(hp *hook.Points, scoresHook, patternHook string, q, k, v *Node, in Inputs, o AttnOpts) *Node {
	heads, kvHeads := q.Shape().Dimensions[2], k.Shape().Dimensions[2]
	k, v = repeatKV(k, heads/kvHeads), repeatKV(v, heads/kvHeads)
	// Batched over (batch·head) with k transposed to [d_head, k]: the
	// layout the CPU backend's matmul kernels run fastest (a contraction
	// over the short d_head axis as dot products is ~50x slower).
	b, t, d := q.Shape().Dimensions[0], q.Shape().Dimensions[1], q.Shape().Dimensions[3]
	tk := k.Shape().Dimensions[1]                                  // keys: t, or the cache's capacity
	qh := Reshape(TransposeAllAxes(q, 0, 2, 1, 3), b*heads, t, d)  // [batch·head, q, d_head]
	kt := Reshape(TransposeAllAxes(k, 0, 2, 3, 1), b*heads, d, tk) // [batch·head, d_head, k]
	vh := Reshape(TransposeAllAxes(v, 0, 2, 1, 3), b*heads, tk, d) // [batch·head, k, d_head]
	var mask *Node                                                 // [batch, 1, q, k]
	if o.Bidirectional {
		mask = BroadcastToDims(Const(q.Graph(), true), b, 1, t, tk)
	} else {
		mask = attentionMask(in, o.Window, tk)
	}
	var z *Node // [batch·head, q, d_head]
	// Chunks only in float32 without soft-capping: every op on the chunked
	// branches is then one of glia's CPU kernels (engine/cpu/kernels), which
	// use their own goroutines. Some of compute's stock kernels wait for
	// its worker pool from inside a pool worker, and enough parallel
	// branches of them deadlock; the engine sets in.AttnChunk to 0 where
	// they would run.
	n := in.AttnChunk
	chunk := n > 0 && t > n && q.DType() == dtypes.Float32 && o.SoftCap == 0
	if !chunk || hp.Needed(scoresHook) || hp.Needed(patternHook) {
		z = attend(hp, scoresHook, patternHook, qh, kt, vh, mask, b, heads, o)
	} else {
		// Long sequences whose patterns nobody reads: queries in chunks, so
		// only a chunk's [batch, head, chunk, k] scores live at once.
		var zs []*Node
		for q0 := 0; q0 < t; q0 += n {
			q1 := min(t, q0+n)
			zs = append(zs, attend(nil, "", "", Slice(qh, AxisRange(), AxisRange(q0, q1), AxisRange()), kt, vh,
				Slice(mask, AxisRange(), AxisRange(), AxisRange(q0, q1), AxisRange()), b, heads, o))
		}
		z = Concatenate(zs, 1)
	}
	return TransposeAllAxes(Reshape(z, b, heads, t, d), 0, 2, 1, 3) // [batch, pos, head, d_head]
}

// attend is softmax attention of qh [batch·head, q, d_head] over kt
// [batch·head, d_head, k] and vh [batch·head, k, d_head] under mask
// [batch, 1, q, k], returning z [batch·head, q, d_head]; with hp it records
// the scores and pattern hooks.
func attend(hp *hook.Points, scoresHook, patternHook string, qh, kt, vh, mask *Node, b, heads int, o AttnOpts) *Node {
	t, tk := qh.Shape().Dimensions[1], kt.Shape().Dimensions[2]
	scores := Reshape(DotGeneral(qh, []int{2}, []int{0}, kt, []int{1}, []int{0}), b, heads, t, tk) // [batch, head, q, k]
	scores = MulScalar(scores, o.Scale)
	if o.SoftCap > 0 {
		scores = MulScalar(Tanh(DivScalar(scores, o.SoftCap)), o.SoftCap)
	}
	// Masking and softmax in float32 (a bf16 run's scores are converted, as
	// transformers' eager attention does), the pattern back in the compute dtype.
	dt := scores.DType()
	scores = toFloat32(scores)
	scores = Where(BroadcastToDims(mask, scores.Shape().Dimensions...), scores, Scalar(scores.Graph(), scores.DType(), minScore))
	if hp != nil {
		scores = hp.At(scores, "%s", scoresHook) // [batch, head, q, k]
	}
	pattern := convertTo(softmaxLast(scores), dt)
	if hp != nil {
		pattern = hp.At(pattern, "%s", patternHook) // [batch, head, q, k]
	}
	return DotGeneral(Reshape(pattern, b*heads, t, tk), []int{2}, []int{0}, vh, []int{1}, []int{0}) // [batch·head, q, d_head]
}

// writeSlots returns cache [batch, capacity, h, d] with x [batch, t, h, d]
// written at slots [at, at+t). (The Go backend has no DynamicUpdateSlice:
// each slot picks its row of x by a gather, and a mask keeps the others.)
func writeSlots(cache, x, at *Node) *Node {
	g := cache.Graph()
	dims := cache.Shape().Dimensions
	c, t := dims[1], x.Shape().Dimensions[1]
	rel := Sub(Iota(g, shapeI32(c), 0), at) // slot - at
	inside := LogicalAnd(GreaterOrEqual(rel, ScalarZero(g, dtypes.Int32)), LessThan(rel, Scalar(g, dtypes.Int32, t)))
	var rows *Node // [batch, capacity, h, d]: each slot's candidate row of x
	if t == 1 {
		rows = BroadcastToDims(x, dims...) // a generation step: no gather needed
	} else {
		idx := Min(Max(rel, ScalarZero(g, dtypes.Int32)), Scalar(g, dtypes.Int32, t-1))
		rows = TransposeAllAxes(Gather(TransposeAllAxes(x, 1, 0, 2, 3), Reshape(idx, c, 1)), 1, 0, 2, 3)
	}
	return Where(BroadcastToDims(Reshape(inside, 1, c, 1, 1), dims...), rows, cache)
}

// repeatKV gives each of the rep query heads of a group its kv head:
// [batch, pos, kv, d] → [batch, pos, kv*rep, d].
func repeatKV(x *Node, rep int) *Node {
	if rep == 1 {
		return x
	}
	d := x.Shape().Dimensions
	x = BroadcastToDims(InsertAxes(x, 3), d[0], d[1], d[2], rep, d[3])
	return Reshape(x, d[0], d[1], d[2]*rep, d[3])
}

// attentionMask is [batch, 1, q, k] bool over tk keys: causal, within the
// window, and only onto real (unpadded) keys. With a cache, query i is at
// position Len+i and key slot j at position j.
func attentionMask(in Inputs, window, tk int) *Node {
	g := in.IDs.Graph()
	b, t := in.IDs.Shape().Dimensions[0], in.IDs.Shape().Dimensions[1]
	qi := Iota(g, shapeI32(t, tk), 0)
	if in.Cache != nil {
		qi = Add(qi, in.Cache.Len)
	}
	ki := Iota(g, shapeI32(t, tk), 1)
	m := GreaterOrEqual(qi, ki)
	if window > 0 && (window < tk || in.Cache != nil) {
		m = LogicalAnd(m, LessThan(Sub(qi, ki), Scalar(g, dtypes.Int32, window)))
	}
	m = BroadcastToDims(Reshape(m, 1, 1, t, tk), b, 1, t, tk)
	if in.Cache != nil {
		return m
	}
	keys := BroadcastToDims(Reshape(in.Mask, b, 1, 1, t), b, 1, t, t)
	return LogicalAnd(m, keys)
}

// toFloat32 converts a floating-point node to float32 (nil and float32 pass).
func toFloat32(x *Node) *Node {
	if x == nil || x.DType() == dtypes.Float32 {
		return x
	}
	return ConvertDType(x, dtypes.Float32)
}

// convertTo converts x to dt when it differs.
func convertTo(x *Node, dt dtypes.DType) *Node {
	if x.DType() == dt {
		return x
	}
	return ConvertDType(x, dt)
}

// FirstMax is the maximum over axis with its gradient sent to the first
// maximum only (row-major within the axis), as PyTorch's and onnxruntime's
// max pooling do. GoMLX's ReduceMax sends the whole gradient to every tied
// element, and ties are common in pooling windows (after a ReLU, over a
// blank image region, at hard-swish's floor): Grad-CAM's channel weights
// would count a window's gradient once per tie.
func FirstMax(x *Node, axis int) *Node {
	d := x.Shape().Dimensions
	first := ExpandAxes(StopGradient(ArgMax(x, axis)), axis)
	pick := Equal(Iota(x.Graph(), shapes.Make(dtypes.Int32, d...), axis), BroadcastToDims(first, d...))
	return ReduceSum(Where(pick, x, ZerosLike(x)), axis)
}
