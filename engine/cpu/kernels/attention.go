//go:build !nokernels

package kernels

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"

	"github.com/glia-dev/glia/engine/cpu/attention"
)

// Fused attention on the Go backend. compute v0.1.2 declares the graph op
// (FusedScaledDotProductAttention and its VJP, which GoMLX differentiates
// through) but leaves the Go backend's builder unregistered (its kernel
// was slower than the decomposed ops) and has no backward at all. glia
// registers both builders and runs package attention's kernels. They take
// only what glia's training graphs ask for: float32 [batch, seq, heads,
// d_head] (BSHD), keys as long as queries, causal or full, no mask, bias or
// sequence lengths; anything else is ErrNotImplemented, so the caller
// (graph.InternalFusedOpCaller) builds the decomposed attention instead.

// registration mirrors gobackend.OpHandlerRegistration[F]; the builders'
// *gobackend.Function argument is a pointer, passed as unsafe.Pointer.
type registration[F any] struct {
	Method   string
	Priority int
	Fn       F
}

type (
	sdpaBuilder func(f unsafe.Pointer, q, k, v compute.Value, layout compute.AttentionAxesLayout,
		opts *compute.ScaledDotProductAttentionConfig) (compute.Value, []compute.Value, error)
	sdpaVJPBuilder func(f unsafe.Pointer, q, k, v compute.Value, layout compute.AttentionAxesLayout,
		opts *compute.ScaledDotProductAttentionConfig, out compute.Value, states []compute.Value,
		dOut compute.Value) (compute.Value, compute.Value, compute.Value, error)
	multiExecutor func(backend unsafe.Pointer, n *node, inputs []*buffer, owned []bool) ([]*buffer, error)
)

//go:linkname regSDPA github.com/gomlx/compute/internal/gobackend.RegisterFusedScaledDotProductAttention
var regSDPA registration[sdpaBuilder]

//go:linkname regSDPAVJP github.com/gomlx/compute/internal/gobackend.RegisterFusedScaledDotProductAttentionVJP
var regSDPAVJP registration[sdpaVJPBuilder]

//go:linkname multiOutputExecutors github.com/gomlx/compute/internal/gobackend.MultiOutputsNodeExecutors
var multiOutputExecutors [compute.OpTypeLast]multiExecutor

//go:linkname verifyAndCastValues github.com/gomlx/compute/internal/gobackend.(*Function).VerifyAndCastValues
func verifyAndCastValues(f unsafe.Pointer, name string, values ...compute.Value) ([]*node, error)

//go:linkname newNode github.com/gomlx/compute/internal/gobackend.(*Function).NewNode
func newNode(f unsafe.Pointer, op compute.OpType, shape shapes.Shape, inputs ...*node) *node

//go:linkname newMultiOutputsNode github.com/gomlx/compute/internal/gobackend.(*Function).NewMultiOutputsNode
func newMultiOutputsNode(f unsafe.Pointer, op compute.OpType, outputShapes []shapes.Shape, inputs ...*node) *node

// attentionData is the node data of glia's attention nodes.
type attentionData struct{ dims attention.Dims }

func installAttention() (string, error) {
	if err := mirrorsChecked("attention"); err != nil {
		return "", err
	}
	regSDPA.Fn, regSDPA.Priority = buildAttention, priorityUser
	regSDPAVJP.Fn, regSDPAVJP.Priority = buildAttentionVJP, priorityUser
	setNodeExecutor(compute.OpTypeFusedScaledDotProductAttention, priorityUser, execAttention)
	multiOutputExecutors[compute.OpTypeFusedScaledDotProductAttentionVJP] = execAttentionVJP
	return "attention f32 (fused, causal or full, with its gradient): glia", nil
}

func notImplemented(why string) error {
	return fmt.Errorf("glia fused attention: %s: %w", why, compute.ErrNotImplemented)
}

// attentionDims checks the op's inputs against what the kernels run.
func attentionDims(q, k, v *node, layout compute.AttentionAxesLayout, o *compute.ScaledDotProductAttentionConfig) (attention.Dims, error) {
	var d attention.Dims
	if layout != compute.AttentionAxesLayoutBSHD {
		return d, notImplemented("layout " + layout.String())
	}
	if o != nil && (o.Mask != nil || o.Bias != nil || o.QuerySeqLen != nil || o.KeyValueSeqLen != nil || o.QuantizedMatmuls) {
		return d, notImplemented("mask, bias, sequence lengths or quantized matmuls")
	}
	for _, x := range []*node{q, k, v} {
		if x.Shape.DType != dtypes.Float32 || x.Shape.Rank() != 4 {
			return d, notImplemented("input " + x.Shape.String())
		}
	}
	qd, kd := q.Shape.Dimensions, k.Shape.Dimensions
	if !k.Shape.Equal(v.Shape) || kd[0] != qd[0] || kd[1] != qd[1] || kd[3] != qd[3] || kd[2] == 0 || qd[2]%kd[2] != 0 {
		return d, notImplemented(fmt.Sprintf("shapes q %s, k %s, v %s", q.Shape, k.Shape, v.Shape))
	}
	d = attention.Dims{Batch: qd[0], Seq: qd[1], Heads: qd[2], KVHeads: kd[2], HeadDim: qd[3]}
	scale := 0.0
	if o != nil {
		scale, d.Causal = o.Scale, o.Causal
	}
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(d.HeadDim))
	}
	d.Scale = float32(scale)
	return d, nil
}

// asValue returns n as a compute.Value, with the dynamic type (the
// backend's *Node) of like, one of the builder's own arguments.
func asValue(like compute.Value, n *node) compute.Value {
	type iface struct{ tab, data unsafe.Pointer }
	w := *(*iface)(unsafe.Pointer(&like))
	w.data = unsafe.Pointer(n)
	return *(*compute.Value)(unsafe.Pointer(&w))
}

func buildAttention(f unsafe.Pointer, q, k, v compute.Value, layout compute.AttentionAxesLayout,
	opts *compute.ScaledDotProductAttentionConfig) (compute.Value, []compute.Value, error) {
	if op := customOf(opts); op != nil {
		out, err := buildCustom(f, *op, q, q, k, v)
		return out, nil, err
	}
	in, err := verifyAndCastValues(f, "FusedScaledDotProductAttention", q, k, v)
	if err != nil {
		return nil, nil, err
	}
	d, err := attentionDims(in[0], in[1], in[2], layout, opts)
	if err != nil {
		return nil, nil, err
	}
	n := newNode(f, compute.OpTypeFusedScaledDotProductAttention, in[0].Shape.Clone(), in...)
	n.Data = &attentionData{d}
	return asValue(q, n), nil, nil
}

func buildAttentionVJP(f unsafe.Pointer, q, k, v compute.Value, layout compute.AttentionAxesLayout,
	opts *compute.ScaledDotProductAttentionConfig, out compute.Value, states []compute.Value,
	dOut compute.Value) (compute.Value, compute.Value, compute.Value, error) {
	if op := customOf(opts); op != nil {
		return buildCustomVJP(f, *op, q, k, v, out, dOut)
	}
	if len(states) != 0 {
		return nil, nil, nil, notImplemented("states from another backend's forward")
	}
	in, err := verifyAndCastValues(f, "FusedScaledDotProductAttentionVJP", q, k, v, out, dOut)
	if err != nil {
		return nil, nil, nil, err
	}
	d, err := attentionDims(in[0], in[1], in[2], layout, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	if !in[3].Shape.Equal(in[0].Shape) || !in[4].Shape.Equal(in[0].Shape) {
		return nil, nil, nil, fmt.Errorf("FusedScaledDotProductAttentionVJP: output %s and its gradient %s must be shaped as the query %s",
			in[3].Shape, in[4].Shape, in[0].Shape)
	}
	a, b, c := vjpNode(f, q, &attentionData{d}, in, in[0].Shape, in[1].Shape, in[2].Shape)
	return a, b, c, nil
}

// vjpNode adds a VJP node (three outputs, of the given shapes) over in
// with data, and returns its outputs as values like like.
func vjpNode(f unsafe.Pointer, like compute.Value, data any, in []*node, s0, s1, s2 shapes.Shape) (compute.Value, compute.Value, compute.Value) {
	n := newMultiOutputsNode(f, compute.OpTypeFusedScaledDotProductAttentionVJP, []shapes.Shape{s0.Clone(), s1.Clone(), s2.Clone()}, in...)
	n.Data = data
	o := n.MultiOutputsNodes
	return asValue(like, (*node)(o[0])), asValue(like, (*node)(o[1])), asValue(like, (*node)(o[2]))
}

func attentionInputs(n *node, inputs []*buffer, want int) (attention.Dims, [][]float32, error) {
	d, ok := n.Data.(*attentionData)
	if !ok || len(inputs) != want {
		return attention.Dims{}, nil, fmt.Errorf("glia attention: node data %T with %d inputs", n.Data, len(inputs))
	}
	xs, err := flatInputs("glia attention", inputs)
	return d.dims, xs, err
}

// flatInputs is every input buffer's float32 data.
func flatInputs(what string, inputs []*buffer) ([][]float32, error) {
	xs := make([][]float32, len(inputs))
	for i, b := range inputs {
		var ok bool
		if xs[i], ok = float32s(b); !ok {
			return nil, fmt.Errorf("%s: input %d is %s", what, i, b.RawShape)
		}
	}
	return xs, nil
}

// newOutputs allocates a buffer of each shape and returns their data.
func newOutputs(backend unsafe.Pointer, ss ...shapes.Shape) ([]*buffer, [][]float32, error) {
	outs, flat := make([]*buffer, len(ss)), make([][]float32, len(ss))
	for i, s := range ss {
		var err error
		if outs[i], err = getBuffer(backend, s); err != nil {
			return nil, nil, err
		}
		flat[i], _ = float32s(outs[i])
	}
	return outs, flat, nil
}

func execAttention(backend unsafe.Pointer, n *node, inputs []*buffer, _ []bool) (*buffer, error) {
	if op, ok := n.Data.(*customOp); ok {
		return execCustom(backend, n, op, inputs)
	}
	d, x, err := attentionInputs(n, inputs, 3)
	if err != nil {
		return nil, err
	}
	out, y, err := newOutputs(backend, n.Shape)
	if err != nil {
		return nil, err
	}
	attention.Forward(y[0], x[0], x[1], x[2], d)
	handled[n.OpType].Add(1)
	return out[0], nil
}

func execAttentionVJP(backend unsafe.Pointer, n *node, inputs []*buffer, _ []bool) ([]*buffer, error) {
	if op, ok := n.Data.(*customOp); ok {
		return execCustomVJP(backend, n, op, inputs)
	}
	d, x, err := attentionInputs(n, inputs, 5)
	if err != nil {
		return nil, err
	}
	outs, grads, err := newOutputs(backend, n.MultiOutputsShapes...)
	if err != nil {
		return nil, err
	}
	attention.Backward(grads[0], grads[1], grads[2], x[0], x[1], x[2], x[3], x[4], d)
	handled[n.OpType].Add(1)
	return outs, nil
}
