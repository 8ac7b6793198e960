// Package cnn is a plain convolutional image classifier (model_type "cnn",
// a glia schema): config.json lists the layers of a PyTorch nn.Sequential
// stored under the name "layers", and the safetensors file holds that
// Sequential's state_dict with the prefix "layers." — so any
//
//	model.layers = nn.Sequential(Conv2d, BatchNorm2d, ReLU, MaxPool2d, …, Flatten, Linear)
//
// exports by writing its modules' hyperparameters (docs/vision.md has the
// schema and tools/vision/make_fixtures.py an exporter):
//
//	{"model_type": "cnn", "num_channels": 1, "image_size": 28, "num_labels": 10,
//	 "layers": [{"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
//	            {"type": "batchnorm2d"}, {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
//	            {"type": "flatten"}, {"type": "linear", "out_features": 10}]}
//
// Every layer's output is a hook, layers.{i}.{type}.hook_out: [batch,
// channel, h, w] up to flatten, [batch, features] after it; hook_pixels is
// the input. Batch norm runs as written from its running statistics
// (evaluation mode), not folded into the convolution, so its output is a
// hook of its own. Logits are [batch, 1, num_labels] (arch.ImageFamily).
package cnn

import (
	"fmt"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/hook"
	. "github.com/gomlx/gomlx/core/graph"
	timage "github.com/gomlx/gomlx/core/tensors/images"
)

func init() { arch.Register("cnn", New) }

const (
	maxSide   = 4096 // image and kernel sides
	maxLayers = 256
)

// layer is one module of the Sequential, with the shape it produces.
type layer struct {
	kind                     string
	out, kernel, stride, pad int
	bias                     bool
	eps                      float64
	in                       shape // input shape
	shape                    shape // output shape
}

// shape is [channels, h, w], or [features] after flatten (h = w = 0).
type shape struct{ c, h, w int }

func (s shape) flat() bool { return s.h == 0 }

// Model is one configured CNN.
type Model struct {
	dims   arch.Dims
	input  shape
	layers []layer
}

// New reads the glia CNN config and infers every layer's shape.
func New(c *arch.Config) (arch.Family, error) {
	m := &Model{input: shape{c.Int("num_channels", 1), c.Int("image_size", -1), 0}}
	m.input.w = m.input.h
	labels := arch.NumLabels(c)
	raw, ok := c.Raw("layers").([]any)
	if err := c.Err(); err != nil {
		return nil, err
	}
	switch {
	case !ok || len(raw) == 0:
		return nil, fmt.Errorf(`"layers" must be a non-empty list of layer objects`)
	case len(raw) > maxLayers:
		return nil, fmt.Errorf(`"layers" has %d entries (at most %d)`, len(raw), maxLayers)
	case m.input.c < 1 || m.input.c > 16:
		return nil, fmt.Errorf("num_channels %d is out of range [1, 16]", m.input.c)
	case m.input.h < 1 || m.input.h > maxSide:
		return nil, fmt.Errorf("image_size %d is out of range [1, %d]", m.input.h, maxSide)
	}
	cur := m.input
	widest, weighted := cur.c, 0
	for i := range raw {
		obj, ok := raw[i].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("layers[%d] is not an object", i)
		}
		lc := arch.NewConfig(fmt.Sprintf("%s: layers[%d]", c.Source, i), obj)
		l, err := newLayer(lc, cur, c.MaxDim())
		if err == nil {
			err = lc.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("layers[%d]: %w", i, err)
		}
		m.layers = append(m.layers, l)
		cur = l.shape
		widest = max(widest, cur.c)
		if l.kind == "conv2d" || l.kind == "batchnorm2d" || l.kind == "linear" {
			weighted++
		}
	}
	if weighted == 0 {
		return nil, fmt.Errorf(`"layers" has no conv2d, batchnorm2d or linear layer`)
	}
	if !cur.flat() || cur.c != labels {
		return nil, fmt.Errorf("the last layer gives %s; a classifier over %d labels must end in [%d] (flatten, linear)", cur, labels, labels)
	}
	// n_layers counts the layers with weights (the ones a checkpoint's
	// tensor names number); d_model is the widest layer.
	m.dims = arch.Dims{Layers: weighted, DModel: widest, Vocab: labels, MaxCtx: 1}
	return m, nil
}

func (s shape) String() string {
	if s.flat() {
		return fmt.Sprintf("[%d] features", s.c)
	}
	return fmt.Sprintf("[%d, %d, %d] (channels, height, width)", s.c, s.h, s.w)
}

// newLayer reads one layer; maxDim bounds every size that becomes a weight
// dimension (arch.Config.MaxDim).
func newLayer(c *arch.Config, in shape, maxDim int) (layer, error) {
	l := layer{kind: c.String("type", ""), in: in, shape: in}
	// spatial reads a window (PyTorch's stride defaults: 1 for a
	// convolution, the kernel for pooling) and sets the output size.
	spatial := func(stride int) error {
		if in.flat() {
			return fmt.Errorf("%s after flatten: its input is %s", l.kind, in)
		}
		l.kernel = c.Int("kernel_size", -1)
		if stride == 0 {
			stride = l.kernel
		}
		l.stride = c.Int("stride", stride)
		l.pad = c.Int("padding", 0)
		if err := c.Err(); err != nil {
			return err
		}
		if l.kernel < 1 || l.stride < 1 || l.stride > maxSide || l.pad < 0 || 2*l.pad > l.kernel {
			return fmt.Errorf("kernel_size %d, stride %d, padding %d: want kernel and stride ≥ 1 and padding at most half the kernel", l.kernel, l.stride, l.pad)
		}
		if l.kernel > in.h+2*l.pad || l.kernel > in.w+2*l.pad || l.kernel > min(maxSide, maxDim) {
			return fmt.Errorf("kernel_size %d is larger than its padded input %s", l.kernel, in)
		}
		l.shape.h = (in.h+2*l.pad-l.kernel)/l.stride + 1
		l.shape.w = (in.w+2*l.pad-l.kernel)/l.stride + 1
		return nil
	}
	var err error
	switch l.kind {
	case "conv2d":
		l.out, l.bias = c.Int("out_channels", -1), c.Bool("bias", true)
		if err = spatial(1); err == nil {
			if l.out < 1 || l.out > maxDim {
				err = fmt.Errorf("out_channels %d is out of range [1, %d]", l.out, maxDim)
			}
			l.shape.c = l.out
		}
	case "maxpool2d", "avgpool2d":
		if err = spatial(0); err == nil && l.pad != 0 {
			err = fmt.Errorf("padding %d: pooling without padding only", l.pad)
		}
	case "adaptive_avgpool2d":
		if n := c.Int("output_size", 1); n != 1 {
			err = fmt.Errorf("output_size %d: only global average pooling (output_size 1) is supported", n)
		} else if in.flat() {
			err = fmt.Errorf("adaptive_avgpool2d after flatten")
		}
		l.shape.h, l.shape.w = 1, 1
	case "batchnorm2d":
		l.eps = c.Float("eps", 1e-5)
		if in.flat() || !(l.eps > 0) {
			err = fmt.Errorf("batchnorm2d needs [channels, h, w] input and eps > 0 (input %s, eps %v)", in, l.eps)
		}
	case "relu", "gelu", "tanh", "dropout":
	case "flatten":
		if n := in.c * max(in.h, 1) * max(in.w, 1); n > maxDim {
			err = fmt.Errorf("flatten gives %d features, more than the weights' largest dimension %d", n, maxDim)
		} else {
			l.shape = shape{c: n}
		}
	case "linear":
		l.out, l.bias = c.Int("out_features", -1), c.Bool("bias", true)
		switch {
		case !in.flat():
			err = fmt.Errorf("linear needs flat input (add a flatten layer); its input is %s", in)
		case l.out < 1 || l.out > maxDim:
			err = fmt.Errorf("out_features %d is out of range [1, %d]", l.out, maxDim)
		}
		l.shape = shape{c: l.out}
	default:
		err = fmt.Errorf("type %q is not one of conv2d, batchnorm2d, relu, gelu, tanh, maxpool2d, avgpool2d, adaptive_avgpool2d, dropout, flatten, linear", l.kind)
	}
	return l, err
}

func (m *Model) Dims() arch.Dims    { return m.dims }
func (m *Model) ImageShape() [3]int { return [3]int{m.input.c, m.input.h, m.input.w} }

func (m *Model) Weights() []arch.WeightSpec {
	var ws []arch.WeightSpec
	for i, l := range m.layers {
		p := fmt.Sprintf("layers.%d.", i)
		switch l.kind {
		case "conv2d":
			ws = append(ws, arch.WeightSpec{Name: p + "weight", Shape: []int{l.out, l.in.c, l.kernel, l.kernel}})
		case "linear":
			ws = append(ws, arch.WeightSpec{Name: p + "weight", Shape: []int{l.out, l.in.c}})
		case "batchnorm2d":
			for _, n := range []string{"weight", "bias", "running_mean", "running_var"} {
				ws = append(ws, arch.WeightSpec{Name: p + n, Shape: []int{l.in.c}})
			}
		}
		if l.bias {
			ws = append(ws, arch.WeightSpec{Name: p + "bias", Shape: []int{l.out}})
		}
	}
	return ws
}

// Unused: batch norm's step counter, which evaluation does not read.
func (m *Model) Unused(name string) bool {
	var i int
	var rest string
	if n, _ := fmt.Sscanf(name, "layers.%d.%s", &i, &rest); n == 2 && rest == "num_batches_tracked" {
		return i >= 0 && i < len(m.layers) && m.layers[i].kind == "batchnorm2d"
	}
	return false
}

func (m *Model) Forward(w arch.Weights, in arch.Inputs, hp *hook.Points) *Node {
	x := hp.At(in.Pixels, "hook_pixels") // [batch, channels, height, width]
	b := x.Shape().Dimensions[0]
	for i, l := range m.layers {
		p := fmt.Sprintf("layers.%d.", i)
		switch l.kind {
		case "conv2d":
			x = conv2d(x, w(p+"weight"), l)
			if l.bias {
				x = Add(x, Reshape(w(p+"bias"), 1, l.out, 1, 1))
			}
		case "batchnorm2d":
			at := func(n string) *Node { return Reshape(w(p+n), 1, l.in.c, 1, 1) }
			x = Div(Sub(x, at("running_mean")), Sqrt(AddScalar(at("running_var"), l.eps)))
			x = Add(Mul(x, at("weight")), at("bias"))
		case "relu":
			x = Max(x, ZerosLike(x))
		case "gelu":
			x = arch.Gelu(x)
		case "tanh":
			x = Tanh(x)
		case "maxpool2d", "avgpool2d":
			x = pool(x, l)
		case "adaptive_avgpool2d":
			x = ReduceAndKeep(x, ReduceMean, 2, 3)
		case "flatten":
			x = Reshape(x, b, l.shape.c)
		case "linear":
			var bias *Node
			if l.bias {
				bias = w(p + "bias")
			}
			x = arch.Linear(x, w(p+"weight"), bias)
		}
		x = hp.At(x, "layers.%d.%s.hook_out", i, l.kind) // [batch, channel, h, w]; [batch, features] after flatten
	}
	return Reshape(x, b, 1, m.dims.Vocab) // [batch, 1, num_labels]
}

// conv2d is the convolution as im2col and one matrix product: the k²
// shifted (strided) views of the padded input stacked as [batch, c·k·k,
// oh, ow] in the kernel's (c, kh, kw) order, contracted with the kernel
// [out, c·k·k]. The product runs on the engine's matmul kernels and its
// gradient is slices and concatenations: several times faster on the CPU backend
// than its general convolution, forward and backward.
func conv2d(x, kernel *Node, l layer) *Node {
	b, c := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	k, s, oh, ow := l.kernel, l.stride, l.shape.h, l.shape.w
	if p := l.pad; p > 0 {
		x = arch.Padded(x, [4]int{p, p, p, p}, 0)
	}
	cols := Reshape(arch.Windows(x, k, k, s, s, oh, ow), b, c*k*k, oh, ow)
	y := DotGeneral(cols, []int{1}, nil, Reshape(kernel, l.out, c*k*k), []int{1}, nil) // [b, oh, ow, out]
	return TransposeAllAxes(y, 0, 3, 1, 2)
}

// pool is max or average pooling without padding. Windows that tile the
// input (stride = kernel) run as a reshape and a reduction; max pooling
// then sends its gradient to the first maximum of each window in row-major
// order, as PyTorch does (ties are common after a ReLU, and a gradient
// shared among them changes Grad-CAM's weights). Other windows go through
// GoMLX's pooling.
func pool(x *Node, l layer) *Node {
	d := x.Shape().Dimensions
	if l.stride == l.kernel {
		oh, ow, k := l.shape.h, l.shape.w, l.kernel
		x = Slice(x, AxisRange(), AxisRange(), AxisRange(0, oh*k), AxisRange(0, ow*k)) // PyTorch drops the remainder
		x = Reshape(TransposeAllAxes(Reshape(x, d[0], d[1], oh, k, ow, k), 0, 1, 2, 4, 3, 5), d[0], d[1], oh, ow, k*k)
		if l.kind == "avgpool2d" {
			return ReduceMean(x, 4)
		}
		return arch.FirstMax(x, 4)
	}
	var pb *PoolBuilder
	if l.kind == "maxpool2d" {
		pb = MaxPool(x)
	} else {
		pb = MeanPool(x)
	}
	return pb.ChannelsAxis(timage.ChannelsFirst).Window(l.kernel).Strides(l.stride).NoPadding().Done()
}
