package source

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/engine"
)

// Stimulus is one input to a model: its token ids and, when known, an id
// that aligns it with a recording's rows.
type Stimulus struct {
	ID  string
	IDs []int32
}

// PromptStimuli encodes prompts (BOS added) as stimuli; ids may be nil.
func PromptStimuli(m *engine.Model, prompts, ids []string) ([]Stimulus, error) {
	out := make([]Stimulus, len(prompts))
	for i, p := range prompts {
		toks, err := m.Encode(p, true)
		if err != nil {
			return nil, &Error{Src: fmt.Sprintf("prompt %d", i+1), Msg: "encoding", Err: err}
		}
		if len(toks) == 0 {
			return nil, &Error{Src: fmt.Sprintf("prompt %d", i+1), Msg: "encodes to no tokens"}
		}
		out[i].IDs = toks
		if ids != nil {
			out[i].ID = ids[i]
		}
	}
	return out, nil
}

// WindowStimuli cuts the corpus at paths into windows of n tokens, as an
// atlas build packs them (documents joined, BOS before each), and keeps at
// most max of them (0: all); a shorter last window of a shard is left
// out, so that every stimulus has n tokens. A window's id is
// SHARD#INDEX, SHARD the shard's name and INDEX the window's number in it.
func WindowStimuli(m *engine.Model, paths []string, opt corpus.Options, n, max int) ([]Stimulus, error) {
	shards, err := corpus.Resolve(paths)
	if err != nil {
		return nil, err
	}
	encode := func(s string) []int32 {
		ids, _ := m.Encode(s, false)
		return ids
	}
	p, err := corpus.NewPacker(shards, opt, encode, m.BOS(), n, corpus.Cursor{})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	var out []Stimulus
	for max <= 0 || len(out) < max {
		w, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(w.IDs) == n {
			out = append(out, Stimulus{ID: fmt.Sprintf("%s#%d", shards[w.Shard].Name, w.Index), IDs: w.IDs})
		}
	}
	if len(out) == 0 {
		return nil, &Error{Src: fmt.Sprint(paths), Msg: fmt.Sprintf("no window of %d tokens in the corpus", n)}
	}
	return out, nil
}

// HookMatrices runs the stimuli through m, batch at a time (sequences of
// several lengths padded on the right under a mask, which causal attention
// keeps out of the real positions), reads the hooks glob matches, and
// pools each to one row per stimulus. A hook must have exactly one
// position axis, axis 1 ([batch, pos, ...]): an attention pattern has two
// and cannot be pooled to a vector this way. Ids come from the stimuli
// when every one has one.
func HookMatrices(m *engine.Model, glob string, stimuli []Stimulus, pool Pool, batch int) ([]*Matrix, error) {
	hooks, err := m.MatchHooks(glob)
	if err != nil {
		return nil, err
	}
	infos, err := m.HookPoints()
	if err != nil {
		return nil, err
	}
	for _, h := range infos {
		if slices.Contains(hooks, h.Name) && !slices.Equal(h.PosAxes, []int{1}) {
			return nil, &Error{Src: h.Name, Msg: fmt.Sprintf("position axes %v: compare pools hooks shaped [batch, pos, ...] only", h.PosAxes)}
		}
	}
	var ids []string
	if !slices.ContainsFunc(stimuli, func(s Stimulus) bool { return s.ID == "" }) {
		for _, s := range stimuli {
			ids = append(ids, s.ID)
		}
	}
	batch = max(batch, 1)
	out := make([]*Matrix, len(hooks))
	for lo := 0; lo < len(stimuli); lo += batch {
		group := stimuli[lo:min(lo+batch, len(stimuli))]
		req := engine.Request{Hooks: hooks, NoLogits: true}
		seqs := make([][]int32, len(group))
		for i, s := range group {
			seqs[i] = s.IDs
		}
		req.IDs, req.Mask = engine.PadRight(seqs)
		res, err := m.Run(req)
		if err != nil {
			return nil, &Error{Src: fmt.Sprintf("stimuli %d–%d", lo+1, lo+len(group)), Msg: "running the model", Err: err}
		}
		t := len(req.IDs[0])
		for k, h := range hooks {
			a := res.Acts[h]
			width := len(a.Data) / (len(group) * t)
			if out[k] == nil {
				out[k] = &Matrix{Name: h, IDs: ids, X: mat.NewDense(len(stimuli), width, nil)}
			}
			if _, w := out[k].X.Dims(); w != width {
				return nil, &Error{Src: h, Msg: fmt.Sprintf("%d features at stimulus %d, %d before", width, lo+1, w)}
			}
			for b, s := range group {
				row := a.Data[b*t*width : (b*t+len(s.IDs))*width]
				if err := pool.Apply(row, len(s.IDs), width, out[k].X.RawRowView(lo+b)); err != nil {
					return nil, &Error{Src: fmt.Sprintf("stimulus %d, hook %s", lo+b+1, h), Msg: "pooling", Err: err}
				}
			}
		}
	}
	return out, nil
}
