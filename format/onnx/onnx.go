// Package onnx reads ONNX model files (onnx.proto's ModelProto) with
// google.golang.org/protobuf/encoding/protowire, without generated code: the
// graph (nodes in file order, their attributes), its inputs and outputs with
// their shapes, and every tensor's dims and data (initializers and Constant
// nodes' values), decoded to float32 or int64.
//
// What it reads of onnx.proto (field numbers in brackets):
//
//	ModelProto:  ir_version[1] producer_name[2] graph[7] opset_import[8]
//	GraphProto:  node[1] name[2] initializer[5] input[11] output[12]
//	NodeProto:   input[1] output[2] name[3] op_type[4] attribute[5] domain[7]
//	Attribute:   name[1] f[2] i[3] s[4] t[5] floats[7] ints[8] strings[9] type[20]
//	TensorProto: dims[1] data_type[2] float_data[4] int32_data[5] int64_data[7]
//	             name[8] raw_data[9] double_data[10] uint64_data[11] data_location[14]
//	ValueInfo:   name[1] type[2] → TypeProto.tensor_type[1] → elem_type[1] shape[2] → dim[1] → dim_value[1] dim_param[2]
//
// Everything else (doc strings, metadata, training info, functions, subgraph
// attributes) is skipped. Every length and count read from the file is
// checked against the bytes that remain before anything is allocated from
// it; errors are *format.Error values naming the file, the tensor or node
// and the byte offset.
//
// Non-goals: external data files, sparse tensors, string tensors, float16
// and bfloat16 data (each a typed error), writing.
package onnx

import (
	"fmt"
	"io"
	"math"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
)

const (
	// MaxFileBytes bounds a model file: protobuf itself stops at 2 GiB,
	// and the whole file is held in memory while it is parsed.
	MaxFileBytes = 1 << 30
	maxRank      = 16
	maxDim       = 1 << 31
)

// DataType is TensorProto.DataType.
type DataType int32

// The tensor element types this reader decodes.
const (
	Float   DataType = 1
	Uint8   DataType = 2
	Int8    DataType = 3
	Uint16  DataType = 4
	Int16   DataType = 5
	Int32   DataType = 6
	Int64   DataType = 7
	String  DataType = 8
	Bool    DataType = 9
	Float16 DataType = 10
	Double  DataType = 11
	Uint32  DataType = 12
	Uint64  DataType = 13
)

// IsFloat says whether values of this type decode to Tensor.Floats.
func (d DataType) IsFloat() bool { return d == Float || d == Double }

// IsInt says whether values of this type decode to Tensor.Ints.
func (d DataType) IsInt() bool {
	switch d {
	case Uint8, Int8, Uint16, Int16, Int32, Int64, Bool, Uint32, Uint64:
		return true
	}
	return false
}

// size is the element size in raw_data; 0 for types without a fixed size.
func (d DataType) size() int {
	switch d {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16:
		return 2
	case Float, Int32, Uint32:
		return 4
	case Int64, Double, Uint64:
		return 8
	}
	return 0
}

// Model is a parsed ONNX file.
type Model struct {
	Path      string
	IRVersion int64
	Producer  string
	Opsets    map[string]int64 // domain ("" is ai.onnx) → opset version
	Graph     Graph
}

// Graph is the main graph; nodes are in file order, which ONNX requires to
// be topological.
type Graph struct {
	Name         string
	Nodes        []Node
	Initializers []Tensor
	Inputs       []ValueInfo
	Outputs      []ValueInfo
}

// Node is one operator application.
type Node struct {
	Name, OpType, Domain string
	Inputs, Outputs      []string // "" marks an omitted optional input
	Attrs                []Attr
	Offset               int64 // of the node's message in the file
}

// Attr is a node attribute; which fields are set depends on Type.
type Attr struct {
	Name    string
	Type    int32 // AttributeProto.AttributeType: 1 float, 2 int, 3 string, 4 tensor, 6 floats, 7 ints, 8 strings
	F       float32
	I       int64
	S       string
	T       *Tensor
	Floats  []float32
	Ints    []int64
	Strings []string
}

// Tensor is a TensorProto with its data decoded: Floats for float and
// double, Ints for the integer and boolean types.
type Tensor struct {
	Name     string
	Dims     []int
	DataType DataType
	Floats   []float32
	Ints     []int64
	Offset   int64 // of the tensor's message in the file
}

// Numel is the product of the dims (1 for a scalar).
func (t *Tensor) Numel() int {
	n := 1
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// ValueInfo is a graph input or output: its element type and its dims, -1
// for a symbolic (dynamic) one, whose name is in Params.
type ValueInfo struct {
	Name     string
	ElemType DataType
	Dims     []int
	Params   []string
}

// Open reads and parses an ONNX file.
func Open(path string) (*Model, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, newErr(path, "", -1, ErrFormat, err, "cannot open")
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, newErr(path, "", -1, ErrFormat, err, "cannot stat")
	}
	if st.Size() > MaxFileBytes {
		return nil, newErr(path, "", -1, ErrUnsupported, nil, "file is %d bytes, more than the %d this reader holds in memory", st.Size(), MaxFileBytes)
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(fh, b); err != nil {
		return nil, newErr(path, "", -1, ErrTruncated, err, "cannot read")
	}
	return Parse(path, b)
}

// Parse parses the bytes of an ONNX file; path names it in errors.
func Parse(path string, b []byte) (*Model, error) {
	if len(b) > MaxFileBytes {
		return nil, newErr(path, "", -1, ErrUnsupported, nil, "file is %d bytes, more than %d", len(b), MaxFileBytes)
	}
	p := &parser{path: path}
	m := &Model{Path: path, Opsets: map[string]int64{}}
	sawGraph := false
	err := p.each(b, 0, "", func(f field) error {
		switch f.num {
		case 1:
			return p.varint(f, "ir_version", &m.IRVersion)
		case 2:
			return p.str(f, "producer_name", &m.Producer)
		case 7:
			sawGraph = true
			return p.graph(f, &m.Graph)
		case 8:
			var dom string
			var v int64
			if err := p.bytesField(f, "opset_import"); err != nil {
				return err
			}
			err := p.each(f.b, f.off, "", func(g field) error {
				switch g.num {
				case 1:
					return p.str(g, "opset_import.domain", &dom)
				case 2:
					return p.varint(g, "opset_import.version", &v)
				}
				return nil
			})
			m.Opsets[dom] = v
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !sawGraph {
		return nil, newErr(path, "", -1, ErrFormat, nil, "no graph: not an ONNX model file")
	}
	return m, nil
}

// field is one protobuf field: the scalar value of a varint or fixed
// field, or the payload of a length-delimited one, at offset off.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	b   []byte
	off int64
}

type parser struct{ path string }

func (p *parser) errf(what string, off int64, kind error, msg string, args ...any) *Error {
	return newErr(p.path, what, off, kind, nil, msg, args...)
}

// each calls fn for every field of the message b, which starts at file
// offset base; what names the tensor concerned, for messages.
func (p *parser) each(b []byte, base int64, what string, fn func(f field) error) error {
	for i := 0; i < len(b); {
		num, typ, n := protowire.ConsumeTag(b[i:])
		if n < 0 {
			return p.wireErr(what, base+int64(i), n)
		}
		i += n
		f := field{num: num, typ: typ, off: base + int64(i)}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b[i:])
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b[i:])
			f.v = uint64(v)
		case protowire.Fixed64Type:
			f.v, n = protowire.ConsumeFixed64(b[i:])
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b[i:])
			f.off += int64(n - len(f.b))
		default:
			n = protowire.ConsumeFieldValue(num, typ, b[i:])
		}
		if n < 0 {
			return p.wireErr(what, base+int64(i), n)
		}
		i += n
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) wireErr(what string, off int64, n int) *Error {
	kind := ErrFormat
	if err := protowire.ParseError(n); err == io.ErrUnexpectedEOF {
		kind = ErrTruncated
	}
	return newErr(p.path, what, off, kind, protowire.ParseError(n), "bad protobuf field")
}

func (p *parser) bytesField(f field, name string) error {
	if f.typ != protowire.BytesType {
		return p.errf("", f.off, ErrFormat, "field %s (%d) has wire type %d, want length-delimited", name, f.num, f.typ)
	}
	return nil
}

func (p *parser) str(f field, name string, dst *string) error {
	if err := p.bytesField(f, name); err != nil {
		return err
	}
	*dst = string(f.b)
	return nil
}

func (p *parser) varint(f field, name string, dst *int64) error {
	if f.typ != protowire.VarintType {
		return p.errf("", f.off, ErrFormat, "field %s (%d) has wire type %d, want varint", name, f.num, f.typ)
	}
	*dst = int64(f.v)
	return nil
}

// ints appends a repeated integer field, packed or not; zigzag is false
// (int32 and int64 fields, as onnx.proto uses).
func (p *parser) ints(f field, name string, dst *[]int64) error {
	switch f.typ {
	case protowire.VarintType:
		*dst = append(*dst, int64(f.v))
		return nil
	case protowire.BytesType:
		// At most one value per byte: bounded by the field's size.
		for b := f.b; len(b) > 0; {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return p.wireErr(name, f.off+int64(len(f.b)-len(b)), n)
			}
			*dst = append(*dst, int64(v))
			b = b[n:]
		}
		return nil
	}
	return p.errf("", f.off, ErrFormat, "field %s (%d) has wire type %d, want varint", name, f.num, f.typ)
}

// fixed appends a repeated fixed-size field (float: 4 bytes, double: 8)
// as float32.
func (p *parser) fixed(f field, name string, size int, dst *[]float32) error {
	conv := func(v uint64) float32 {
		if size == 4 {
			return math.Float32frombits(uint32(v))
		}
		return float32(math.Float64frombits(v))
	}
	switch {
	case size == 4 && f.typ == protowire.Fixed32Type, size == 8 && f.typ == protowire.Fixed64Type:
		*dst = append(*dst, conv(f.v))
		return nil
	case f.typ == protowire.BytesType:
		if len(f.b)%size != 0 {
			return p.errf("", f.off, ErrFormat, "packed %s is %d bytes, not a multiple of %d", name, len(f.b), size)
		}
		for i := 0; i < len(f.b); i += size {
			*dst = append(*dst, conv(le(f.b[i:i+size])))
		}
		return nil
	}
	return p.errf("", f.off, ErrFormat, "field %s (%d) has wire type %d, want %d-byte values", name, f.num, f.typ, size)
}

func le(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func (p *parser) graph(f field, g *Graph) error {
	if err := p.bytesField(f, "graph"); err != nil {
		return err
	}
	return p.each(f.b, f.off, "", func(h field) error {
		switch h.num {
		case 1:
			if err := p.bytesField(h, "node"); err != nil {
				return err
			}
			n, err := p.node(h)
			g.Nodes = append(g.Nodes, n)
			return err
		case 2:
			return p.str(h, "graph.name", &g.Name)
		case 5:
			t, err := p.tensor(h, "initializer")
			if err == nil {
				g.Initializers = append(g.Initializers, *t)
			}
			return err
		case 11, 12:
			v, err := p.valueInfo(h)
			if h.num == 11 {
				g.Inputs = append(g.Inputs, v)
			} else {
				g.Outputs = append(g.Outputs, v)
			}
			return err
		}
		return nil
	})
}

func (p *parser) node(f field) (Node, error) {
	n := Node{Offset: f.off}
	err := p.each(f.b, f.off, "", func(h field) error {
		var s string
		switch h.num {
		case 1, 2:
			if err := p.str(h, "node input/output", &s); err != nil {
				return err
			}
			if h.num == 1 {
				n.Inputs = append(n.Inputs, s)
			} else {
				n.Outputs = append(n.Outputs, s)
			}
		case 3:
			return p.str(h, "node.name", &n.Name)
		case 4:
			return p.str(h, "node.op_type", &n.OpType)
		case 7:
			return p.str(h, "node.domain", &n.Domain)
		case 5:
			a, err := p.attr(h)
			n.Attrs = append(n.Attrs, a)
			return err
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	if n.OpType == "" {
		return n, p.errf("", f.off, ErrFormat, "node %q has no op_type", n.Name)
	}
	return n, nil
}

func (p *parser) attr(f field) (Attr, error) {
	var a Attr
	if err := p.bytesField(f, "attribute"); err != nil {
		return a, err
	}
	var typ int64
	err := p.each(f.b, f.off, "", func(h field) error {
		switch h.num {
		case 1:
			return p.str(h, "attribute.name", &a.Name)
		case 20:
			return p.varint(h, "attribute.type", &typ)
		case 2:
			var v []float32
			err := p.fixed(h, "attribute.f", 4, &v)
			if len(v) == 1 {
				a.F = v[0]
			}
			return err
		case 3:
			return p.varint(h, "attribute.i", &a.I)
		case 4:
			return p.str(h, "attribute.s", &a.S)
		case 5:
			t, err := p.tensor(h, "attribute "+a.Name)
			a.T = t
			return err
		case 7:
			return p.fixed(h, "attribute.floats", 4, &a.Floats)
		case 8:
			return p.ints(h, "attribute.ints", &a.Ints)
		case 9:
			var s string
			err := p.str(h, "attribute.strings", &s)
			a.Strings = append(a.Strings, s)
			return err
		}
		return nil
	})
	a.Type = int32(typ)
	if err == nil && a.Name == "" {
		err = p.errf("", f.off, ErrFormat, "attribute without a name")
	}
	return a, err
}

func (p *parser) valueInfo(f field) (ValueInfo, error) {
	var v ValueInfo
	if err := p.bytesField(f, "value_info"); err != nil {
		return v, err
	}
	var elem int64
	// ValueInfo → type (TypeProto) → tensor_type → {elem_type, shape → dim*}
	err := p.each(f.b, f.off, "", func(h field) error {
		switch h.num {
		case 1:
			return p.str(h, "value_info.name", &v.Name)
		case 2:
			if err := p.bytesField(h, "value_info.type"); err != nil {
				return err
			}
			return p.each(h.b, h.off, v.Name, func(tt field) error {
				if tt.num != 1 { // sequence, map, optional types
					return nil
				}
				if err := p.bytesField(tt, "tensor_type"); err != nil {
					return err
				}
				return p.each(tt.b, tt.off, v.Name, func(e field) error {
					switch e.num {
					case 1:
						return p.varint(e, "elem_type", &elem)
					case 2:
						if err := p.bytesField(e, "shape"); err != nil {
							return err
						}
						return p.each(e.b, e.off, v.Name, func(d field) error {
							if d.num != 1 {
								return nil
							}
							if err := p.bytesField(d, "shape.dim"); err != nil {
								return err
							}
							if len(v.Dims) >= maxRank {
								return p.errf(v.Name, d.off, ErrShape, "more than %d dims", maxRank)
							}
							val, param := int64(-1), ""
							err := p.each(d.b, d.off, v.Name, func(x field) error {
								switch x.num {
								case 1:
									return p.varint(x, "dim_value", &val)
								case 2:
									return p.str(x, "dim_param", &param)
								}
								return nil
							})
							if val < -1 || val > maxDim {
								return p.errf(v.Name, d.off, ErrShape, "dim %d is out of range [0, %d]", val, maxDim)
							}
							v.Dims = append(v.Dims, int(val))
							v.Params = append(v.Params, param)
							return err
						})
					}
					return nil
				})
			})
		}
		return nil
	})
	v.ElemType = DataType(elem)
	return v, err
}

// tensor parses a TensorProto; where names it for messages before its own
// name is known.
func (p *parser) tensor(f field, where string) (*Tensor, error) {
	t := &Tensor{Offset: f.off}
	if err := p.bytesField(f, where); err != nil {
		return nil, err
	}
	var dims, i32, i64 []int64
	var floats, doubles []float32
	var u64 []int64
	var raw []byte
	var rawOff, dtype, location int64
	sawRaw := false
	err := p.each(f.b, f.off, "", func(h field) error {
		switch h.num {
		case 1:
			return p.ints(h, "dims", &dims)
		case 2:
			return p.varint(h, "data_type", &dtype)
		case 4:
			return p.fixed(h, "float_data", 4, &floats)
		case 5:
			return p.ints(h, "int32_data", &i32)
		case 7:
			return p.ints(h, "int64_data", &i64)
		case 8:
			return p.str(h, "name", &t.Name)
		case 9:
			sawRaw, raw, rawOff = true, h.b, h.off
			return p.bytesField(h, "raw_data")
		case 10:
			return p.fixed(h, "double_data", 8, &doubles)
		case 11:
			return p.ints(h, "uint64_data", &u64)
		case 14:
			return p.varint(h, "data_location", &location)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	name := t.Name
	if name == "" {
		name = where
	}
	t.DataType = DataType(dtype)
	if location != 0 {
		return nil, p.errf(name, f.off, ErrUnsupported, "data is in an external file (data_location %d); re-save the model with its data inside", location)
	}
	if len(dims) > maxRank {
		return nil, p.errf(name, f.off, ErrShape, "%d dims, more than %d", len(dims), maxRank)
	}
	n := 1
	for _, d := range dims {
		if d < 0 || d > maxDim {
			return nil, p.errf(name, f.off, ErrShape, "dims %v: %d is out of range [0, %d]", dims, d, maxDim)
		}
		t.Dims = append(t.Dims, int(d))
		if n = n * int(d); n > MaxFileBytes {
			return nil, p.errf(name, f.off, ErrShape, "dims %v hold more elements than the file can", dims)
		}
	}
	size := t.DataType.size()
	if !t.DataType.IsFloat() && !t.DataType.IsInt() {
		return nil, p.errf(name, f.off, ErrDType, "data_type %d is not supported (float, double and the integer types are)", dtype)
	}
	// The element count is now known to fit the file; check that the data
	// present holds exactly that many values before converting it.
	var have int
	switch {
	case sawRaw:
		have = len(raw) / size
		if len(raw)%size != 0 {
			return nil, p.errf(name, rawOff, ErrShape, "raw_data is %d bytes, not a multiple of the %d-byte element", len(raw), size)
		}
	case t.DataType == Float:
		have = len(floats)
	case t.DataType == Double:
		have = len(doubles)
	case t.DataType == Int64:
		have = len(i64)
	case t.DataType == Uint32 || t.DataType == Uint64:
		have = len(u64)
	default:
		have = len(i32)
	}
	if have != n {
		return nil, p.errf(name, f.off, ErrShape, "dims %v hold %d values, the data has %d", dims, n, have)
	}
	switch {
	case sawRaw && t.DataType.IsFloat():
		t.Floats = make([]float32, n)
		for i := range n {
			v := le(raw[i*size : (i+1)*size])
			if size == 4 {
				t.Floats[i] = math.Float32frombits(uint32(v))
			} else {
				t.Floats[i] = float32(math.Float64frombits(v))
			}
		}
	case sawRaw:
		t.Ints = make([]int64, n)
		for i := range n {
			v := le(raw[i*size : (i+1)*size])
			switch t.DataType { // sign-extend the signed types
			case Int8:
				t.Ints[i] = int64(int8(v))
			case Int16:
				t.Ints[i] = int64(int16(v))
			case Int32:
				t.Ints[i] = int64(int32(v))
			default:
				t.Ints[i] = int64(v)
			}
		}
	case t.DataType == Float:
		t.Floats = floats
	case t.DataType == Double:
		t.Floats = doubles
	case t.DataType == Int64:
		t.Ints = i64
	case t.DataType == Uint32 || t.DataType == Uint64:
		t.Ints = u64
	default:
		t.Ints = i32
		for i, v := range i32 { // int32_data holds int32s as (sign-extended) varints
			t.Ints[i] = int64(int32(v))
		}
	}
	return t, nil
}

// Opset is the ai.onnx opset version the model imports (0 when none).
func (m *Model) Opset() int64 { return m.Opsets[""] + m.Opsets["ai.onnx"] }

func (n *Node) String() string { return fmt.Sprintf("%s (%s)", n.Name, n.OpType) }
