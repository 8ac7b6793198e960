package sae

import (
	"fmt"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/engine/cpu/sgemm"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

// Transcoders, as SAELens 6.54.12 defines them (sae_lens/saes/transcoder.py):
// an encoder on one hook point (cfg.json's metadata.hook_name, the MLP's
// input) and a decoder to another (metadata.hook_name_out, the MLP's
// output) of width d_out. W_dec is [d_sae, d_out], b_dec [d_out], and
// apply_b_dec_to_input is false (b_dec has the output's width). A skip
// transcoder adds W_skip·x, W_skip [d_out, d_in], to the output.
//
// SAELens names four: transcoder and skip_transcoder (ReLU),
// jumprelu_transcoder and jumprelu_skip_transcoder. It has no TopK
// transcoder; glia writes one as topk_transcoder / topk_skip_transcoder
// (k and rescale_acts_by_decoder_norm as a topk SAE's), which SAELens
// refuses to load.

// transcoderArchs maps cfg.json's architecture to the activation and the
// skip flag.
var transcoderArchs = map[string]struct {
	act  string
	skip bool
}{
	"transcoder": {Standard, false}, "skip_transcoder": {Standard, true},
	"jumprelu_transcoder": {JumpReLU, false}, "jumprelu_skip_transcoder": {JumpReLU, true},
	"topk_transcoder": {TopK, false}, "topk_skip_transcoder": {TopK, true},
}

// IsTranscoder reports whether the config is a transcoder's.
func (c Config) IsTranscoder() bool { return c.DOut > 0 }

// OutWidth is the decoder's width: d_out for a transcoder, d_in for an SAE.
func (c Config) OutWidth() int {
	if c.IsTranscoder() {
		return c.DOut
	}
	return c.DIn
}

// ArchitectureName is cfg.json's architecture: Architecture for an SAE,
// the transcoder's SAELens name otherwise.
func (c Config) ArchitectureName() string {
	if !c.IsTranscoder() {
		return c.Architecture
	}
	for name, a := range transcoderArchs {
		if a.act == c.Architecture && a.skip == c.Skip {
			return name
		}
	}
	return c.Architecture // refused by check
}

// transcoder reads a transcoder's architecture into the activation, the
// skip flag and d_out. SAELens refuses apply_b_dec_to_input true for
// transcoders; when the key is absent it is false here.
func (r *reader) transcoder(c *Config) {
	a, ok := transcoderArchs[c.Architecture]
	if !ok {
		return
	}
	c.Architecture, c.Skip = a.act, a.skip
	c.ApplyBDecToInput = false
	if _, ok := r.raw["d_out"]; !ok {
		r.fail("d_out", "is missing; a transcoder needs its output width", nil)
		return
	}
	r.integer("d_out", &c.DOut)
	if c.DOut <= 0 && r.err == nil {
		r.fail("d_out", fmt.Sprintf("is %d; a transcoder's output width must be positive", c.DOut), nil)
	}
}

// checkTranscoder refuses what SAELens's TranscoderConfig refuses and what
// glia does not compute for transcoders.
func (c Config) checkTranscoder(bad func(key, msg string, args ...any) error) error {
	switch {
	case c.DOut == 0 && !c.Skip:
		return nil
	case c.DOut <= 0 || c.DOut > 1<<16:
		return bad("d_out", "is %d; it must lie in [1, 65536]", c.DOut)
	case c.Architecture == BatchTopK || c.Architecture == Matryoshka:
		return bad("architecture", "%s is a training architecture; a transcoder saves as jumprelu", c.Architecture)
	case c.ApplyBDecToInput:
		return bad("apply_b_dec_to_input", "is true; a transcoder's b_dec has the output's width (SAELens refuses it too)")
	case c.NormalizeActivations != "none" && c.NormalizeActivations != "expected_average_only_in":
		return bad("normalize_activations", "is %q; transcoders are read with none or expected_average_only_in", c.NormalizeActivations)
	case c.ReshapeActivations != "none":
		return bad("reshape_activations", "is %q; transcoders read one vector per position", c.ReshapeActivations)
	}
	return nil
}

// addSkip adds x·W_skipᵀ ([rows, d_in] → [rows, d_out]) to out.
func (s *SAE) addSkip(x, out []float32, rows int) {
	if s.WSkip == nil {
		return
	}
	c := s.Cfg
	tmp := make([]float32, rows*c.DOut)
	sgemm.MatMul(x, s.WSkip, tmp, 1, rows, c.DOut, c.DIn, true)
	for i, v := range tmp {
		out[i] += v
	}
}

// LoadTranscoderFor loads a transcoder and checks that it was trained on
// model from hook in to hook out; a mismatch names the model and both
// hooks, its own and the ones asked for. Empty arguments are not checked.
func LoadTranscoderFor(dir, model, in, out string) (*SAE, error) {
	s, err := Load(dir)
	if err != nil {
		return nil, err
	}
	m := s.Cfg.Metadata
	if !s.Cfg.IsTranscoder() {
		return nil, &Error{Path: dir, Key: "architecture", Msg: fmt.Sprintf("is %s, not a transcoder", s.Cfg.Architecture)}
	}
	if (model != "" && m.ModelName != "" && m.ModelName != model) || (in != "" && m.HookName != in) || (out != "" && m.HookNameOut != out) {
		return nil, &MismatchError{Dir: dir, SAEModel: m.ModelName, SAEHook: m.HookName, SAEHookOut: m.HookNameOut, WantModel: model, WantHook: in, WantHookOut: out}
	}
	return s, nil
}

// tSkip is W_skip transposed, [d_in, d_out], as the graph forms read it.
const tSkip = "W_skip_T"

func (s *SAE) skipTensor() engine.NamedArray {
	d, do := s.Cfg.DIn, s.Cfg.DOut
	wt := make([]float32, d*do)
	transpose(s.WSkip, wt, do, d)
	return engine.NamedArray{Name: tSkip, Array: engine.Array{Shape: []int{d, do}, Data: wt}}
}

// TranscoderDictionary is a transcoder as an engine.Transcoder for
// Model.Attach: it reads metadata.hook_name and writes
// metadata.hook_name_out, and its features are the hook point
// HOOK_OUT.hook_sae_acts_post, as HookedSAETransformer names a
// transcoder's (blocks.3.hook_mlp_out.hook_sae_acts_post). The error term
// is the true output minus the reconstruction (skip term included), so an
// unedited transcoder changes nothing and an edit of the features changes
// the output by the decoder's image of the edit.
type TranscoderDictionary struct {
	Dictionary
}

func attachTranscoder(m *engine.Model, s *SAE) error {
	if err := FitsTranscoder(m, s); err != nil {
		return err
	}
	info, _ := m.HookPoint(s.Cfg.Metadata.HookNameOut)
	return m.Attach(&TranscoderDictionary{Dictionary{SAE: s, trailing: append([]int(nil), info.Shape[2:]...)}})
}

// FitsTranscoder checks that s's input hook exists in m with d_in values
// per position and its output hook with d_out.
func FitsTranscoder(m *engine.Model, s *SAE) error {
	c := s.Cfg
	if c.Metadata.HookNameOut == "" {
		return fmt.Errorf("sae: the transcoder's cfg.json has no metadata.hook_name_out (the hook it writes)")
	}
	for _, h := range []struct {
		key, name string
		width     int
	}{{"d_in", c.Metadata.HookName, c.DIn}, {"d_out", c.Metadata.HookNameOut, c.DOut}} {
		w, err := HookWidth(m, h.name)
		if err != nil {
			return fmt.Errorf("sae: transcoder %s → %s: %w", c.Metadata.HookName, c.Metadata.HookNameOut, err)
		}
		if w != h.width {
			return fmt.Errorf("sae: transcoder %s → %s: %s is %d but %s of %s has %d values per position",
				c.Metadata.HookName, c.Metadata.HookNameOut, h.key, h.width, h.name, m.Name, w)
		}
	}
	return nil
}

func (d *TranscoderDictionary) Hook() string   { return d.SAE.Cfg.Metadata.HookNameOut }
func (d *TranscoderDictionary) InHook() string { return d.SAE.Cfg.Metadata.HookName }

func (d *TranscoderDictionary) Skip(w func(string) *graph.Node, x *graph.Node) *graph.Node {
	if !d.SAE.Cfg.Skip {
		return nil
	}
	dims := x.Shape().Dimensions
	y := graph.MatMul(d.SAE.flatRows(x), graph.ConvertDType(w(tSkip), dtypes.Float32))
	return graph.ConvertDType(graph.Reshape(y, append([]int{dims[0], dims[1]}, d.trailing...)...), x.DType())
}
