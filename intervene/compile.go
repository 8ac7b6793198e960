package intervene

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format/safetensors"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Options supply what some values need.
type Options struct {
	// Means gives per-position means for mean ablation.
	Means MeanSource
	// ResampleIDs is the input whose activations resample ablation uses.
	// Without it, resample takes each row's value from another row of the
	// same batch (row i takes row (i+k) mod batch, k fixed by Seed).
	ResampleIDs []int32
	Seed        uint64
}

// MeanSource yields, for a hook, the mean of its value at one position over
// some reference distribution: a flat array of the hook's shape without the
// batch and position axes.
type MeanSource interface {
	Mean(m *engine.Model, hook string) ([]float32, error)
	Name() string // identifies the source (enters graph keys)
}

// Layout says which axis of a hook's value is positions and which is units.
type Layout struct {
	Shape    []int // traced with batch 1, positions 1
	PosAxis  int
	UnitAxis int
}

// Rest is the shape of one position's value (batch and position removed).
func (l Layout) Rest() []int {
	var out []int
	for i, d := range l.Shape {
		if i != 0 && i != l.PosAxis {
			out = append(out, d)
		}
	}
	return out
}

// UnitCount is the size of the unit axis.
func (l Layout) UnitCount() int { return l.Shape[l.UnitAxis] }

// PosSize is the number of values the hook holds at one position of one row.
func (l Layout) PosSize() int { return prod(l.Rest()) }

// layoutOf reads the layout from the engine's trace: the first position
// axis (the query axis of [batch, head, q, k]) and the first other axis
// after the batch.
func layoutOf(h engine.HookInfo) (Layout, error) {
	l := Layout{Shape: h.Shape}
	if (len(h.Shape) != 3 && len(h.Shape) != 4) || len(h.PosAxes) == 0 {
		return l, fmt.Errorf("hook %s has shape %v: interventions need [batch,pos,...]", h.Name, h.Shape)
	}
	l.PosAxis = h.PosAxes[0]
	for ax := 1; ax < len(h.Shape); ax++ {
		if !slices.Contains(h.PosAxes, ax) {
			l.UnitAxis = ax
			break
		}
	}
	return l, nil
}

// HookLayout finds a hook of m and its layout, or says it does not exist
// (naming close matches).
func HookLayout(m *engine.Model, name string) (Layout, error) {
	h, err := m.HookPoint(name)
	if err != nil {
		return Layout{}, err
	}
	if _, images := m.ImageShape(); images && len(h.PosAxes) == 0 {
		// An image model's trace has no token positions. A ViT's [batch,
		// 1+patches, ...] takes CLS and the patches as positions; a CNN's
		// [batch, channel, h, w] is laid out as attention's [batch, head, q,
		// k]: the rows are the positions and the channels the units, so
		// HOOK[:,c] is channel c everywhere.
		switch len(h.Shape) {
		case 3:
			h.PosAxes = []int{1}
		case 4:
			h.PosAxes = []int{2}
		}
	}
	return layoutOf(h)
}

// Compile checks s against m (the hook exists, units are in range, vectors
// have the right size) and returns the intervention. Positions are checked
// when the graph is built, against the sequence length it is built for.
func (s *Spec) Compile(m *engine.Model, o Options) (engine.Intervention, error) {
	fail := func(format string, args ...any) (engine.Intervention, error) {
		return engine.Intervention{}, fmt.Errorf("intervention %q: %s", s.Text, fmt.Sprintf(format, args...))
	}
	lay, err := HookLayout(m, s.Hook)
	if err != nil {
		return fail("%v", err)
	}
	units, err := s.Units.Resolve(lay.UnitCount())
	if err != nil {
		what := "unit"
		if len(lay.Shape) == 4 {
			what = "head"
		}
		return fail("%s %v of %s (%d %ss)", what, err, s.Hook, lay.UnitCount(), what)
	}
	rest := lay.Rest()
	restSize := prod(rest)
	h := sha256.New()
	fmt.Fprint(h, s.String())
	var perPos []float32 // one position's value, shape rest (ValMean, ValVector)
	var resample []float32
	resampleT := 0
	switch s.Value.Kind {
	case ValMean:
		if o.Means == nil {
			return engine.Intervention{}, fmt.Errorf("intervention %q: %w", s.Text, ErrNoMeans)
		}
		perPos, err = o.Means.Mean(m, s.Hook)
		if err != nil {
			return fail("%v", err)
		}
		if len(perPos) != restSize {
			return fail("the mean of %s has %d values, the hook has %d per position", s.Hook, len(perPos), restSize)
		}
		fmt.Fprint(h, "mean:", o.Means.Name())
	case ValVector:
		vec, err := readVector(s.Value.File, s.Value.Tensor)
		if err != nil {
			return fail("%v", err)
		}
		perPos, err = placeVector(vec, lay, units)
		if err != nil {
			return fail("%v", err)
		}
		for i := range perPos {
			perPos[i] *= float32(s.Value.Number)
		}
	case ValResample:
		if len(o.ResampleIDs) > 0 {
			res, err := m.Run(engine.Request{IDs: [][]int32{o.ResampleIDs}, Hooks: []string{s.Hook}, NoLogits: true})
			if err != nil {
				return fail("running the resample input: %v", err)
			}
			a := res.Acts[s.Hook]
			resampleT = a.Shape[lay.PosAxis]
			resample = toPosMajor(a.Data, a.Shape, lay.PosAxis)
			hashFloats(h, resample)
		} else {
			fmt.Fprintf(h, "rows:seed=%d", o.Seed)
		}
	}
	if perPos != nil {
		hashFloats(h, perPos)
	}
	key := "iv:" + hex.EncodeToString(h.Sum(nil))[:20]
	spec := *s
	seed := o.Seed
	fn := func(x *Node) *Node {
		dims := x.Shape().Dimensions
		t := dims[lay.PosAxis]
		pos, err := spec.Pos.Resolve(t)
		if err != nil {
			exceptions.Panicf("intervention %q: position %v (the sequence has %d positions)", spec.Text, err, t)
		}
		g := x.Graph()
		mask := selMask(g, dims, lay, pos, units)
		var v *Node
		switch spec.Value.Kind {
		case ValNumber:
			v = Scalar(g, x.DType(), spec.Value.Number)
		case ValZero:
			v = ScalarZero(g, x.DType())
		case ValMean, ValVector:
			v = broadcastPerPos(g, perPos, dims, lay)
		case ValResample:
			if resample != nil {
				v = resampleNode(g, resample, resampleT, dims, lay)
			} else {
				b := dims[0]
				if b < 2 {
					exceptions.Panicf("intervention %q: resample without a resample input needs a batch of at least 2 rows", spec.Text)
				}
				k := 1 + int(seed%uint64(b-1))
				idx := make([]int32, b)
				for i := range idx {
					idx[i] = int32((i + k) % b)
				}
				v = Gather(x, Reshape(Const(g, idx), b, 1))
			}
		}
		return apply(x, mask, spec.Op, v)
	}
	return engine.Intervention{Hook: s.Hook, Key: key, Fn: fn}, nil
}

// apply combines x with v on the masked elements.
func apply(x, mask *Node, op Op, v *Node) *Node {
	if v.Rank() == 0 {
		v = BroadcastToDims(v, x.Shape().Dimensions...)
	}
	var y *Node
	switch op {
	case OpSet:
		y = v
	case OpScale:
		y = Mul(x, v)
	case OpAdd:
		y = Add(x, v)
	}
	if mask == nil {
		return y
	}
	return Where(mask, y, x)
}

// selMask is the boolean mask of the selection broadcast to dims; nil when
// everything is selected.
func selMask(g *Graph, dims []int, lay Layout, pos, units []int) *Node {
	t, n := dims[lay.PosAxis], dims[lay.UnitAxis]
	if len(pos) == t && len(units) == n {
		return nil
	}
	shape := make([]int, len(dims))
	for i := range shape {
		shape[i] = 1
	}
	shape[lay.PosAxis], shape[lay.UnitAxis] = t, n
	m := make([]bool, t*n)
	for _, p := range pos {
		for _, u := range units {
			if lay.PosAxis < lay.UnitAxis {
				m[p*n+u] = true
			} else {
				m[u*t+p] = true
			}
		}
	}
	return BroadcastToDims(ConstTensor(g, tensors.FromFlatDataAndDimensions(m, shape...)), dims...)
}

func prod(d []int) int {
	n := 1
	for _, v := range d {
		n *= v
	}
	return n
}

func hashFloats(h interface{ Write([]byte) (int, error) }, data []float32) {
	buf := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	h.Write(buf)
}

// readVector reads a tensor from a safetensors file (the only one when name
// is empty).
func readVector(path, name string) ([]float32, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if name == "" {
		names := f.Names()
		if len(names) != 1 {
			return nil, fmt.Errorf("%s holds %d tensors (%s): name one as @%s:NAME", path, len(names), strings.Join(names, ", "), path)
		}
		name = names[0]
	}
	if _, ok := f.Shape(name); !ok {
		return nil, fmt.Errorf("%s has no tensor %q (it holds %s)", path, name, strings.Join(f.Names(), ", "))
	}
	return f.Float32(name)
}

// placeVector turns a vector into one position's value: the full per-
// position shape, one value per selected unit's slice, or one slice shared
// by every selected unit.
func placeVector(vec []float32, lay Layout, units []int) ([]float32, error) {
	rest := lay.Rest()
	full := prod(rest)
	if len(vec) == full {
		return append([]float32(nil), vec...), nil
	}
	// Unit axis within rest.
	ua := lay.UnitAxis - 1
	if lay.UnitAxis > lay.PosAxis {
		ua--
	}
	inner := prod(rest[ua+1:])
	outer := prod(rest[:ua])
	n := rest[ua]
	out := make([]float32, full)
	switch {
	case len(vec) == len(units)*inner*outer:
		for o := range outer {
			for k, u := range units {
				copy(out[(o*n+u)*inner:(o*n+u+1)*inner], vec[(o*len(units)+k)*inner:(o*len(units)+k+1)*inner])
			}
		}
	case len(vec) == inner*outer && inner*outer > 0:
		for o := range outer {
			for _, u := range units {
				copy(out[(o*n+u)*inner:(o*n+u+1)*inner], vec[o*inner:(o+1)*inner])
			}
		}
	default:
		return nil, fmt.Errorf("the vector has %d values; the hook has %v per position (%d), or %d for the %d selected unit(s)", len(vec), rest, full, len(units)*inner*outer, len(units))
	}
	return out, nil
}

// broadcastPerPos makes a node of shape dims from one position's value.
func broadcastPerPos(g *Graph, perPos []float32, dims []int, lay Layout) *Node {
	shape := make([]int, len(dims))
	for i, d := range dims {
		shape[i] = d
		if i == 0 || i == lay.PosAxis {
			shape[i] = 1
		}
	}
	c := ConstTensor(g, tensors.FromFlatDataAndDimensions(perPos, shape...))
	return BroadcastToDims(c, dims...)
}

// toPosMajor reorders a [1, ...] activation so positions are the outer axis:
// [pos, rest...].
func toPosMajor(data []float32, shape []int, posAxis int) []float32 {
	if posAxis == 1 {
		return data
	}
	// [1, a, pos, c]: move pos to the front.
	a, t, c := prod(shape[1:posAxis]), shape[posAxis], prod(shape[posAxis+1:])
	out := make([]float32, len(data))
	for i := range a {
		for p := range t {
			copy(out[(p*a+i)*c:(p*a+i+1)*c], data[(i*t+p)*c:(i*t+p+1)*c])
		}
	}
	return out
}

// resampleNode lays out the resample input's activations for a graph of
// dims: position p takes the resample input's position p (its last position
// when it is shorter).
func resampleNode(g *Graph, posMajor []float32, tr int, dims []int, lay Layout) *Node {
	t := dims[lay.PosAxis]
	per := len(posMajor) / tr
	buf := make([]float32, t*per)
	for p := range t {
		q := min(p, tr-1)
		copy(buf[p*per:(p+1)*per], posMajor[q*per:(q+1)*per])
	}
	// buf is [pos, rest...]; build it in the hook's own axis order.
	shape := []int{1}
	if lay.PosAxis == 1 {
		shape = append(shape, t)
		shape = append(shape, dims[2:]...)
		return BroadcastToDims(ConstTensor(g, tensors.FromFlatDataAndDimensions(buf, shape...)), dims...)
	}
	a, c := prod(dims[1:lay.PosAxis]), prod(dims[lay.PosAxis+1:])
	out := make([]float32, len(buf))
	for p := range t {
		for i := range a {
			copy(out[(i*t+p)*c:(i*t+p+1)*c], buf[(p*a+i)*c:(p*a+i+1)*c])
		}
	}
	shape = append([]int{1}, dims[1:]...)
	return BroadcastToDims(ConstTensor(g, tensors.FromFlatDataAndDimensions(out, shape...)), dims...)
}
