package onnx

import (
	"math"
	"slices"
	"sort"
	"strings"
)

// A model splits into two parts for the engine: its weights, a
// format.TensorSource (every float tensor of more than one element,
// whether an initializer or a Constant node's value), and a Description of
// everything else: the graph's nodes and the small constants (scalars,
// shape vectors, integer tensors) that graph building reads as numbers.
// The Description is plain data that survives a JSON round trip, so it
// travels in the model config as the cnn family's layer list does.

// IsWeight says whether a tensor is read as a weight (a graph input of the
// compiled model) rather than folded into the graph as a constant.
func IsWeight(t *Tensor) bool { return t.DataType.IsFloat() && t.Numel() > 1 }

// Description is the graph as the onnx model family reads it.
type Description struct {
	Opset     int64               `json:"opset"`
	Inputs    []ValueInfo         `json:"inputs"`  // graph inputs that are not initializers
	Outputs   []ValueInfo         `json:"outputs"` //
	Nodes     []NodeDesc          `json:"nodes"`   // every node but Constant, in file order
	Weights   map[string][]int    `json:"weights"` // name → dims of each weight
	Constants map[string]Constant `json:"constants"`
}

// NodeDesc is a node and its index in the file's node list (hook names
// number nodes by it, Constant nodes included).
type NodeDesc struct {
	Index   int                 `json:"index"`
	Name    string              `json:"name"`
	Op      string              `json:"op"`
	Domain  string              `json:"domain,omitempty"`
	Inputs  []string            `json:"inputs"`
	Outputs []string            `json:"outputs"`
	Attrs   map[string]AttrDesc `json:"attrs,omitempty"`
}

// AttrDesc is an attribute's value; tensor attributes of nodes other than
// Constant are not carried (no operator the family runs has one).
type AttrDesc struct {
	Type    int32     `json:"type"`
	F       float32   `json:"f,omitempty"`
	I       int64     `json:"i,omitempty"`
	S       string    `json:"s,omitempty"`
	Floats  []float32 `json:"floats,omitempty"`
	Ints    []int64   `json:"ints,omitempty"`
	Strings []string  `json:"strings,omitempty"`
}

// Constant is a small tensor's value: floats (Float is true) or integers,
// both held as float64 (integers up to 2⁵³ exactly; larger ones are
// clamped shape sentinels such as INT64_MAX in Slice's ends).
type Constant struct {
	Dims   []int     `json:"dims"`
	Float  bool      `json:"float"`
	Values []float64 `json:"values"`
}

// finite32 clamps ±Inf to ±MaxFloat32 (JSON has no infinities; Clip's
// open bounds and -inf pads read the same on finite inputs). NaN stays
// NaN and the caller rejects it.
func finite32(f float64) float64 {
	return math.Max(-math.MaxFloat32, math.Min(math.MaxFloat32, f))
}

// Describe splits the model into its Description and its weights.
func (m *Model) Describe() (*Description, *Source, error) {
	d := &Description{Opset: m.Opset(), Outputs: m.Graph.Outputs, Weights: map[string][]int{}, Constants: map[string]Constant{}}
	src := &Source{path: m.Path, tensors: map[string]*Tensor{}}
	add := func(t *Tensor, what string) error {
		if t.Name == "" {
			return newErr(m.Path, what, t.Offset, ErrFormat, nil, "tensor without a name")
		}
		if _, dup := src.tensors[t.Name]; dup {
			return newErr(m.Path, t.Name, t.Offset, ErrFormat, nil, "defined twice")
		}
		if _, dup := d.Constants[t.Name]; dup {
			return newErr(m.Path, t.Name, t.Offset, ErrFormat, nil, "defined twice")
		}
		if IsWeight(t) {
			src.tensors[t.Name] = t
			d.Weights[t.Name] = t.Dims
			return nil
		}
		c := Constant{Dims: t.Dims, Float: t.DataType.IsFloat()}
		if c.Dims == nil {
			c.Dims = []int{}
		}
		for _, v := range t.Floats {
			if v != v {
				return newErr(m.Path, t.Name, t.Offset, ErrUnsupported, nil, "constant is NaN")
			}
			c.Values = append(c.Values, finite32(float64(v)))
		}
		for _, v := range t.Ints {
			c.Values = append(c.Values, float64(v))
		}
		d.Constants[t.Name] = c
		return nil
	}
	for i := range m.Graph.Initializers {
		if err := add(&m.Graph.Initializers[i], "initializer"); err != nil {
			return nil, nil, err
		}
	}
	for _, in := range m.Graph.Inputs {
		if _, ok := src.tensors[in.Name]; ok {
			continue
		}
		if _, ok := d.Constants[in.Name]; !ok {
			d.Inputs = append(d.Inputs, in)
		}
	}
	for i, n := range m.Graph.Nodes {
		where := "node " + n.String()
		if n.OpType == "Constant" && (n.Domain == "" || n.Domain == "ai.onnx") {
			var t *Tensor
			for _, a := range n.Attrs {
				if a.Name == "value" && a.T != nil {
					t = a.T
				}
			}
			if t == nil || len(n.Outputs) != 1 {
				return nil, nil, newErr(m.Path, where, n.Offset, ErrUnsupported, nil,
					"a Constant node needs a tensor \"value\" attribute and one output (value_float, value_ints… are not supported)")
			}
			c := *t
			c.Name = n.Outputs[0] // the value is known by the node's output
			if err := add(&c, where); err != nil {
				return nil, nil, err
			}
			continue
		}
		nd := NodeDesc{Index: i, Name: n.Name, Op: n.OpType, Domain: n.Domain, Inputs: n.Inputs, Outputs: n.Outputs}
		for _, a := range n.Attrs {
			if nd.Attrs == nil {
				nd.Attrs = map[string]AttrDesc{}
			}
			ad := AttrDesc{Type: a.Type, F: float32(finite32(float64(a.F))), I: a.I, S: a.S, Ints: a.Ints, Strings: a.Strings}
			bad := a.F != a.F
			for _, f := range a.Floats {
				ad.Floats = append(ad.Floats, float32(finite32(float64(f))))
				bad = bad || f != f
			}
			if bad {
				return nil, nil, newErr(m.Path, where, n.Offset, ErrUnsupported, nil, "attribute %q is NaN", a.Name)
			}
			nd.Attrs[a.Name] = ad
		}
		d.Nodes = append(d.Nodes, nd)
	}
	src.names = make([]string, 0, len(src.tensors))
	for n := range src.tensors {
		src.names = append(src.names, n)
	}
	sort.Strings(src.names)
	return d, src, nil
}

// Source is a model's weights as a format.TensorSource.
type Source struct {
	path    string
	tensors map[string]*Tensor
	names   []string
}

func (s *Source) Names() []string { return slices.Clone(s.names) }

func (s *Source) Shape(name string) ([]int, bool) {
	t, ok := s.tensors[name]
	if !ok {
		return nil, false
	}
	return slices.Clone(t.Dims), true
}

func (s *Source) Float32(name string) ([]float32, error) {
	t, ok := s.tensors[name]
	if !ok {
		return nil, newErr(s.path, name, -1, ErrNotFound, nil, "no such weight (weights: %s)", strings.Join(s.names[:min(len(s.names), 5)], ", "))
	}
	return slices.Clone(t.Floats), nil
}

func (s *Source) Close() error { return nil }
