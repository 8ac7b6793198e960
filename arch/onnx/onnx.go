// Package onnx runs an ONNX image classifier (model_type "onnx") in GoMLX:
// the graph read by format/onnx, node by node, for the operators in ops.go.
// The loader (engine, for a .onnx file) puts the graph's Description in the
// config under "graph" and the input size under num_channels,
// image_height and image_width (from the graph's input when its dims are
// fixed, else from a preprocessor_config.json beside the file), and the
// class count under num_labels.
//
// Hooks: hook_pixels is the input [batch, channels, height, width], and
// every node's first output is nodes.{i}.{op}.hook_out, where i is the
// node's index in the file's node list (Constant nodes count, so the index
// is the one onnx.load(path).graph.node[i] shows) and op its op_type in
// lower case: nodes.12.conv.hook_out is [batch, channel, h, w] as ONNX
// computes it. Nodes that only compute shapes (Shape, and Cast, Slice,
// Concat… of constants) run on the host while the graph is built and have
// no hook.
//
// Logits are [batch, 1, num_labels] (arch.ImageFamily). A graph whose
// output is a Softmax gives that Softmax's input as logits, so glia's
// probabilities equal the model's output and Grad-CAM differentiates the
// pre-softmax score, as it should; the Softmax node's hook still holds the
// model's output.
package onnx

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/glia-dev/glia/arch"
	fonnx "github.com/glia-dev/glia/format/onnx"
	"github.com/glia-dev/glia/hook"
	. "github.com/gomlx/gomlx/core/graph"
)

func init() { arch.Register("onnx", New) }

const (
	maxNodes = 1 << 16
	maxSide  = 4096
)

// Model is one ONNX graph, configured for an input size.
type Model struct {
	g       *fonnx.Description
	input   string
	shape   [3]int
	logits  string // the value returned as logits
	weights []arch.WeightSpec
	dims    arch.Dims
}

// New reads the graph from the config and checks what can be checked
// before building: one image input, supported operators, every input
// defined before it is read. Shapes are checked while the graph is built,
// and a mismatch names the node.
func New(c *arch.Config) (arch.Family, error) {
	b, err := json.Marshal(c.Raw("graph"))
	if err != nil {
		return nil, fmt.Errorf(`"graph": %v`, err)
	}
	m := &Model{g: &fonnx.Description{}}
	if err := json.Unmarshal(b, m.g); err != nil || c.Raw("graph") == nil {
		return nil, fmt.Errorf(`"graph" is not an ONNX graph description (%v)`, err)
	}
	m.shape = [3]int{c.Require("num_channels"), c.Require("image_height"), c.Require("image_width")}
	labels := c.Require("num_labels")
	if err := c.Err(); err != nil {
		return nil, err
	}
	g := m.g
	switch {
	case len(g.Inputs) != 1:
		return nil, fmt.Errorf("the graph has %d inputs; an image classifier has one (pixels)", len(g.Inputs))
	case len(g.Outputs) != 1:
		return nil, fmt.Errorf("the graph has %d outputs; an image classifier has one (class scores)", len(g.Outputs))
	case len(g.Nodes) > maxNodes:
		return nil, fmt.Errorf("the graph has %d nodes (at most %d)", len(g.Nodes), maxNodes)
	case m.shape[0] > 16 || m.shape[1] > maxSide || m.shape[2] > maxSide:
		return nil, fmt.Errorf("input %v is out of range (at most 16 channels, sides at most %d)", m.shape, maxSide)
	}
	in := g.Inputs[0]
	m.input = in.Name
	if len(in.Dims) != 4 || in.ElemType != fonnx.Float {
		return nil, fmt.Errorf("input %q is %d-d of type %d; want float [batch, channels, height, width]", in.Name, len(in.Dims), in.ElemType)
	}
	for i, d := range in.Dims[1:] {
		if d >= 0 && d != m.shape[i] {
			return nil, fmt.Errorf("input %q has dims %v; the configured input is %v", in.Name, in.Dims, m.shape)
		}
	}
	if out := g.Outputs[0]; len(out.Dims) != 2 || (out.Dims[1] >= 0 && out.Dims[1] != labels) {
		return nil, fmt.Errorf("output %q has dims %v; want [batch, %d]", out.Name, out.Dims, labels)
	}
	defined := map[string]bool{in.Name: true}
	for n := range g.Weights {
		defined[n] = true
	}
	for n := range g.Constants {
		defined[n] = true
	}
	widest := m.shape[0]
	for _, n := range g.Nodes {
		if _, ok := ops[n.Op]; !ok || (n.Domain != "" && n.Domain != "ai.onnx") {
			return nil, fmt.Errorf("node %d %q: operator %s%s is not supported (supported: %s)", n.Index, n.Name, domain(n.Domain), n.Op, strings.Join(Supported(), ", "))
		}
		if len(n.Outputs) == 0 {
			return nil, fmt.Errorf("node %d %q (%s) has no output", n.Index, n.Name, n.Op)
		}
		for _, x := range n.Inputs {
			if x != "" && !defined[x] {
				return nil, fmt.Errorf("node %d %q (%s): input %q is not defined before it", n.Index, n.Name, n.Op, x)
			}
		}
		for _, x := range n.Outputs {
			if defined[x] {
				return nil, fmt.Errorf("node %d %q (%s): output %q is defined twice", n.Index, n.Name, n.Op, x)
			}
			defined[x] = true
		}
	}
	m.logits = g.Outputs[0].Name
	if !defined[m.logits] {
		return nil, fmt.Errorf("output %q is computed by no node", m.logits)
	}
	if len(g.Nodes) == 0 {
		return nil, fmt.Errorf("the graph has no nodes")
	}
	if last := g.Nodes[len(g.Nodes)-1]; last.Op == "Softmax" && last.Outputs[0] == m.logits && len(last.Inputs) > 0 {
		m.logits = last.Inputs[0]
	}
	names := make([]string, 0, len(g.Weights))
	for n := range g.Weights {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m.weights = append(m.weights, arch.WeightSpec{Name: n, Shape: g.Weights[n]})
		if d := g.Weights[n]; len(d) > 0 {
			widest = max(widest, d[0])
		}
	}
	// One layer: the graph is not a stack of numbered blocks, and its
	// weights' names carry no layer index for the engine to bound it by.
	m.dims = arch.Dims{Layers: 1, DModel: widest, Vocab: labels, MaxCtx: 1}
	return m, nil
}

func domain(d string) string {
	if d == "" {
		return ""
	}
	return d + "."
}

func (m *Model) Dims() arch.Dims            { return m.dims }
func (m *Model) ImageShape() [3]int         { return m.shape }
func (m *Model) Weights() []arch.WeightSpec { return m.weights }

// HookName is the hook of a node's first output.
func (m *Model) HookName(n fonnx.NodeDesc) string {
	return fmt.Sprintf("nodes.%d.%s.hook_out", n.Index, strings.ToLower(n.Op))
}

// value is what a name holds while the graph is built: a graph node, or a
// constant known on the host (shape arithmetic, scalars).
type value struct {
	n *Node
	c *fonnx.Constant
}

func (m *Model) Forward(w arch.Weights, in arch.Inputs, hp *hook.Points) *Node {
	x := hp.At(in.Pixels, "hook_pixels") // [batch, channels, height, width]
	env := map[string]value{m.input: {n: x}}
	for n := range m.g.Constants {
		c := m.g.Constants[n]
		env[n] = value{c: &c}
	}
	for n := range m.g.Weights {
		env[n] = value{n: w(n)}
	}
	for _, n := range m.g.Nodes {
		outs := m.run(n, env)
		for i, o := range outs {
			if i == 0 && o.n != nil {
				o.n = hp.At(o.n, "%s", m.HookName(n))
			}
			if i < len(n.Outputs) && n.Outputs[i] != "" {
				env[n.Outputs[i]] = o
			}
		}
	}
	y := env[m.logits]
	if y.n == nil {
		panic(fmt.Errorf("onnx: the logits %q are a constant", m.logits))
	}
	if d := y.n.Shape().Dimensions; len(d) != 2 || d[1] != m.dims.Vocab {
		panic(fmt.Errorf("onnx: the logits %q are %v; want [batch, %d]", m.logits, d, m.dims.Vocab))
	}
	return Reshape(y.n, x.Shape().Dimensions[0], 1, m.dims.Vocab) // [batch, 1, num_labels]
}

// run builds one node; a panic inside (a shape mismatch, a bad attribute)
// comes out naming the node.
func (m *Model) run(n fonnx.NodeDesc, env map[string]value) (outs []value) {
	defer func() {
		if r := recover(); r != nil {
			panic(fmt.Errorf("onnx: node %d %q (%s): %v", n.Index, n.Name, n.Op, r))
		}
	}()
	args := make([]value, len(n.Inputs))
	for i, x := range n.Inputs {
		if x != "" {
			args[i] = env[x]
		}
	}
	return ops[n.Op](&call{node: n, args: args, opset: m.g.Opset})
}
