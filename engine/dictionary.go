package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/format"
	"github.com/glia-dev/glia/hook"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Dictionary is a sparse dictionary (a sparse autoencoder, a transcoder's
// encoder) that Attach splices into one of a model's hook points. Its
// feature activations become the hook point Hook()+hook.SAEActs
// ("blocks.3.hook_resid_post.hook_sae_acts_post", as SAELens's
// HookedSAETransformer names them), with Hook()+hook.SAERecons and
// Hook()+hook.SAEError beside them; every request can read, replace and
// differentiate them like any other hook, and atlas build records the
// features as units. The error term is kept, so a model with an unedited
// dictionary computes exactly what it computed without one.
type Dictionary interface {
	// Hook is the hook point the dictionary reads and writes.
	Hook() string
	// Tensors are its weights, fed to every graph as inputs (not
	// constants, so compiled graphs do not each hold a copy).
	Tensors() []NamedArray
	// Encode maps the hook's value [..., d_in] to feature activations
	// [..., d_sae]; Decode maps features back to [..., d_in]. w looks up
	// a tensor of Tensors by name. Graph code: they may panic.
	Encode(w func(name string) *Node, x *Node) *Node
	Decode(w func(name string) *Node, f *Node) *Node
}

// Transcoder is a Dictionary whose encoder reads another hook point than the
// one it writes: a transcoder reads an MLP's input and writes its output.
// Hook is the hook written, and the features are Hook()+hook.SAEActs, as
// SAELens's HookedSAETransformer names a transcoder's (its wrapper sits at
// hook_name_out). The error term is the written hook's true value minus
// the reconstruction, so an unedited transcoder changes nothing.
type Transcoder interface {
	Dictionary
	// InHook is the hook point Encode reads; it must come before Hook in
	// the forward pass. Decode maps features to Hook's shape.
	InHook() string
	// Skip maps InHook's value to Hook's shape (a skip transcoder's
	// W_skip·x); nil when the transcoder has none.
	Skip(w func(name string) *Node, x *Node) *Node
}

// NamedArray is a named tensor.
type NamedArray struct {
	Name string
	Array
}

// dictionaryWeight is the name under which a dictionary's tensor joins the
// model's graph inputs; no family's weight has this form.
func dictionaryWeight(hookName, tensor string) string { return "dictionary:" + hookName + "/" + tensor }

// Attach splices d into its hook point for every later request. Attach
// before sharing the model between goroutines: it drops the compiled
// graphs and the traced hook points, and changes the Fingerprint (an atlas
// of the model with the dictionary is not the atlas of the model alone).
// One dictionary per hook point (a transcoder's is the hook it writes; see
// Transcoder).
func (m *Model) Attach(d Dictionary) error {
	name := d.Hook()
	info, err := m.HookPoint(name)
	if err != nil {
		return fmt.Errorf("engine: attaching a dictionary: %w", err)
	}
	inInfo := info
	tc, isTC := d.(Transcoder)
	if isTC {
		if inInfo, err = m.HookPoint(tc.InHook()); err != nil {
			return fmt.Errorf("engine: attaching a transcoder to %s: %w", name, err)
		}
		if m.hooks.index[tc.InHook()] >= m.hooks.index[name] {
			return fmt.Errorf("engine: a transcoder reads %s and writes %s, but %s does not come before %s in the forward pass", tc.InHook(), name, tc.InHook(), name)
		}
	}
	if slices.ContainsFunc(m.dicts, func(o Dictionary) bool { return o.Hook() == name }) {
		return fmt.Errorf("engine: %s already has a dictionary", name)
	}
	h := sha256.New()
	h.Write([]byte(m.fingerprint))
	var specs []arch.WeightSpec
	var ts []*tensors.Tensor
	for _, a := range d.Tensors() {
		n := 1
		for _, x := range a.Shape {
			n *= x
		}
		if n != len(a.Data) {
			return fmt.Errorf("engine: dictionary on %s: tensor %s has shape %v but %d values", name, a.Name, a.Shape, len(a.Data))
		}
		if err := format.CheckFinite(a.Name, a.Data); err != nil {
			return fmt.Errorf("engine: dictionary on %s: %w", name, err)
		}
		t, err := tensors.FromShapeForBackend(m.backend, 0, shapes.Make(dtypes.Float32, a.Shape...))
		if err != nil {
			return fmt.Errorf("engine: dictionary on %s: allocating %s: %w", name, a.Name, err)
		}
		tensors.MustMutableFlatData(t, func(flat []float32) { copy(flat, a.Data) })
		if m.DType() != dtypes.Float32 {
			c, err := convertTensor(m.backend, t, m.DType())
			t.FinalizeAll()
			if err != nil {
				return fmt.Errorf("engine: dictionary on %s: %w", name, err)
			}
			t = c
		}
		specs = append(specs, arch.WeightSpec{Name: dictionaryWeight(name, a.Name), Shape: a.Shape})
		ts = append(ts, t)
		hashFloats(h, a.Name, a.Data)
	}
	// Check the dictionary's shapes on the hook's own shape now, so a
	// mismatch is an error here rather than in every later request.
	if err := Catch(func() error {
		g := NewGraph(m.backend, "attach")
		defer g.Finalize()
		x := Parameter(g, "x", shapes.Make(m.DType(), inInfo.Shape...))
		params := map[string]*Node{}
		w := func(t string) *Node {
			if p, ok := params[t]; ok {
				return p
			}
			for i, s := range specs {
				if s.Name == dictionaryWeight(name, t) {
					params[t] = Parameter(g, t, shapes.Make(m.DType(), specs[i].Shape...))
					return params[t]
				}
			}
			exceptions.Panicf("dictionary reads undeclared tensor %q", t)
			return nil
		}
		f := d.Encode(w, x)
		y := d.Decode(w, f)
		if !slices.Equal(y.Shape().Dimensions, info.Shape) {
			return fmt.Errorf("its decoder gives %v for the hook's %v", y.Shape().Dimensions, info.Shape)
		}
		if isTC {
			if s := tc.Skip(w, x); s != nil && !slices.Equal(s.Shape().Dimensions, info.Shape) {
				return fmt.Errorf("its skip connection gives %v for the hook's %v", s.Shape().Dimensions, info.Shape)
			}
		}
		return nil
	}); err != nil {
		for _, t := range ts {
			t.FinalizeAll()
		}
		return fmt.Errorf("engine: dictionary on %s: %w", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, s := range specs {
		m.index[s.Name] = len(m.specs)
		m.specs = append(m.specs, s)
		m.weights = append(m.weights, ts[i])
	}
	m.dicts = append(m.dicts, d)
	m.fingerprint = hex.EncodeToString(h.Sum(nil))[:16]
	clear(m.execs)
	m.hooksOnce, m.hooks = sync.Once{}, nil
	return nil
}

// Dictionaries lists the attached dictionaries in the order attached.
func (m *Model) Dictionaries() []Dictionary { return slices.Clone(m.dicts) }

// familyWeights is how many of m.specs are the family's own (the rest are
// attached dictionaries').
func (m *Model) familyWeights() int {
	n := len(m.specs)
	for _, s := range m.specs {
		if isDictionaryWeight(s.Name) {
			n--
		}
	}
	return n
}

func isDictionaryWeight(name string) bool { return strings.HasPrefix(name, "dictionary:") }

// splice registers the attached dictionaries on hp, their tensors looked
// up with w.
func (m *Model) splice(hp *hook.Points, w arch.Weights) {
	for _, d := range m.dicts {
		d, name := d, d.Hook()
		lookup := func(t string) *Node { return w(dictionaryWeight(name, t)) }
		s := hook.Splice{
			Encode: func(x *Node) *Node { return d.Encode(lookup, x) },
			Decode: func(f *Node) *Node { return d.Decode(lookup, f) },
		}
		if tc, ok := d.(Transcoder); ok {
			s.In = tc.InHook()
			s.Skip = func(x *Node) *Node { return tc.Skip(lookup, x) }
		}
		hp.Splice(name, s)
	}
}
