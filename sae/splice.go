package sae

import (
	"fmt"
	"math"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/hook"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// SpliceMode says what replaces a hook's value when an SAE is spliced into
// the forward pass.
type SpliceMode int

const (
	// KeepError replaces x by x̂ + (x − x̂): the model computes what it
	// computed unedited (to rounding), while the features exist in the
	// graph. Attach does the same exactly and names the features.
	KeepError SpliceMode = iota
	// Reconstruct replaces x by x̂: what the CE-loss score measures.
	Reconstruct
	// Zero replaces x by zeros: the ablation the CE-loss score is scaled by.
	Zero
)

// The graph forms of Encode and Decode read the SAE's tensors through a
// lookup, so the same code runs on constants (Splice) and on graph inputs
// (Attach, where compiled graphs share one copy of the weights).
const (
	tWEnc, tWDec, tBEnc, tBDec, tThreshold = "W_enc", "W_dec", "b_enc", "b_dec", "threshold"
	tInvNorm, tNorm                        = "inv_dec_norm", "dec_norm" // topk with rescale_acts_by_decoder_norm
)

// checkSplice refuses what the graph forms do not compute.
func (s *SAE) checkSplice() error {
	switch s.Cfg.NormalizeActivations {
	case "none", "expected_average_only_in":
	default:
		return fmt.Errorf("sae: splicing an SAE with normalize_activations %q is not supported", s.Cfg.NormalizeActivations)
	}
	return s.checkShapes()
}

// graphTensors are the tensors the graph forms read, by name.
func (s *SAE) graphTensors() []engine.NamedArray {
	d, n, do := s.Cfg.DIn, s.Cfg.DSAE, s.Cfg.OutWidth()
	out := []engine.NamedArray{
		{Name: tWEnc, Array: engine.Array{Shape: []int{d, n}, Data: s.WEnc}},
		{Name: tWDec, Array: engine.Array{Shape: []int{n, do}, Data: s.WDec}},
		{Name: tBEnc, Array: engine.Array{Shape: []int{1, n}, Data: s.BEnc}},
		{Name: tBDec, Array: engine.Array{Shape: []int{1, do}, Data: s.BDec}},
	}
	if s.Cfg.Skip {
		out = append(out, s.skipTensor())
	}
	if s.Cfg.Architecture == JumpReLU {
		out = append(out, engine.NamedArray{Name: tThreshold, Array: engine.Array{Shape: []int{1, n}, Data: s.Threshold}})
	}
	if s.Cfg.Architecture == TopK && s.Cfg.RescaleActsByDecNorm {
		norms := rowNorms(s.WDec, n, do)
		inv := make([]float32, n)
		for i, v := range norms {
			inv[i] = 1 / v
		}
		out = append(out, engine.NamedArray{Name: tInvNorm, Array: engine.Array{Shape: []int{1, n}, Data: inv}},
			engine.NamedArray{Name: tNorm, Array: engine.Array{Shape: []int{1, n}, Data: norms}})
	}
	return out
}

// encodeGraph is Encode on rows in [rows, d_in] (float32): [rows, d_sae].
func (s *SAE) encodeGraph(w func(string) *graph.Node, in *graph.Node) *graph.Node {
	if s.Cfg.ApplyBDecToInput {
		in = graph.Sub(in, w(tBDec))
	}
	pre := graph.Add(graph.MatMul(in, w(tWEnc)), w(tBEnc))
	zero := graph.ZerosLike(pre)
	switch s.Cfg.Architecture {
	case JumpReLU:
		return graph.Where(graph.GreaterThan(pre, w(tThreshold)), graph.Max(pre, zero), zero)
	case TopK:
		if s.Cfg.RescaleActsByDecNorm {
			pre = graph.Mul(pre, w(tInvNorm))
		}
		acts := graph.Where(graph.GreaterOrEqual(pre, kthLargest(pre, s.Cfg.K)), graph.Max(pre, zero), zero)
		if s.Cfg.RescaleActsByDecNorm {
			acts = graph.Mul(acts, w(tNorm))
		}
		return acts
	}
	return graph.Max(pre, zero)
}

// decodeGraph is Decode on acts [rows, d_sae]: [rows, d_in].
func (s *SAE) decodeGraph(w func(string) *graph.Node, acts *graph.Node) *graph.Node {
	return graph.Add(graph.MatMul(acts, w(tWDec)), w(tBDec))
}

// flatRows reshapes a hook value [batch, pos, ...] to [batch·pos, d_in]
// (hook_z's heads concatenated, as SAELens's reshape_activations "hook_z").
func (s *SAE) flatRows(x *graph.Node) *graph.Node {
	dims := x.Shape().Dimensions
	rows := dims[0] * dims[1]
	if rows*s.Cfg.DIn != x.Shape().Size() {
		panic(fmt.Sprintf("sae: hook value %v does not flatten to rows of d_in %d", dims, s.Cfg.DIn))
	}
	return graph.Reshape(graph.ConvertDType(x, dtypes.Float32), rows, s.Cfg.DIn)
}

// Splice returns a hook function that runs x through the SAE inside the
// graph, its weights as constants. The hook's value is [batch, pos, ...]
// with the trailing axes flattened to d_in. Only normalize_activations
// none and expected_average_only_in (already folded into the weights when
// SAELens saves) are spliced; others are refused before any graph is built.
func (s *SAE) Splice(mode SpliceMode) (hook.Fn, error) {
	if err := s.checkSplice(); err != nil {
		return nil, err
	}
	if s.Cfg.IsTranscoder() {
		return nil, fmt.Errorf("sae: a transcoder reads another hook than it writes; attach it (sae.Attach) instead of splicing it into one hook")
	}
	ts := s.graphTensors()
	return func(x *graph.Node) *graph.Node {
		if mode == Zero {
			return graph.ZerosLike(x)
		}
		g := x.Graph()
		consts := map[string]*graph.Node{}
		w := func(name string) *graph.Node {
			if c, ok := consts[name]; ok {
				return c
			}
			for _, t := range ts {
				if t.Name == name {
					consts[name] = graph.ConstTensor(g, tensors.FromFlatDataAndDimensions(t.Data, t.Shape...))
					return consts[name]
				}
			}
			panic(fmt.Sprintf("sae: no tensor %q", name))
		}
		in := s.flatRows(x)
		recon := s.decodeGraph(w, s.encodeGraph(w, in))
		if mode == KeepError {
			recon = graph.Add(recon, graph.Sub(in, recon))
		}
		return graph.ConvertDType(graph.Reshape(recon, x.Shape().Dimensions...), x.DType())
	}, nil
}

// Dictionary is the SAE as an engine.Dictionary on its metadata's hook, for
// Model.Attach: its features become the hook point
// HOOK.hook_sae_acts_post, read, edited and differentiated like any other,
// with the error term kept (an unedited SAE changes nothing).
type Dictionary struct {
	SAE      *SAE
	trailing []int // the hook's axes after [batch, pos]
}

// Attach splices s into m at s's hook (its metadata's hook_name) after
// checking that the hook's values are d_in wide.
func Attach(m *engine.Model, s *SAE) error {
	if err := s.checkSplice(); err != nil {
		return err
	}
	if s.Cfg.IsTranscoder() {
		return attachTranscoder(m, s)
	}
	if err := Fits(m, s); err != nil {
		return err
	}
	info, _ := m.HookPoint(s.Cfg.Metadata.HookName) // Fits read it
	return m.Attach(&Dictionary{SAE: s, trailing: append([]int(nil), info.Shape[2:]...)})
}

// HookWidth is the number of values per position of hook name, the d_in of
// an SAE on it: the product of its axes after [batch, pos] (hook_z's heads
// concatenated). A hook without exactly one position axis, at axis 1, is
// refused.
func HookWidth(m *engine.Model, name string) (int, error) {
	h, err := m.HookPoint(name)
	if err != nil {
		return 0, err
	}
	if len(h.PosAxes) != 1 || h.PosAxes[0] != 1 {
		return 0, fmt.Errorf("hook %s is %v with position axes %v: an SAE reads one vector per position ([batch, pos, ...])", name, h.Shape, h.PosAxes)
	}
	w := 1
	for _, v := range h.Shape[2:] {
		w *= v
	}
	return w, nil
}

// Fits checks that s's hook exists in m with d_in values per position.
func Fits(m *engine.Model, s *SAE) error {
	h := s.Cfg.Metadata.HookName
	w, err := HookWidth(m, h)
	if err != nil {
		return fmt.Errorf("sae: %w", err)
	}
	if w != s.Cfg.DIn {
		return fmt.Errorf("sae: d_in is %d but %s of %s has %d values per position", s.Cfg.DIn, h, m.Name, w)
	}
	return nil
}

func (d *Dictionary) Hook() string { return d.SAE.Cfg.Metadata.HookName }

// DecoderRow is feature i's decoder direction, a transcoder's output
// direction (explain's logit lens of a feature reads it).
func (d *Dictionary) DecoderRow(i int) ([]float32, error) {
	n, w := d.SAE.Cfg.DSAE, d.SAE.Cfg.OutWidth()
	if i < 0 || i >= n {
		return nil, fmt.Errorf("sae: feature %d is outside 0..%d", i, n-1)
	}
	return d.SAE.WDec[i*w : (i+1)*w], nil
}
func (d *Dictionary) Tensors() []engine.NamedArray { return d.SAE.graphTensors() }

func (d *Dictionary) Encode(w func(string) *graph.Node, x *graph.Node) *graph.Node {
	dims := x.Shape().Dimensions
	f := d.SAE.encodeGraph(func(n string) *graph.Node { return graph.ConvertDType(w(n), dtypes.Float32) }, d.SAE.flatRows(x))
	return graph.ConvertDType(graph.Reshape(f, dims[0], dims[1], d.SAE.Cfg.DSAE), x.DType())
}

func (d *Dictionary) Decode(w func(string) *graph.Node, f *graph.Node) *graph.Node {
	dims := f.Shape().Dimensions
	rows := graph.Reshape(graph.ConvertDType(f, dtypes.Float32), dims[0]*dims[1], d.SAE.Cfg.DSAE)
	r := d.SAE.decodeGraph(func(n string) *graph.Node { return graph.ConvertDType(w(n), dtypes.Float32) }, rows)
	return graph.ConvertDType(graph.Reshape(r, append([]int{dims[0], dims[1]}, d.trailing...)...), f.DType())
}

// kthLargest is each row's k-th largest value [rows, 1], found by taking
// and suppressing the row maximum k times: on the CPU backend this is far
// faster than TopK's sort. Exact ties select together (the host Encode
// breaks them by index).
func kthLargest(x *graph.Node, k int) *graph.Node {
	ninf := graph.Scalar(x.Graph(), x.DType(), math.Inf(-1))
	var m *graph.Node
	for i := range k {
		m = graph.ReduceAndKeep(x, graph.ReduceMax, -1)
		if i < k-1 {
			x = graph.Where(graph.Equal(x, m), graph.BroadcastToShape(ninf, x.Shape()), x)
		}
	}
	return m
}
