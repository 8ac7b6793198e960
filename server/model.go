package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/experiment"
	"github.com/glia-dev/glia/intervene"
)

// modelInfo is what the server keeps beside its model.
type modelInfo struct {
	means *intervene.AtlasMeans
}

// newModelInfo traces the model's hook points now, so that a model that
// cannot be traced fails at start-up rather than on the first request.
func newModelInfo(m *engine.Model) (*modelInfo, error) {
	if _, err := m.HookPoints(); err != nil {
		return nil, fmt.Errorf("serve: tracing %s: %w", m.Name, err)
	}
	return &modelInfo{}, nil
}

// HookRow is one hook point in the overview.
type HookRow struct {
	Name    string `json:"name"`
	Shape   []int  `json:"shape,omitempty"` // at batch 1, one position (engine.Model.HookPoints)
	InAtlas bool   `json:"in_atlas"`
	Units   int    `json:"units,omitempty"` // atlas units of this hook
}

// Overview is GET /api/overview.
type Overview struct {
	Model *ModelSummary `json:"model"`
	Atlas *AtlasSummary `json:"atlas"`
	Hooks []HookRow     `json:"hooks"`
	Patch string        `json:"patch_file,omitempty"` // name of the patch result given at start-up
	Limit Limits        `json:"limits"`
}

// ModelSummary describes the loaded model.
type ModelSummary struct {
	Name        string    `json:"name"`
	Type        string    `json:"model_type"`
	Dims        arch.Dims `json:"dims"`
	Params      int64     `json:"params"`
	Fingerprint string    `json:"fingerprint"`
	Tokenizer   bool      `json:"tokenizer"`
}

// AtlasSummary describes the atlas.
type AtlasSummary struct {
	ModelName   string           `json:"model_name"`
	Fingerprint string           `json:"model_fingerprint"`
	Matches     *bool            `json:"matches_model"` // null without a model
	Status      string           `json:"status"`
	Tokens      int64            `json:"tokens"`
	Windows     int64            `json:"windows"`
	Units       int              `json:"units"`
	Settings    atlas.Settings   `json:"settings"`
	Corpus      []string         `json:"corpus"`
	Hooks       []atlas.HookSpec `json:"hooks"`
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) (any, error) {
	o := &Overview{Hooks: []HookRow{}, Limit: s.lim, Patch: s.cfg.PatchName}
	inAtlas := map[string]int{}
	if x := s.idx; x != nil {
		meta := x.a.Meta
		as := &AtlasSummary{ModelName: meta.ModelName, Fingerprint: meta.ModelFingerprint, Status: meta.Status, Tokens: meta.Tokens,
			Windows: meta.Windows, Settings: meta.Settings, Hooks: x.hooks, Corpus: []string{}}
		for _, c := range meta.Corpus {
			as.Corpus = append(as.Corpus, c.Name)
		}
		for _, h := range x.hooks {
			as.Units += h.Width
			inAtlas[h.Name] = h.Width
		}
		if m := s.cfg.Model; m != nil {
			ok := m.Fingerprint() == meta.ModelFingerprint
			as.Matches = &ok
		}
		o.Atlas = as
	}
	if m := s.cfg.Model; m != nil {
		o.Model = &ModelSummary{Name: m.Name, Type: m.Config.String("model_type", "?"), Dims: m.Dims(), Params: m.NumParams(),
			Fingerprint: m.Fingerprint(), Tokenizer: m.Tokenizer != nil}
		hs, err := m.HookPoints()
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			w, ok := inAtlas[h.Name]
			o.Hooks = append(o.Hooks, HookRow{Name: h.Name, Shape: h.Shape, InAtlas: ok, Units: w})
			delete(inAtlas, h.Name)
		}
	}
	if s.idx != nil {
		for _, h := range s.idx.hooks {
			if w, ok := inAtlas[h.Name]; ok {
				o.Hooks = append(o.Hooks, HookRow{Name: h.Name, InAtlas: true, Units: w})
			}
		}
	}
	return o, nil
}

// Token is one prompt token.
type Token struct {
	ID   int32  `json:"id"`
	Text string `json:"text"`
}

// NextToken is one entry of a next-token distribution.
type NextToken struct {
	ID    int     `json:"id"`
	Token string  `json:"token"`
	Prob  float64 `json:"prob"`
	Logit float32 `json:"logit"`
}

// encode checks and tokenises a prompt (BOS added) within the limits.
func (s *Server) encode(m *engine.Model, what, text string, maxTokens int) ([]int32, error) {
	if text == "" {
		return nil, apiErr(http.StatusBadRequest, "%s is empty", what)
	}
	if !utf8.ValidString(text) {
		return nil, apiErr(http.StatusBadRequest, "%s is not valid UTF-8", what)
	}
	if n := utf8.RuneCountInString(text); n > s.lim.MaxPromptChars {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "%s has %d characters; the limit is %d", what, n, s.lim.MaxPromptChars)
	}
	ids, err := m.Encode(text, true)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "%v", err)
	}
	if len(ids) == 0 {
		return nil, apiErr(http.StatusBadRequest, "%s encodes to no tokens", what)
	}
	if len(ids) > maxTokens {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "%s is %d tokens; the limit is %d", what, len(ids), maxTokens)
	}
	return ids, nil
}

// padded runs ids right-padded to a bucket; causal attention keeps the
// padding from reaching real positions, so they read as if unpadded.
func padded(m *engine.Model, ids []int32, hooks []string) (*engine.Result, error) {
	row, mask := m.PadToBucket(ids)
	return m.Run(engine.Request{IDs: [][]int32{row}, Mask: [][]bool{mask}, Hooks: hooks})
}

func topK(s *Server, m *engine.Model, logits []float32, k int) []NextToken {
	var out []NextToken
	for _, r := range engine.TopTokens(logits, k) {
		out = append(out, NextToken{ID: r.ID, Token: m.TokenText(int32(r.ID)), Prob: r.Prob, Logit: r.Logit})
	}
	return out
}

// RunRequest is POST /api/run: the prompt explorer.
type RunRequest struct {
	Prompt    string   `json:"prompt"`
	Units     []string `json:"units"`      // HOOK:UNIT to trace per token
	Top       int      `json:"top"`        // top units per token (default 5, at most 20)
	AttnLayer *int     `json:"attn_layer"` // layer whose attention patterns to return (default 0; -1 none)
}

// UnitTrace is one chosen unit's activation at each token.
type UnitTrace struct {
	ID   string    `json:"id"`
	Acts []float32 `json:"acts"`
	Max  *float64  `json:"atlas_max"` // the unit's maximum over the atlas corpus, if known
}

// TopUnit is a unit active at a token.
type TopUnit struct {
	ID   string   `json:"id"`
	Act  float32  `json:"act"`
	Frac *float64 `json:"frac"` // act / atlas max
}

// Attention holds one layer's patterns [head][query][key].
type Attention struct {
	Layer   int           `json:"layer"`
	Pattern [][][]float32 `json:"pattern"`
}

// RunResponse is the prompt explorer's result.
type RunResponse struct {
	Tokens    []Token     `json:"tokens"`
	Units     []UnitTrace `json:"units"`
	TopHooks  []string    `json:"top_hooks"` // hooks ranked for top units
	Top       [][]TopUnit `json:"top"`       // [token] top units
	Attention *Attention  `json:"attention"`
	Next      []NextToken `json:"next"`
}

// topHooks are the hooks whose units the explorer ranks: the atlas' hooks
// that the model has, else every mlp.hook_post.
func (s *Server) topHooks(m *engine.Model) []string {
	var out []string
	if s.idx != nil {
		for _, h := range s.idx.hooks {
			if _, err := m.HookShape(h.Name); err == nil {
				out = append(out, h.Name)
			}
		}
	}
	if len(out) == 0 {
		out, _ = m.MatchHooks("blocks.*.mlp.hook_post") // none: nothing to rank
	}
	return out
}

func (s *Server) atlasMax(hook string, unit int) *float64 {
	if s.idx == nil {
		return nil
	}
	v := float64(s.idx.maxOf(hook, unit))
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

func (s *Server) run(w http.ResponseWriter, r *http.Request) (any, error) {
	var req RunRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if s.cfg.Model == nil {
		return nil, apiErr(http.StatusServiceUnavailable, "this server was started without a model")
	}
	if req.Top == 0 {
		req.Top = 5
	}
	if req.Top < 0 || req.Top > 20 {
		return nil, apiErr(http.StatusBadRequest, "top must be 0..20")
	}
	if len(req.Units) > 64 {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "at most 64 units per request")
	}
	layer := 0
	if req.AttnLayer != nil {
		layer = *req.AttnLayer
	}
	m := s.cfg.Model
	if layer >= m.Dims().Layers || layer < -1 {
		return nil, apiErr(http.StatusBadRequest, "attn_layer must be -1..%d", m.Dims().Layers-1)
	}
	ids, err := s.encode(m, "prompt", req.Prompt, s.lim.MaxPromptTokens)
	if err != nil {
		return nil, err
	}
	type chosen struct {
		id, hook string
		unit     int
	}
	var units []chosen
	hooks := s.topHooks(m)
	seen := map[string]bool{}
	for _, h := range hooks {
		seen[h] = true
	}
	for _, u := range req.Units {
		h, i, err := atlas.ParseUnit(strings.TrimSpace(u))
		if err != nil {
			return nil, apiErr(http.StatusBadRequest, "%v", err)
		}
		shape, err := m.HookShape(h)
		if err != nil || len(shape) != 3 {
			return nil, apiErr(http.StatusBadRequest, "%s is not a [batch,pos,unit] hook point of %s", h, m.Name)
		}
		if i < 0 || i >= shape[2] {
			return nil, apiErr(http.StatusBadRequest, "%s has units 0..%d", h, shape[2]-1)
		}
		units = append(units, chosen{fmt.Sprintf("%s:%d", h, i), h, i})
		if !seen[h] {
			seen[h] = true
			hooks = append(hooks, h)
		}
	}
	pat := ""
	if layer >= 0 {
		pat = fmt.Sprintf("blocks.%d.attn.hook_pattern", layer)
		if _, err := m.HookShape(pat); err != nil {
			pat = ""
		} else if !seen[pat] {
			hooks = append(hooks, pat)
		}
	}
	var res *engine.Result
	err = s.withModel(r.Context(), func(m *engine.Model) error {
		var err error
		res, err = padded(m, ids, hooks)
		return err
	})
	if err != nil {
		return nil, err
	}
	n := len(ids)
	out := &RunResponse{TopHooks: s.topHooks(m), Units: []UnitTrace{}}
	for _, id := range ids {
		out.Tokens = append(out.Tokens, Token{ID: id, Text: m.TokenText(id)})
	}
	for _, u := range units {
		a := res.Acts[u.hook]
		width := a.Shape[2]
		t := UnitTrace{ID: u.id, Max: s.atlasMax(u.hook, u.unit), Acts: make([]float32, n)}
		for p := range n {
			t.Acts[p] = a.Data[p*width+u.unit]
		}
		out.Units = append(out.Units, t)
	}
	// Top units per token, ranked by activation over the atlas' maximum
	// when known (raw activation otherwise), across the ranked hooks.
	out.Top = make([][]TopUnit, n)
	if req.Top > 0 {
		for p := range n {
			var cands []TopUnit
			var keys []float64
			for _, h := range out.TopHooks {
				a := res.Acts[h]
				width := a.Shape[2]
				row := a.Data[p*width : (p+1)*width]
				for u, v := range row {
					key := float64(v)
					var frac *float64
					if mx := s.atlasMax(h, u); mx != nil && *mx > 0 {
						f := float64(v) / *mx
						frac, key = &f, f
					}
					if len(cands) < req.Top || key > keys[len(keys)-1] {
						c := TopUnit{ID: h + ":" + strconv.Itoa(u), Act: v, Frac: frac}
						i := sort.Search(len(keys), func(i int) bool { return keys[i] < key })
						cands = append(cands[:i], append([]TopUnit{c}, cands[i:]...)...)
						keys = append(keys[:i], append([]float64{key}, keys[i:]...)...)
						if len(cands) > req.Top {
							cands, keys = cands[:req.Top], keys[:req.Top]
						}
					}
				}
			}
			out.Top[p] = cands
		}
	}
	if pat != "" {
		a := res.Acts[pat] // [1, head, q, k]
		H, T := a.Shape[1], a.Shape[2]
		att := &Attention{Layer: layer, Pattern: make([][][]float32, H)}
		for h := range H {
			att.Pattern[h] = make([][]float32, n)
			for q := range n {
				off := (h*T + q) * T
				att.Pattern[h][q] = append([]float32(nil), a.Data[off:off+n]...)
			}
		}
		out.Attention = att
	}
	v := res.Logits.Shape[2]
	out.Next = topK(s, m, res.Logits.Data[(n-1)*v:n*v], 10)
	return out, nil
}

// InterveneRequest is POST /api/intervene: the playground.
type InterveneRequest struct {
	Prompt string   `json:"prompt"`
	Specs  []string `json:"specs"`   // the intervention language (docs/interventions.md)
	MaxNew *int     `json:"max_new"` // greedy tokens to generate (default 16; 0 for none)
	Top    int      `json:"top"`     // next tokens listed (default 10)
}

// TokenChange compares one token's probability without and with the
// interventions.
type TokenChange struct {
	ID    int     `json:"id"`
	Token string  `json:"token"`
	Base  float64 `json:"base"`
	After float64 `json:"after"`
	Delta float64 `json:"delta"`
}

// InterveneResponse is the playground's result.
type InterveneResponse struct {
	Tokens    []Token       `json:"tokens"`
	Specs     []string      `json:"specs"` // canonical forms
	Base      []NextToken   `json:"base"`
	After     []NextToken   `json:"after"`
	Changes   []TokenChange `json:"changes"` // tokens in either top list, by |delta|
	KL        float64       `json:"kl"`      // KL(base ‖ after) of the next-token distribution, nats
	BaseText  string        `json:"base_text"`
	AfterText string        `json:"after_text"`
}

// compileSpecs parses and compiles specs. Specs whose value is read from a
// file are refused: no request names a file.
func (s *Server) compileSpecs(m *engine.Model, specs []string) ([]engine.Intervention, []string, error) {
	var ivs []engine.Intervention
	var canon []string
	for _, text := range specs {
		sp, err := intervene.Parse(text)
		if err != nil {
			return nil, nil, apiErr(http.StatusBadRequest, "%v", err)
		}
		if sp.Value.Kind == intervene.ValVector {
			return nil, nil, apiErr(http.StatusBadRequest, "intervention %q reads a file (@%s): the server never takes a file path from a request; use numbers, zero, mean or resample", text, sp.Value.File)
		}
		var o intervene.Options
		if sp.Value.Kind == intervene.ValMean {
			if s.idx == nil {
				return nil, nil, apiErr(http.StatusBadRequest, "intervention %q: mean ablation needs an atlas, and this server has none", text)
			}
			o.Means = s.model.means // built in New
		}
		iv, err := sp.Compile(m, o)
		if err != nil {
			return nil, nil, apiErr(http.StatusBadRequest, "%v", err)
		}
		ivs = append(ivs, iv)
		canon = append(canon, sp.String())
	}
	return ivs, canon, nil
}

func (s *Server) intervene(w http.ResponseWriter, r *http.Request) (any, error) {
	var req InterveneRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if s.cfg.Model == nil {
		return nil, apiErr(http.StatusServiceUnavailable, "this server was started without a model")
	}
	if len(req.Specs) == 0 {
		return nil, apiErr(http.StatusBadRequest, "give at least one intervention spec")
	}
	if len(req.Specs) > s.lim.MaxSpecs {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "%d specs; the limit is %d", len(req.Specs), s.lim.MaxSpecs)
	}
	maxNew := 16
	if req.MaxNew != nil {
		maxNew = *req.MaxNew
	}
	if maxNew < 0 || maxNew > s.lim.MaxNew {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "max_new must be 0..%d", s.lim.MaxNew)
	}
	if req.Top == 0 {
		req.Top = 10
	}
	if req.Top < 1 || req.Top > 50 {
		return nil, apiErr(http.StatusBadRequest, "top must be 1..50")
	}
	m := s.cfg.Model
	ids, err := s.encode(m, "prompt", req.Prompt, s.lim.MaxPromptTokens)
	if err != nil {
		return nil, err
	}
	out := &InterveneResponse{}
	for _, id := range ids {
		out.Tokens = append(out.Tokens, Token{ID: id, Text: m.TokenText(id)})
	}
	var base, after []float32
	var genBase, genAfter []int32
	ctx := r.Context()
	err = s.withModel(ctx, func(m *engine.Model) error {
		ivs, canon, err := s.compileSpecs(m, req.Specs)
		if err != nil {
			return err
		}
		out.Specs = canon
		// Unpadded, so that negative positions in specs count from the
		// prompt's last token.
		v := m.Dims().Vocab
		n := len(ids)
		r0, err := m.Run(engine.Request{IDs: [][]int32{ids}})
		if err != nil {
			return err
		}
		r1, err := m.Run(engine.Request{IDs: [][]int32{ids}, Interventions: ivs})
		if err != nil {
			return apiErr(http.StatusBadRequest, "%v", err)
		}
		base, after = r0.Logits.Data[(n-1)*v:n*v], r1.Logits.Data[(n-1)*v:n*v]
		if maxNew > 0 {
			if genBase, err = generate(ctx, m, ids, maxNew, nil); err != nil {
				return err
			}
			if genAfter, err = generate(ctx, m, ids, maxNew, ivs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Base, out.After = topK(s, m, base, req.Top), topK(s, m, after, req.Top)
	pb, pa := engine.Probs(base), engine.Probs(after)
	for i := range pb {
		if pb[i] > 0 {
			out.KL += pb[i] * (math.Log(pb[i]) - math.Log(math.Max(pa[i], 1e-300)))
		}
	}
	seen := map[int]bool{}
	for _, t := range append(append([]NextToken(nil), out.Base...), out.After...) {
		if seen[t.ID] {
			continue
		}
		seen[t.ID] = true
		out.Changes = append(out.Changes, TokenChange{ID: t.ID, Token: t.Token, Base: pb[t.ID], After: pa[t.ID], Delta: pa[t.ID] - pb[t.ID]})
	}
	sort.SliceStable(out.Changes, func(i, j int) bool { return math.Abs(out.Changes[i].Delta) > math.Abs(out.Changes[j].Delta) })
	if m.Tokenizer != nil {
		dec := func(g []int32) string {
			text, _ := m.Decode(g, true) // no error: the tokenizer is there
			return text
		}
		out.BaseText, out.AfterText = dec(genBase), dec(genAfter)
	}
	return out, nil
}

// generate is greedy decoding that stops at the request's deadline (checked
// between tokens) and after the end-of-sequence token.
func generate(ctx context.Context, m *engine.Model, prompt []int32, maxNew int, ivs []engine.Intervention) ([]int32, error) {
	return m.Generate(prompt, engine.GenerateOptions{MaxNew: maxNew, Interventions: ivs, StopAtEOS: true, Context: ctx})
}

// PatchRequest is POST /api/patch: an activation-patching sweep of one
// clean/corrupt pair, as glia patch.
type PatchRequest struct {
	Clean   string `json:"clean"`
	Corrupt string `json:"corrupt"`
	Metric  string `json:"metric"` // logit-diff:TOKA,TOKB (tokens as text, or #ID)
	Hook    string `json:"hook"`   // experiment.ParseKind: resid_pre (default), resid_mid, resid_post, attn_out, mlp_out, z, q, k, v, mlp_pre, mlp_post
	Per     string `json:"per"`    // experiment.ParsePer: pos (default), head, neuron, layer
}

// PatchResponse is a sweep's result and its heat map (values null where a
// cell does not exist).
type PatchResponse struct {
	Grid    experiment.Grid `json:"grid"`
	Clean   float64         `json:"clean_metric"`
	Corrupt float64         `json:"corrupt_metric"`
	Rows    int             `json:"patched_rows"`
	Seconds float64         `json:"seconds"`
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request) (any, error) {
	var req PatchRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	m := s.cfg.Model
	if m == nil {
		return nil, apiErr(http.StatusServiceUnavailable, "this server was started without a model")
	}
	kind, err := experiment.ParseKind(req.Hook)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "hook: %v", err)
	}
	per, err := experiment.ParsePer(req.Per)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "%v", err)
	}
	metric, err := experiment.ParseMetric(req.Metric)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "%v", err)
	}
	clean, err := s.encode(m, "clean", req.Clean, s.lim.MaxPatchTokens)
	if err != nil {
		return nil, err
	}
	corrupt, err := s.encode(m, "corrupt", req.Corrupt, s.lim.MaxPatchTokens)
	if err != nil {
		return nil, err
	}
	a, b, err := metric.Tokens(m)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "%v", err)
	}
	d := m.Dims()
	cols := max(len(clean), len(corrupt))
	switch per {
	case experiment.PerHead:
		cols = d.Heads
	case experiment.PerLayer:
		cols = 1
	case experiment.PerNeuron:
		cols = d.DMLP
	}
	if cells := d.Layers * cols; cells > s.lim.MaxPatchCells {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "the sweep has %d cells (%d layers × %d); the limit is %d", cells, d.Layers, cols, s.lim.MaxPatchCells)
	}
	pair := experiment.Pair{Clean: clean, Corrupt: corrupt, A: a, B: b}
	var res *experiment.PatchResult
	err = s.withModel(r.Context(), func(m *engine.Model) error {
		var err error
		res, err = experiment.Sweep(m, []experiment.Pair{pair}, experiment.PatchOptions{Kind: kind, Per: per})
		if err != nil {
			return apiErr(http.StatusBadRequest, "%v", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p := res.Pairs[0]
	g := res.Grid(pair, m.TokenText)
	return &PatchResponse{Grid: g, Clean: p.Clean, Corrupt: p.Corrupt, Rows: res.Rows, Seconds: res.Seconds}, nil
}

// PatchFileResponse is GET /api/patch/file: the result given with --patch.
type PatchFileResponse struct {
	Name   string           `json:"name"`
	Grid   *experiment.Grid `json:"grid"` // null when the file is not an activation-patching sweep
	Result json.RawMessage  `json:"result"`
}

func (s *Server) patchFile(w http.ResponseWriter, r *http.Request) (any, error) {
	if s.cfg.PatchJSON == nil {
		return nil, apiErr(http.StatusNotFound, "no patch result was given at start-up")
	}
	out := &PatchFileResponse{Name: s.cfg.PatchName, Result: s.cfg.PatchJSON}
	var f struct {
		Kind  string            `json:"kind"`
		Per   string            `json:"per"`
		Mean  experiment.Values `json:"mean_effect"`
		Pairs []struct {
			Effect experiment.Values `json:"effect"`
		} `json:"pairs"`
	}
	if json.Unmarshal(s.cfg.PatchJSON, &f) == nil {
		vals := f.Mean
		if vals == nil && len(f.Pairs) > 0 {
			vals = f.Pairs[0].Effect
		}
		if len(vals) > 0 {
			g := experiment.LayerGrid(fmt.Sprintf("%s patching, per %s (%s)", f.Kind, f.Per, s.cfg.PatchName), "", vals, nil)
			out.Grid = &g
		}
	}
	return out, nil
}
