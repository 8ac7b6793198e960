package server

import (
	"encoding/binary"
	"math"
	"net/http"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/engine"
)

// cache is POST /api/cache, the tensors behind the Python client's
// run_with_cache: api.CacheRequest in, api.CacheResponse out. The run is
// unpadded (engine.Run on the ids as given), as `glia run` does, so that
// the values are bit for bit those of `glia run --save`.
func (s *Server) cache(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.CacheRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	m := s.cfg.Model
	if m == nil {
		return nil, apiErr(http.StatusServiceUnavailable, "this server was started without a model")
	}
	ids, err := s.cacheIDs(m, req)
	if err != nil {
		return nil, err
	}
	if len(req.Specs) > s.lim.MaxSpecs {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "%d specs; the limit is %d", len(req.Specs), s.lim.MaxSpecs)
	}
	var hooks []string
	if len(req.Hooks) > 0 {
		if hooks, err = m.MatchHooks(req.Hooks...); err != nil {
			return nil, apiErr(http.StatusBadRequest, "hooks: %v", err)
		}
	}
	n := len(ids)
	ereq := engine.Request{IDs: [][]int32{ids}, Hooks: hooks}
	if g := req.Grad; g != nil {
		pos := g.Pos
		if pos < 0 {
			pos += n
		}
		if pos < 0 || pos >= n {
			return nil, apiErr(http.StatusBadRequest, "grad.pos %d: the input has positions 0..%d (or -%d..-1)", g.Pos, n-1, n)
		}
		if g.Token < 0 || g.Token >= m.Dims().Vocab {
			return nil, apiErr(http.StatusBadRequest, "grad.token %d is outside the vocabulary [0,%d)", g.Token, m.Dims().Vocab)
		}
		if len(hooks) == 0 {
			return nil, apiErr(http.StatusBadRequest, "grad needs at least one hook to differentiate with respect to")
		}
		ereq.Grad = &engine.GradTarget{Pos: pos, Token: g.Token}
	}
	// Refuse before running what would not be sent: the answer's size is
	// known from the hook shapes.
	size := int64(n) * int64(m.Dims().Vocab)
	for _, h := range hooks {
		shape, err := m.HookShapeAt(h, n)
		if err != nil {
			return nil, apiErr(http.StatusBadRequest, "%v", err)
		}
		k := int64(1)
		for _, d := range shape {
			k *= int64(d)
		}
		if ereq.Grad != nil {
			k *= 2
		}
		size += k
	}
	if size *= 4; size > s.lim.MaxCacheBytes {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "the answer would hold %d bytes of tensors; the limit is %d (ask for fewer hooks or fewer tokens)", size, s.lim.MaxCacheBytes)
	}
	var res *engine.Result
	err = s.withModel(r.Context(), func(m *engine.Model) error {
		ivs, _, err := s.compileSpecs(m, req.Specs)
		if err != nil {
			return err
		}
		ereq.Interventions = ivs
		res, err = m.Run(ereq)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &api.CacheResponse{Hooks: hooks, Logits: wireTensor(res.Logits), Acts: map[string]api.Tensor{}}
	if hooks == nil {
		out.Hooks = []string{}
	}
	out.Text, _ = m.Decode(ids, true) // no tokenizer: ""
	for _, id := range ids {
		out.Tokens = append(out.Tokens, api.Token{ID: id, Text: m.TokenText(id)})
	}
	for _, h := range hooks {
		out.Acts[h] = wireTensor(res.Acts[h])
	}
	if ereq.Grad != nil {
		out.Grads = map[string]api.Tensor{}
		for _, h := range hooks {
			out.Grads[h] = wireTensor(res.Grads[h])
		}
	}
	return out, nil
}

// cacheIDs is the request's input: its ids as given, or its prompt encoded
// with BOS, within the prompt limits.
func (s *Server) cacheIDs(m *engine.Model, req api.CacheRequest) ([]int32, error) {
	switch {
	case req.Prompt != "" && len(req.IDs) > 0:
		return nil, apiErr(http.StatusBadRequest, "give prompt or ids, not both")
	case req.Prompt != "":
		return s.encode(m, "prompt", req.Prompt, s.lim.MaxPromptTokens)
	case len(req.IDs) == 0:
		return nil, apiErr(http.StatusBadRequest, "give a prompt or ids")
	case len(req.IDs) > s.lim.MaxPromptTokens:
		return nil, apiErr(http.StatusRequestEntityTooLarge, "ids has %d tokens; the limit is %d", len(req.IDs), s.lim.MaxPromptTokens)
	}
	for i, id := range req.IDs {
		if id < 0 || int(id) >= m.Dims().Vocab {
			return nil, apiErr(http.StatusBadRequest, "ids[%d] = %d is outside the vocabulary [0,%d)", i, id, m.Dims().Vocab)
		}
	}
	return req.IDs, nil
}

// wireTensor packs a as little-endian float32 (base64 once in JSON): a
// quarter of the size of a JSON number array, and exact.
func wireTensor(a engine.Array) api.Tensor {
	b := make([]byte, 0, 4*len(a.Data))
	for _, v := range a.Data {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return api.Tensor{Shape: a.Shape, DType: "float32", Data: b}
}
