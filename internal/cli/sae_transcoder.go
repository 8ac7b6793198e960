package cli

import (
	"flag"
	"fmt"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/hook"
	"github.com/glia-dev/glia/sae"
	"github.com/gomlx/gomlx/core/graph"
)

// transcoderFlags are glia sae train's transcoder flags: --transcoder
// trains, for each --hook, a transcoder to the matching --hook-out
// (the MLP's input → its output), streaming (input, output) pairs through
// the same shuffle buffer as rows of d_in + d_out values.
type transcoderFlags struct {
	on, skip bool
	outs     stringList
}

func (f *transcoderFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "transcoder", false, "train transcoders: --hook is the input (e.g. blocks.2.ln2.hook_normalized), --hook-out the output (blocks.2.hook_mlp_out)")
	fs.BoolVar(&f.skip, "skip", false, "with --transcoder: a skip transcoder (adds W_skip·x, initialised at zero)")
	fs.Var(&f.outs, "hook-out", "with --transcoder: the output hook (or glob) of the --hook at the same place; repeatable")
}

// hooks resolves the hooks to train on: for SAEs the matches of --hook and
// no outputs; for transcoders the matches of each --hook paired, in order,
// with those of the --hook-out at the same place.
func (f *transcoderFlags) hooks(m *engine.Model, hooks []string) (ins, outs []string, err error) {
	if !f.on {
		if f.skip || len(f.outs) > 0 {
			return nil, nil, usagef("--skip and --hook-out need --transcoder")
		}
		ins, err = m.MatchHooks(hooks...)
		return ins, nil, err
	}
	if len(f.outs) != len(hooks) {
		return nil, nil, usagef("--transcoder needs one --hook-out per --hook (got %d --hook, %d --hook-out), e.g. --hook blocks.2.ln2.hook_normalized --hook-out blocks.2.hook_mlp_out", len(hooks), len(f.outs))
	}
	for i, h := range hooks {
		in, err := m.MatchHooks(h)
		if err != nil {
			return nil, nil, err
		}
		out, err := m.MatchHooks(f.outs[i])
		if err != nil {
			return nil, nil, err
		}
		if len(in) != len(out) {
			return nil, nil, usagef("--hook %s matches %d hooks but --hook-out %s matches %d; they pair in order", h, len(in), f.outs[i], len(out))
		}
		ins, outs = append(ins, in...), append(outs, out...)
	}
	return ins, outs, nil
}

// transcoderOut sets up hook i's output for a transcoder (its width into
// o, the output hook into h); nothing for an SAE.
func (f *transcoderFlags) transcoderOut(m *engine.Model, outs []string, i int, h *saeHook, o *sae.Options) error {
	if !f.on {
		return nil
	}
	w, err := sae.HookWidth(m, outs[i])
	if err != nil {
		return err
	}
	h.out, h.outWidth = outs[i], w
	o.DOut, o.Skip, o.NoBDecInput = w, f.skip, true
	return nil
}

// vectors are h's training rows from one forward pass: the hook's values,
// or for a transcoder each position's input and output side by side.
func (h *saeHook) vectors(res *engine.Result) ([]float32, error) {
	a := res.Acts[h.name].Data
	if h.out == "" {
		return a, nil
	}
	b := res.Acts[h.out].Data
	d := h.width - h.outWidth
	rows := len(a) / d
	if rows*h.outWidth != len(b) {
		return nil, fmt.Errorf("transcoder %s → %s: %d input values and %d output values are not the same positions", h.name, h.out, len(a), len(b))
	}
	return sae.StackPairs(make([]float32, 0, len(a)+len(b)), a, b, rows, d, h.outWidth), nil
}

// transcoderEvalJob attaches the transcoder s to m and sets the three
// forward passes glia sae eval compares: the transcoder's output in place
// of the MLP's (the error term zeroed), the MLP's output zeroed
// (CE_ablated), and the features edited by nothing (the error kept, which
// must reproduce the clean logits). Attaching changes no clean logit. It
// returns the model the three passes run on: m, or a copy from load when m
// already has a transcoder on that output hook.
func transcoderEvalJob(m *engine.Model, load func() (*engine.Model, error), dir string, s *sae.SAE, recon, zero, keep *engine.Intervention) (*engine.Model, error) {
	if err := sae.FitsTranscoder(m, s); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	for _, d := range m.Dictionaries() {
		if d.Hook() == s.Cfg.Metadata.HookNameOut {
			var err error
			if m, err = load(); err != nil {
				return nil, err
			}
			break
		}
	}
	if err := sae.Attach(m, s); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	out := s.Cfg.Metadata.HookNameOut
	zeros := func(x *graph.Node) *graph.Node { return graph.ZerosLike(x) }
	*recon = engine.Intervention{Hook: out + hook.SAEError, Key: "transcoder:recon:" + dir, Fn: zeros}
	*zero = engine.Intervention{Hook: out, Key: "transcoder:zero:" + dir, Fn: zeros}
	*keep = engine.Intervention{Hook: out + hook.SAEActs, Key: "transcoder:keep-error:" + dir, Fn: func(x *graph.Node) *graph.Node { return x }}
	return m, nil
}

// outHook is the hook an SAE's reconstruction is compared with: its own,
// or a transcoder's output hook.
func outHook(s *sae.SAE) string {
	if s.Cfg.IsTranscoder() {
		return s.Cfg.Metadata.HookNameOut
	}
	return s.Cfg.Metadata.HookName
}
