// Package engine runs model families on a GoMLX backend: it owns the loaded
// weights, compiles one graph per (input shape, hooks, interventions) and
// caches it, and is the one place where graph-building panics become errors.
//
// glia's CPU kernels (engine/cpu) go under GoMLX's Go backend only when the
// program calls UseCPUKernels(true) before its first model loads: they
// replace that backend's kernels for the whole process, which a library
// must not do to the program that imports it (kernels.go says more).
package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/format"
	"github.com/glia-dev/glia/hook"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/support/exceptions"

	_ "github.com/glia-dev/glia/arch/all"       // every model family
	_ "github.com/gomlx/gomlx/backends/default" // the Go and XLA backends
)

// Model is a loaded checkpoint ready to run.
type Model struct {
	Name      string       // where it came from, for people
	Family    arch.Family  // the architecture
	Config    *arch.Config // its config.json (or the equivalent read from GGUF / llama2.c)
	Tokenizer Tokenizer    // nil when the checkpoint has none; token ids still work

	backend     compute.Backend
	specs       []arch.WeightSpec
	weights     []*tensors.Tensor
	index       map[string]int
	fingerprint string
	dtype       dtypes.DType // compute dtype; see dtype.go

	mu    sync.Mutex
	execs map[string]*Exec

	hooksOnce sync.Once
	hooks     *hookTable // see HookPoints

	vocabOnce sync.Once
	vocab     map[string]int32 // see TokenID

	dicts []Dictionary // see Attach

	unpin []func() // see pinWeights
}

// Tokenizer is what the engine and its commands need of a tokenizer
// (package tokenizer implements it).
type Tokenizer interface {
	Encode(text string, addSpecial bool) []int
	Decode(ids []int, skipSpecial bool) string
	TokenString(id int) string
	BOS() int // -1 if none
	EOS() int // -1 if none
}

// HookInfo describes one hook point as traced at a given sequence length.
type HookInfo struct {
	Name  string
	Shape []int // with batch 1 and the traced sequence length
	// PosAxes are the axes whose length is the sequence length ([1] for
	// [batch, pos, ...], [2 3] for [batch, head, q, k]); HookPoints fills
	// them by tracing two lengths, Hooks(seq) leaves them nil.
	PosAxes []int
}

// Backend returns the shared backend, created from $GOMLX_BACKEND, else the
// pure-Go CPU backend ("go"). The XLA backend is compiled in for GPUs but
// never chosen implicitly: it would try to download a CPU plugin.
//
// glia's CPU kernels (engine/cpu/kernels) are installed into the Go
// backend first when the program asked for them (UseCPUKernels), so every
// graph built on it uses them.
var Backend = sync.OnceValues(func() (compute.Backend, error) {
	cfg := os.Getenv("GOMLX_BACKEND")
	if cfg == "" {
		cfg = "go"
	}
	be, err := compute.NewWithConfig(cfg)
	if err == nil {
		setUpCPU(be)
	}
	return be, err
})

// FromSource builds a model from a config and a tensor source, reading every
// tensor the family declares, checking its shape and finiteness, and
// refusing tensors the family does not read.
func FromSource(name string, cfg *arch.Config, src format.TensorSource) (m *Model, err error) {
	cfg.Bound(arch.LimitsOf(src)) // no size in the config beyond what the weights hold
	fam, err := arch.New(cfg)
	if err != nil {
		return nil, err
	}
	backend, err := Backend()
	if err != nil {
		return nil, fmt.Errorf("engine: backend: %w", err)
	}
	m = &Model{Name: name, Family: fam, Config: cfg, backend: backend, specs: fam.Weights(), index: map[string]int{}, execs: map[string]*Exec{}}
	var missing, bad []string
	want := map[string]bool{}
	h := sha256.New()
	file := map[string]string{} // spec name → name in the file
	for _, s := range m.specs {
		file[s.Name] = s.Name
		for _, alt := range s.Alt {
			if _, ok := src.Shape(s.Name); !ok {
				if _, ok := src.Shape(alt); ok {
					file[s.Name] = alt
				}
			}
		}
		want[file[s.Name]] = true
		shape, ok := src.Shape(file[s.Name])
		if !ok {
			missing = append(missing, s.Name)
			continue
		}
		if !equalInts(shape, s.Shape) {
			bad = append(bad, fmt.Sprintf("%s: shape %v in file, config.json implies %v", s.Name, shape, s.Shape))
		}
	}
	var unused []string
	filter, _ := fam.(arch.TensorFilter)
	for _, n := range src.Names() {
		if !want[n] && (filter == nil || !filter.Unused(n)) {
			unused = append(unused, n)
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%d missing tensor(s): %s", len(missing), strings.Join(missing, ", ")))
	}
	problems = append(problems, bad...)
	if len(unused) > 0 {
		problems = append(problems, fmt.Sprintf("%d tensor(s) the %s family does not read: %s", len(unused), cfg.String("model_type", "?"), strings.Join(unused, ", ")))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("engine: %s: %s", name, strings.Join(problems, "; "))
	}
	fmt.Fprint(h, cfg.String("model_type", ""), fam.Dims())
	for i, s := range m.specs {
		data, err := src.Float32(file[s.Name])
		if err != nil {
			return nil, fmt.Errorf("engine: %s: %w", name, err)
		}
		if err := format.CheckFinite(s.Name, data); err != nil {
			return nil, fmt.Errorf("engine: %s: %w", name, err)
		}
		t, err := tensors.FromShapeForBackend(backend, 0, shapes.Make(dtypes.Float32, s.Shape...))
		if err != nil {
			return nil, fmt.Errorf("engine: %s: allocating %s: %w", name, s.Name, err)
		}
		tensors.MustMutableFlatData(t, func(flat []float32) { copy(flat, data) })
		hashFloats(h, s.Name, data)
		m.index[s.Name] = i
		m.weights = append(m.weights, t)
	}
	m.fingerprint = hex.EncodeToString(h.Sum(nil))[:16]
	m.pinWeights()
	return m, nil
}

func hashFloats(h interface{ Write([]byte) (int, error) }, name string, data []float32) {
	h.Write([]byte(name))
	var buf [4096]byte
	for i := 0; i < len(data); {
		n := 0
		for ; n+4 <= len(buf) && i < len(data); i++ {
			binary.LittleEndian.PutUint32(buf[n:], math.Float32bits(data[i]))
			n += 4
		}
		h.Write(buf[:n])
	}
}

// Fingerprint identifies the weights and config (a truncated sha256).
func (m *Model) Fingerprint() string { return m.fingerprint }

// Dims are the family's sizes.
func (m *Model) Dims() arch.Dims { return m.Family.Dims() }

// NumParams counts the distinct weights of the family (attached
// dictionaries' excluded).
func (m *Model) NumParams() int64 {
	var n int64
	for i, t := range m.weights {
		if !isDictionaryWeight(m.specs[i].Name) {
			n += int64(t.Size())
		}
	}
	return n
}

// Array is a dense row-major float32 tensor on the host.
type Array struct {
	Shape []int
	Data  []float32
}

// Intervention replaces a hook's value by a graph function of it. Key must
// identify the function (compiled graphs are cached by it).
type Intervention struct {
	Hook string
	Key  string
	Fn   hook.Fn
	// Inputs, with FnIn instead of Fn, are fed to the graph as float32
	// inputs rather than built into it as constants: FnIn gets them as
	// nodes, in order. One compiled graph then serves any values of the
	// same shapes (they are part of the cache key; Key must not name the
	// values), e.g. IG's α of each chunk of steps.
	Inputs []Array
	FnIn   func(x *Node, in []*Node) *Node
}

// GradTarget selects the scalar to differentiate: logits[Batch, Pos, Token],
// or, when Fn is set, Fn(logits) with logits [batch, pos, vocab] float32
// (a log-probability, a loss, a sum over a batch of steps). Key identifies
// Fn, as an Intervention's Key does; Batch, Pos and Token are then unused.
type GradTarget struct {
	Batch, Pos, Token int
	Key               string
	Fn                func(logits *Node) *Node
	// FnInputs, when set instead of Fn, also sees the graph's token ids and
	// mask (int32 [batch, pos], mask 1 on real tokens), so a target over the
	// next tokens (a corpus's loss) compiles once per shape, not per batch.
	FnInputs func(logits, ids, mask *Node) *Node

	// at, when set, makes the target Σ hook(at) ⊙ seed instead (seed fed as
	// a graph input): the backward pass of one segment of a checkpointed
	// request (checkpoint.go).
	at   string
	seed Array
}

// Request is one forward (and optionally backward) pass.
type Request struct {
	IDs           [][]int32      // [batch][pos], all rows the same length
	Pixels        *Array         // instead of IDs, for image families: [batch, channels, height, width], preprocessed
	Mask          [][]bool       // optional: false marks padding (left or right)
	Hooks         []string       // hook points to return
	Interventions []Intervention // applied in order
	Grad          *GradTarget    // with it, Result.Grads holds d target / d hook for each of Hooks
	NoLogits      bool           // skip copying logits to the host
	// Checkpoint, with Grad, runs the backward pass layer by layer, each
	// layer's forward recomputed inside its own backward (checkpoint.go):
	// memory then holds one layer's activations instead of every layer's
	// (long prompts), for about one more forward pass.
	Checkpoint bool
}

// Result holds what a Request asked for.
type Result struct {
	Logits Array            // [batch, pos, vocab]
	Acts   map[string]Array // hook name → value
	Grads  map[string]Array // hook name → gradient
}

// Run executes a request.
func (m *Model) Run(req Request) (*Result, error) {
	if req.Checkpoint && req.Grad != nil {
		return m.runCheckpointed(req)
	}
	var data []any // the graph's inputs before the weights
	var b, t int
	var err error
	if _, images := m.ImageShape(); images || req.Pixels != nil {
		data, b, err = m.pixelInputs(req)
		t = 1 // image families' logits are [batch, 1, num_labels]
	} else {
		data, b, t, err = m.tokenInputs(req)
	}
	if err != nil {
		return nil, err
	}
	d := m.Dims()
	if g := req.Grad; g != nil && g.Fn == nil && g.FnInputs == nil && (g.Batch < 0 || g.Batch >= b || g.Pos < 0 || g.Pos >= t || g.Token < 0 || g.Token >= d.Vocab) {
		return nil, fmt.Errorf("engine: gradient target %d,%d,%d is outside logits [%d,%d,%d]", g.Batch, g.Pos, g.Token, b, t, d.Vocab)
	}
	exec, err := m.exec(b, t, req)
	if err != nil {
		return nil, err
	}
	args := append(make([]any, 0, len(data)+len(m.weights)), data...)
	for _, iv := range req.Interventions {
		for _, a := range iv.Inputs {
			args = append(args, tensors.FromFlatDataAndDimensions(a.Data, a.Shape...))
		}
	}
	if g := req.Grad; g != nil && g.at != "" {
		args = append(args, tensors.FromFlatDataAndDimensions(g.seed.Data, g.seed.Shape...))
	}
	for _, w := range m.weights {
		args = append(args, w)
	}
	outs, err := exec.Call(args...)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	defer func() {
		for _, o := range outs {
			o.FinalizeAll()
		}
	}()
	res := &Result{Acts: map[string]Array{}}
	i := 0
	if !req.NoLogits {
		res.Logits = toArray(outs[0])
		i = 1
	}
	for _, h := range req.Hooks {
		res.Acts[h] = toArray(outs[i])
		i++
	}
	if req.Grad != nil {
		res.Grads = map[string]Array{}
		for _, h := range req.Hooks {
			res.Grads[h] = toArray(outs[i])
			i++
		}
	}
	return res, nil
}

// tokenInputs are a token request's graph inputs: ids, positions, mask.
func (m *Model) tokenInputs(req Request) (data []any, b, t int, err error) {
	b = len(req.IDs)
	if b == 0 || len(req.IDs[0]) == 0 {
		return nil, 0, 0, errors.New("engine: empty batch")
	}
	t = len(req.IDs[0])
	d := m.Dims()
	if t > d.MaxCtx && d.MaxCtx > 0 {
		return nil, 0, 0, fmt.Errorf("engine: sequence length %d exceeds the model's context %d", t, d.MaxCtx)
	}
	ids := make([]int32, 0, b*t)
	for i, row := range req.IDs {
		if len(row) != t {
			return nil, 0, 0, fmt.Errorf("engine: sequence %d has %d tokens, sequence 0 has %d: pad them and pass a mask", i, len(row), t)
		}
		for j, id := range row {
			if id < 0 || int(id) >= d.Vocab {
				return nil, 0, 0, fmt.Errorf("engine: token id %d at [%d,%d] is outside the vocabulary [0,%d)", id, i, j, d.Vocab)
			}
		}
		ids = append(ids, row...)
	}
	pos, mask, err := positions(req.Mask, b, t)
	if err != nil {
		return nil, 0, 0, err
	}
	return []any{tensors.FromFlatDataAndDimensions(ids, b, t), tensors.FromFlatDataAndDimensions(pos, b, t), tensors.FromFlatDataAndDimensions(mask, b, t)}, b, t, nil
}

func toArray(t *tensors.Tensor) Array {
	return Array{Shape: t.Shape().Dimensions, Data: hostFloat32(t)}
}

// positions derives position ids from the mask: each sequence counts only
// its real tokens, so a padded sequence sees the positions it would alone.
func positions(mask [][]bool, b, t int) (pos, m []int32, err error) {
	pos, m = make([]int32, b*t), make([]int32, b*t)
	for i := range b {
		n := int32(0)
		if mask != nil && len(mask) != b {
			return nil, nil, fmt.Errorf("engine: mask has %d rows for %d sequences", len(mask), b)
		}
		for j := range t {
			real := true
			if mask != nil {
				if len(mask[i]) != t {
					return nil, nil, fmt.Errorf("engine: mask row %d has %d entries for %d tokens", i, len(mask[i]), t)
				}
				real = mask[i][j]
			}
			pos[i*t+j] = max(n, 0)
			if real {
				m[i*t+j] = 1
				pos[i*t+j] = n
				n++
			}
		}
	}
	return pos, m, nil
}

// exec returns the compiled graph for this request's shape and options.
func (m *Model) exec(b, t int, req Request) (*Exec, error) {
	var key strings.Builder
	in := m.inputShapes(b, t)
	fmt.Fprintf(&key, "%v|%s|logits=%v|hooks=%s|", in, m.DType(), !req.NoLogits, strings.Join(req.Hooks, ","))
	for _, iv := range req.Interventions {
		fmt.Fprintf(&key, "iv=%s:%s|", iv.Hook, iv.Key)
		for _, a := range iv.Inputs {
			if len(a.Data) != shapes.Make(dtypes.Float32, a.Shape...).Size() {
				return nil, fmt.Errorf("engine: intervention on %s: an input of shape %v holds %d values", iv.Hook, a.Shape, len(a.Data))
			}
			in = append(in, shapes.Make(dtypes.Float32, a.Shape...))
			fmt.Fprintf(&key, "in%v|", a.Shape)
		}
	}
	nIn := len(in)
	if g := req.Grad; g != nil && g.at != "" {
		fmt.Fprintf(&key, "grad=at:%s:%v", g.at, g.seed.Shape)
		in = append(in, shapes.Make(dtypes.Float32, g.seed.Shape...))
	} else if g != nil && (g.Fn != nil || g.FnInputs != nil) {
		fmt.Fprintf(&key, "grad=fn:%s", g.Key)
	} else if g != nil {
		fmt.Fprintf(&key, "grad=%d,%d,%d", g.Batch, g.Pos, g.Token)
	}
	k := key.String()
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.execs[k]; ok {
		return e, nil
	}
	hooks := append([]string(nil), req.Hooks...)
	ivs := append([]Intervention(nil), req.Interventions...)
	grad := req.Grad
	noLogits := req.NoLogits
	fn := func(inputs []*Node) []*Node {
		var seed *Node
		if grad != nil && grad.at != "" {
			// The seed sits between the interventions' inputs and the weights.
			seed = inputs[nIn]
			inputs = append(inputs[:nIn:nIn], inputs[nIn+1:]...)
		}
		logits, hp := m.build(inputs, buildOpts{ivs: ivs, hooks: hooks, differentiate: grad != nil, dictionaries: true})
		logits = asFloat32(logits) // outputs leave the graph as float32 whatever the compute dtype
		var outs []*Node
		if !noLogits {
			outs = append(outs, logits)
		}
		nodes := make([]*Node, len(hooks))
		for i, h := range hooks {
			n, ok := hp.Node(h)
			if !ok {
				exceptions.Panicf("no hook point %q in this model (%s)", h, suggest(h, hp.Names()))
			}
			nodes[i] = n
		}
		for _, n := range nodes {
			outs = append(outs, asFloat32(n))
		}
		if grad != nil {
			var target *Node
			switch {
			case seed != nil:
				at, ok := hp.Node(grad.at)
				if !ok {
					exceptions.Panicf("no hook point %q in this model (%s)", grad.at, suggest(grad.at, hp.Names()))
				}
				target = ReduceAllSum(Mul(asFloat32(at), seed))
			case grad.FnInputs != nil:
				target = grad.FnInputs(logits, inputs[0], inputs[2])
			case grad.Fn != nil:
				target = grad.Fn(logits)
			default:
				target = Slice(logits, AxisElem(grad.Batch), AxisElem(grad.Pos), AxisElem(grad.Token))
			}
			for _, g := range Gradient(Reshape(target), nodes...) {
				outs = append(outs, asFloat32(g))
			}
		}
		return outs
	}
	return m.compileLocked(k, fn, in)
}

// compileLocked compiles fn for the given inputs followed by the weights,
// and caches it under key. The caller holds m.mu.
func (m *Model) compileLocked(key string, fn func([]*Node) []*Node, in []shapes.Shape) (*Exec, error) {
	// GoMLX wraps a panic in graph code in its own words (the Exec's Go
	// function name, "panicked"); users get the panic's own message.
	var cause error
	e, err := NewExec(m.backend, func(in []*Node) []*Node {
		defer func() {
			if r := recover(); r != nil {
				cause = panicError(r)
				panic(r)
			}
		}()
		return fn(in)
	})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	// Build once now, so a bad hook name or intervention is an error here.
	if err := Catch(func() error {
		for _, w := range m.weights {
			in = append(in, w.Shape())
		}
		_, err := e.Compile(in...)
		return err
	}); err != nil {
		if cause != nil {
			err = cause
		}
		return nil, fmt.Errorf("engine: %w", err)
	}
	if len(m.execs) > 64 {
		// Bound compiled-graph memory across many shapes and interventions.
		// Dropped graphs are not finalized here: another goroutine may be
		// running one; the garbage collector frees them once unused.
		clear(m.execs)
	}
	m.execs[key] = e
	return e, nil
}

// ForgetGraphs drops every compiled graph (they are rebuilt on demand). The
// cache holds at most 64, so a server's heap rises and falls with it; a
// memory measurement that looks for leaks calls this first.
func (m *Model) ForgetGraphs() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.execs)
}

// build runs the family's forward pass on graph inputs [ids, pos, mask,
// weights...], or [pixels, weights...] for an image family.
//
// hooks are the hook points the caller will read; trace records every hook
// point (for listing them) whatever the sequence length; dictionaries splices
// the attached dictionaries (Attach) in, which train's Forward, given the
// family's weights only, does not; unpadded says the mask input is all
// true and positions count from 0 (train's Forward), so attention may run
// fused (arch.Inputs.Unpadded).
func (m *Model) build(inputs []*Node, o buildOpts) (*Node, *hook.Points) {
	hp := hook.NewPoints()
	hp.Want(o.hooks...)
	if o.trace {
		hp.WantAll()
	}
	if o.differentiate {
		hp.MarkExact(o.hooks...)
	}
	_, images := m.ImageShape()
	next := 3 // the interventions' inputs follow ids, pos and mask (or the pixels)
	if images {
		next = 1
	}
	for _, iv := range o.ivs {
		fn, in := iv.Fn, inputs[next:next+len(iv.Inputs)]
		next += len(iv.Inputs)
		if iv.FnIn != nil {
			fn = func(x *Node) *Node { return iv.FnIn(x, in) }
		}
		hp.On(iv.Hook, float32Fn(fn))
	}
	var in arch.Inputs
	var ws []*Node
	if images {
		px := inputs[0]
		if px.DType() != m.DType() {
			px = ConvertDType(px, m.DType()) // pixels arrive as float32
		}
		in, ws = arch.Inputs{Pixels: px, AttnChunk: attnChunk()}, inputs[next:]
	} else {
		in, ws = arch.Inputs{IDs: inputs[0], Pos: inputs[1], Mask: NotEqual(inputs[2], ScalarZero(inputs[2].Graph(), dtypes.Int32)), AttnChunk: attnChunk(),
			Unpadded: o.unpadded}, inputs[next:]
	}
	w := m.weightNodes(ws)
	if o.dictionaries {
		m.splice(hp, w)
	}
	logits := m.Family.Forward(w, in, hp)
	if u := hp.Unused(); len(u) > 0 {
		exceptions.Panicf("intervention on unknown hook point(s) %s (%s)", strings.Join(u, ", "), suggest(u[0], hp.Names()))
	}
	return logits, hp
}

// buildOpts are build's options (see build).
type buildOpts struct {
	ivs                                          []Intervention
	hooks                                        []string
	differentiate, trace, dictionaries, unpadded bool
}

// weightNodes looks the family's weights up among the graph inputs ws (in
// m.weights order).
func (m *Model) weightNodes(ws []*Node) arch.Weights {
	return func(name string) *Node {
		i, ok := m.index[name]
		if !ok {
			exceptions.Panicf("family reads undeclared weight %q", name)
		}
		return ws[i]
	}
}

// Catch turns a panic in graph code into an error: the one place glia does
// so. Packages that build their own GoMLX graphs (explain's lens) call it too.
func Catch(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	return f()
}

// panicError is a recovered panic value as an error.
func panicError(r any) error {
	if e, ok := r.(error); ok {
		return e
	}
	return fmt.Errorf("%v", r)
}

// Hooks traces the forward pass at sequence length seq and lists every hook
// point with its shape (an image family's shapes do not depend on seq). HookPoints is the same at length 1, traced once.
func (m *Model) Hooks(seq int) ([]HookInfo, error) {
	var out []HookInfo
	err := Catch(func() error {
		g := NewGraph(m.backend, "trace")
		defer g.Finalize()
		var inputs []*Node
		for i, s := range m.inputShapes(1, seq) {
			inputs = append(inputs, Parameter(g, fmt.Sprintf("input%d", i), s))
		}
		for _, s := range m.specs {
			inputs = append(inputs, Parameter(g, s.Name, shapes.Make(m.DType(), s.Shape...)))
		}
		_, hp := m.build(inputs, buildOpts{trace: true, dictionaries: true})
		for _, n := range hp.Names() {
			node, _ := hp.Node(n)
			out = append(out, HookInfo{Name: n, Shape: node.Shape().Dimensions})
		}
		return nil
	})
	return out, err
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Weight returns a copy of a loaded weight by its Hugging Face name, in the
// file's layout.
func (m *Model) Weight(name string) (Array, error) {
	i, ok := m.index[name]
	if !ok {
		return Array{}, fmt.Errorf("engine: %s has no weight %q", m.Name, name)
	}
	return toArray(m.weights[i]), nil
}

// WeightNames lists the loaded weights in the family's order.
func (m *Model) WeightNames() []string {
	out := make([]string, m.familyWeights())
	for i, s := range m.specs[:len(out)] {
		out[i] = s.Name
	}
	return out
}
