package server

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format/safetensors"
)

// SafetensorsType is the media type of /api/cache's binary answer.
const SafetensorsType = "application/x-safetensors"

// cacheRun is one /api/cache run: what it ran and what came out.
type cacheRun struct {
	seqs   [][]int32
	images int // an image model's batch (seqs is then empty)
	hooks  []string
	res    *engine.Result
	grad   bool
}

// cacheHandler is POST /api/cache, the tensors behind the Python client's
// run_with_cache: api.CacheRequest in, api.CacheResponse out as JSON, or
// as one safetensors file when the client accepts it (no base64, and the
// client reads it without a copy).
func (s *Server) cacheHandler(w http.ResponseWriter, r *http.Request) {
	c, err := s.cache(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m := s.cfg.Model
	if !acceptsSafetensors(r) {
		s.writeJSON(w, r, http.StatusOK, c.response(m, wireTensor))
		return
	}
	// The tensors go raw; their names, in the JSON answer's maps, are the
	// safetensors names.
	var ts []safetensors.Tensor
	add := func(name string, a engine.Array) api.Tensor {
		ts = append(ts, safetensors.Tensor{Name: name, Shape: a.Shape, Data: a.Data})
		return api.Tensor{}
	}
	out := c.response(m, nil)
	if out.Logits != nil {
		add("logits", c.res.Logits)
	}
	for _, h := range c.hooks {
		add(h, c.res.Acts[h])
	}
	if c.grad {
		for _, h := range c.hooks {
			add("grad:"+h, c.res.Grads[h])
		}
	}
	out.Logits, out.Acts, out.Grads = nil, nil, nil
	meta, _ := json.Marshal(out)
	w.Header().Set("Content-Type", SafetensorsType)
	w.Header().Set("Cache-Control", "no-store")
	// Streamed: a bad header fails before a byte is written (n = 0), and
	// so can still be answered; a failed write means the client has gone.
	if n, err := safetensors.WriteTo(w, ts, map[string]string{"glia": string(meta)}); err != nil && n == 0 {
		w.Header().Del("Cache-Control")
		s.fail(w, r, err)
	}
}

// acceptsSafetensors: the request's Accept header names SafetensorsType.
func acceptsSafetensors(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if t, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && t == SafetensorsType {
			return true
		}
	}
	return false
}

// cache checks and runs an api.CacheRequest. Sequences of one length run
// unpadded (engine.Run on the ids as given), as `glia run` does, so that
// the values are bit for bit those of `glia run --save`; others are padded
// on the right under a mask (api.CacheRequest).
func (s *Server) cache(r *http.Request) (*cacheRun, error) {
	var req api.CacheRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	m := s.cfg.Model
	if m == nil {
		return nil, apiErr(http.StatusServiceUnavailable, "this server was started without a model")
	}
	if isImageModel(m) || req.Image != "" || req.Images != nil {
		return s.cacheImages(r, m, req)
	}
	seqs, err := s.cacheSeqs(m, req)
	if err != nil {
		return nil, err
	}
	if len(req.Specs) > s.lim.MaxSpecs {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "%d specs; the limit is %d", len(req.Specs), s.lim.MaxSpecs)
	}
	hooks, err := cacheHooks(m, req)
	if err != nil {
		return nil, err
	}
	ereq := engine.Request{Hooks: hooks, NoLogits: req.NoLogits}
	ereq.IDs, ereq.Mask = engine.PadRight(seqs)
	b, n := len(seqs), len(ereq.IDs[0])
	if g := req.Grad; g != nil {
		if g.Batch < 0 || g.Batch >= b {
			return nil, apiErr(http.StatusBadRequest, "grad.batch %d: the request has sequences 0..%d", g.Batch, b-1)
		}
		l := len(seqs[g.Batch])
		pos := g.Pos
		if pos < 0 {
			pos += l
		}
		if pos < 0 || pos >= l {
			return nil, apiErr(http.StatusBadRequest, "grad.pos %d: sequence %d has positions 0..%d (or -%d..-1)", g.Pos, g.Batch, l-1, l)
		}
		if g.Token < 0 || g.Token >= m.Dims().Vocab {
			return nil, apiErr(http.StatusBadRequest, "grad.token %d is outside the vocabulary [0,%d)", g.Token, m.Dims().Vocab)
		}
		if len(hooks) == 0 {
			return nil, apiErr(http.StatusBadRequest, "grad needs at least one hook to differentiate with respect to")
		}
		ereq.Grad = &engine.GradTarget{Batch: g.Batch, Pos: pos, Token: g.Token}
	}
	res, err := s.runCache(r, m, req.Specs, ereq, b, n)
	if err != nil {
		return nil, err
	}
	return &cacheRun{seqs: seqs, hooks: hooks, res: res, grad: ereq.Grad != nil}, nil
}

// runCache refuses before running what would not be sent (the answer's
// size is known from the hook shapes, for b rows of n positions), then
// runs ereq under specs. An image model's rows have one position.
func (s *Server) runCache(r *http.Request, m *engine.Model, specs []string, ereq engine.Request, b, n int) (*engine.Result, error) {
	var size int64
	if !ereq.NoLogits {
		size = int64(n) * int64(m.Dims().Vocab)
	}
	for _, h := range ereq.Hooks {
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
	if size *= 4 * int64(b); size > s.lim.MaxCacheBytes {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "the answer would hold %d bytes of tensors; the limit is %d (ask for fewer hooks, sequences, tokens or images, or start glia serve with a larger --max-cache-bytes)", size, s.lim.MaxCacheBytes)
	}
	var res *engine.Result
	err := s.withModel(r.Context(), func(m *engine.Model) error {
		ivs, _, err := s.compileSpecs(m, specs)
		if err != nil {
			return err
		}
		ereq.Interventions = ivs
		if res, err = m.Run(ereq); err != nil && len(ivs) > 0 {
			return apiErr(http.StatusBadRequest, "%v", err) // a position the input does not have
		}
		return err
	})
	return res, err
}

// response is the JSON answer, its tensors made by wire (nil: none).
func (c *cacheRun) response(m *engine.Model, wire func(engine.Array) api.Tensor) *api.CacheResponse {
	out := &api.CacheResponse{Hooks: c.hooks, Acts: map[string]api.Tensor{}}
	if out.Hooks == nil {
		out.Hooks = []string{}
	}
	for _, ids := range c.seqs {
		seq := api.CacheSequence{}
		seq.Text, _ = m.Decode(ids, true) // no tokenizer: ""
		for _, id := range ids {
			seq.Tokens = append(seq.Tokens, api.Token{ID: id, Text: m.TokenText(id)})
		}
		out.Sequences = append(out.Sequences, seq)
		out.Lengths = append(out.Lengths, len(ids))
	}
	if c.images > 0 {
		out.Sequences, out.Tokens = []api.CacheSequence{}, []api.Token{}
		for range c.images {
			out.Lengths = append(out.Lengths, 1)
		}
	} else {
		out.Tokens, out.Text = out.Sequences[0].Tokens, out.Sequences[0].Text
	}
	if wire == nil {
		wire = func(engine.Array) api.Tensor { return api.Tensor{} }
	}
	if c.res.Logits.Data != nil {
		t := wire(c.res.Logits)
		out.Logits = &t
	}
	for _, h := range c.hooks {
		out.Acts[h] = wire(c.res.Acts[h])
	}
	if c.grad {
		out.Grads = map[string]api.Tensor{}
		for _, h := range c.hooks {
			out.Grads[h] = wire(c.res.Grads[h])
		}
	}
	return out
}

// cacheSeqs is the request's input: its id sequences as given, or its
// prompts encoded with BOS, within the prompt and batch limits.
// cacheHooks matches a cache request's hook patterns; a request must ask
// for something (logits or hooks).
func cacheHooks(m *engine.Model, req api.CacheRequest) ([]string, error) {
	var hooks []string
	if len(req.Hooks) > 0 {
		var err error
		if hooks, err = m.MatchHooks(req.Hooks...); err != nil {
			return nil, apiErr(http.StatusBadRequest, "hooks: %v", err)
		}
	}
	if req.NoLogits && len(hooks) == 0 {
		return nil, apiErr(http.StatusBadRequest, "no_logits with no hooks: nothing to return")
	}
	return hooks, nil
}

func (s *Server) cacheSeqs(m *engine.Model, req api.CacheRequest) ([][]int32, error) {
	given := 0
	for _, ok := range []bool{req.Prompt != "", len(req.IDs) > 0, len(req.Prompts) > 0, len(req.Batch) > 0} {
		if ok {
			given++
		}
	}
	switch {
	case given > 1:
		return nil, apiErr(http.StatusBadRequest, "give one of prompt, ids, prompts and batch, not both")
	case given == 0:
		return nil, apiErr(http.StatusBadRequest, "give a prompt or ids (or prompts or batch)")
	case len(req.Prompts) > s.lim.MaxBatch || len(req.Batch) > s.lim.MaxBatch:
		return nil, apiErr(http.StatusRequestEntityTooLarge, "%d sequences; the limit is %d", max(len(req.Prompts), len(req.Batch)), s.lim.MaxBatch)
	case req.Prompt != "":
		req.Prompts = []string{req.Prompt}
	case len(req.IDs) > 0:
		req.Batch = [][]int32{req.IDs}
	}
	var seqs [][]int32
	for i, p := range req.Prompts {
		what := "prompt"
		if len(req.Prompts) > 1 {
			what = "prompts[" + strconv.Itoa(i) + "]"
		}
		ids, err := s.encode(m, what, p, s.lim.MaxPromptTokens)
		if err != nil {
			return nil, err
		}
		seqs = append(seqs, ids)
	}
	for i, ids := range req.Batch {
		what := "ids"
		if len(req.Batch) > 1 || req.IDs == nil {
			what = "batch[" + strconv.Itoa(i) + "]"
		}
		switch {
		case len(ids) == 0:
			return nil, apiErr(http.StatusBadRequest, "%s is empty", what)
		case len(ids) > s.lim.MaxPromptTokens:
			return nil, apiErr(http.StatusRequestEntityTooLarge, "%s has %d tokens; the limit is %d", what, len(ids), s.lim.MaxPromptTokens)
		}
		for j, id := range ids {
			if id < 0 || int(id) >= m.Dims().Vocab {
				return nil, apiErr(http.StatusBadRequest, "%s[%d] = %d is outside the vocabulary [0,%d)", what, j, id, m.Dims().Vocab)
			}
		}
		seqs = append(seqs, ids)
	}
	return seqs, nil
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
