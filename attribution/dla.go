package attribution

import (
	"fmt"
	"math"
	"slices"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/engine"
)

// Component is one term of the final residual stream's direct effect.
type Component struct {
	Name  string  `json:"name"`  // embed, pos_embed, L3H2, L3N17, L3.attn_bias, L3.mlp_bias, final_bias
	Kind  string  `json:"kind"`  // embed, pos_embed, head, neuron, attn_bias, mlp_bias, final_bias
	Layer int     `json:"layer"` // -1 for embeddings and the final bias
	Index int     `json:"index"` // head or neuron; -1 otherwise
	Score float64 `json:"score"` // its share of the (pre-cap) logit or logit difference
}

// LayerDLA is one layer's attention and MLP output projected on the target,
// read from hook_attn_out and hook_mlp_out, and how far its split into heads
// (neurons) plus bias is from it.
type LayerDLA struct {
	Attn      float64 `json:"attn"`
	MLP       float64 `json:"mlp"`
	AttnSplit float64 `json:"attn_split_error"` // |Σ heads + bias − Attn|
	MLPSplit  float64 `json:"mlp_split_error"`  // |Σ neurons + bias − MLP|
}

// DLAResult is the direct logit attribution of one target.
type DLAResult struct {
	Target Target `json:"target"`
	// Logit is the model's logit (or logit difference) at the target.
	Logit float64 `json:"logit"`
	// PreCap is the same before the final soft-cap (Gemma 2): what the
	// components add up to. Without a cap it equals Logit.
	PreCap float64 `json:"pre_cap"`
	// Sum is Σ Components (bias terms included); Completeness is
	// |Sum − PreCap|.
	Sum          float64     `json:"sum"`
	Completeness float64     `json:"completeness"`
	Layers       []LayerDLA  `json:"layers"`
	Components   []Component `json:"components"` // in model order
	// Frozen lists the per-token norm scales held at their cached values:
	// the split is exact for this run, but a component's score is not what
	// removing it would change, since removing it would change the scale.
	Frozen []string `json:"frozen"`
	Notes  []string `json:"notes,omitempty"`
}

// Top returns the k components of largest |score|, largest first.
func (r *DLAResult) Top(k int) []Component {
	c := slices.Clone(r.Components)
	slices.SortStableFunc(c, func(a, b Component) int { return cmpDesc(math.Abs(a.Score), math.Abs(b.Score)) })
	return c[:min(k, len(c))]
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// reader reads weights once per call, as float64 where they are summed.
type reader struct {
	m    *engine.Model
	lens arch.Lens
	op   string
}

func newReader(m *engine.Model, op string) (*reader, error) {
	f, ok := m.Family.(arch.Lensed)
	if !ok {
		return nil, errorf(op, "the %T family does not describe its direct path (arch.Lensed)", m.Family)
	}
	return &reader{m: m, lens: f.Lens(), op: op}, nil
}

// weight reads a weight of the given shape; "" gives nil.
func (r *reader) weight(name string, shape ...int) ([]float32, error) {
	if name == "" {
		return nil, nil
	}
	w, err := r.m.Weight(name)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(w.Shape, shape) {
		return nil, errorf(r.op, "%s has shape %v, want %v", name, w.Shape, shape)
	}
	return w.Data, nil
}

// gain reads a norm's gain with the family's offset; "" gives nil.
func (r *reader) gain(name string, d int) ([]float64, error) {
	w, err := r.weight(name, d)
	if w == nil || err != nil {
		return nil, err
	}
	g := make([]float64, d)
	for i, v := range w {
		g[i] = float64(v) + r.lens.GainOffset
	}
	return g, nil
}

// unembedDir is W_U[token] (− W_U[other] for a difference), d_model.
func (r *reader) unembedDir(wu []float32, t Target, d int) []float64 {
	dir := make([]float64, d)
	for i := range dir {
		dir[i] = float64(wu[int(t.Token)*d+i])
		if t.Kind == LogitDiff {
			dir[i] -= float64(wu[int(t.Other)*d+i])
		}
	}
	return dir
}

func dot(a []float32, b []float64) float64 {
	var s float64
	for i, x := range a {
		s += float64(x) * b[i]
	}
	return s
}

// at is row pos of a hook [1, t, ...] (batch 0), its trailing axes flat.
func at(a engine.Array, pos int) []float32 {
	n := len(a.Data) / a.Shape[1]
	return a.Data[pos*n : (pos+1)*n]
}

// DLA attributes the target (Logit or LogitDiff) at one position of ids.
func DLA(m *engine.Model, ids []int32, t Target) (*DLAResult, error) {
	const op = "dla"
	d := m.Dims()
	t, err := t.resolve(op, len(ids), d.Vocab)
	if err != nil {
		return nil, err
	}
	if t.Kind != Logit && t.Kind != LogitDiff {
		return nil, errorf(op, "direct logit attribution explains a logit or a logit difference, not %s", t.Kind)
	}
	r, err := newReader(m, op)
	if err != nil {
		return nil, err
	}
	lens := r.lens
	if lens.AttnOut == "" {
		return nil, errorf(op, "the %T family does not name its attention output (arch.Lens.AttnOut)", m.Family)
	}
	all, err := m.HookPoints()
	if err != nil {
		return nil, err
	}
	has := map[string]bool{}
	for _, h := range all {
		has[h.Name] = true
	}
	hooks := []string{"hook_embed", "ln_final.hook_scale"}
	if has["hook_pos_embed"] {
		hooks = append(hooks, "hook_pos_embed")
	}
	for l := range d.Layers {
		hooks = append(hooks, fmt.Sprintf("blocks.%d.attn.hook_z", l), fmt.Sprintf("blocks.%d.hook_attn_out", l),
			fmt.Sprintf("blocks.%d.mlp.hook_post", l), fmt.Sprintf("blocks.%d.hook_mlp_out", l))
		if lens.AttnPostNorm != "" {
			hooks = append(hooks, fmt.Sprintf("blocks.%d.ln1_post.hook_scale", l))
		}
		if lens.MLPPostNorm != "" {
			hooks = append(hooks, fmt.Sprintf("blocks.%d.ln2_post.hook_scale", l))
		}
	}
	res, err := m.Run(engine.Request{IDs: [][]int32{ids}, Hooks: hooks})
	if err != nil {
		return nil, err
	}
	p := t.Pos
	out := &DLAResult{Target: t}
	out.Logit = t.value(res.Logits.Data, ids, d.Vocab)
	logits := at(res.Logits, p)
	out.PreCap = out.Logit
	if c := lens.LogitSoftCap; c > 0 {
		pre := func(tok int32) float64 { return c * math.Atanh(float64(logits[tok])/c) }
		out.PreCap = pre(t.Token)
		if t.Kind == LogitDiff {
			out.PreCap -= pre(t.Other)
		}
		out.Notes = append(out.Notes, fmt.Sprintf("logits are soft-capped (%g·tanh(x/%g)): components add up to the pre-cap logit, recovered from the model's as %g·atanh(logit/%g)", c, c, c, c))
	}

	// The target direction as the final norm reads it: W_U[a] (− W_U[b]),
	// times the gain, over the cached scale, centred for LayerNorm
	// ((c − mean c)·w = c·(w − mean w)).
	wu, err := r.weight(lens.Unembedding, d.Vocab, d.DModel)
	if err != nil {
		return nil, err
	}
	u := r.unembedDir(wu, t, d.DModel)
	g, err := r.gain(lens.FinalNorm, d.DModel)
	if err != nil {
		return nil, err
	}
	scale := float64(at(res.Acts["ln_final.hook_scale"], p)[0])
	dir := make([]float64, d.DModel)
	for i := range dir {
		dir[i] = u[i] * g[i] / scale
	}
	if lens.Centred {
		centre(dir)
	}
	out.Frozen = append(out.Frozen, "ln_final.hook_scale")

	s := &dlaRun{r: r, out: out, res: res, pos: p}
	s.add("embed", "embed", -1, -1, dot(at(res.Acts["hook_embed"], p), dir))
	if a, ok := res.Acts["hook_pos_embed"]; ok {
		s.add("pos_embed", "pos_embed", -1, -1, dot(at(a, p), dir))
	}
	for l := range d.Layers {
		ld := LayerDLA{
			Attn: dot(at(res.Acts[fmt.Sprintf("blocks.%d.hook_attn_out", l)], p), dir),
			MLP:  dot(at(res.Acts[fmt.Sprintf("blocks.%d.hook_mlp_out", l)], p), dir),
		}
		heads := projection{kind: "head", name: "L%dH%d", weight: lens.Name(lens.AttnOut, l), axis: lens.AttnOutAxis, units: d.Heads, width: d.DHead,
			act: fmt.Sprintf("blocks.%d.attn.hook_z", l), bias: lens.Name(lens.AttnOutBias, l), biasKind: "attn_bias",
			postNorm: lens.Name(lens.AttnPostNorm, l), postScale: fmt.Sprintf("blocks.%d.ln1_post.hook_scale", l)}
		neurons := projection{kind: "neuron", name: "L%dN%d", weight: lens.MLPOutName(l), axis: lens.MLPOutAxis, units: d.DMLP, width: 1,
			act: fmt.Sprintf("blocks.%d.mlp.hook_post", l), bias: lens.Name(lens.MLPOutBias, l), biasKind: "mlp_bias",
			postNorm: lens.MLPPostNormName(l), postScale: fmt.Sprintf("blocks.%d.ln2_post.hook_scale", l)}
		sum, err := s.split(l, heads, dir)
		if err != nil {
			return nil, err
		}
		ld.AttnSplit = math.Abs(sum - ld.Attn)
		if sum, err = s.split(l, neurons, dir); err != nil {
			return nil, err
		}
		ld.MLPSplit = math.Abs(sum - ld.MLP)
		out.Layers = append(out.Layers, ld)
	}
	if b, err := r.weight(lens.FinalNormBias, d.DModel); err != nil {
		return nil, err
	} else if b != nil {
		s.add("final_bias", "final_bias", -1, -1, dot(b, u))
	}
	out.Completeness = math.Abs(out.Sum - out.PreCap)
	return out, nil
}

// dlaRun is one DLA: the run it reads and the result it fills.
type dlaRun struct {
	r   *reader
	out *DLAResult
	res *engine.Result
	pos int
}

func (s *dlaRun) add(name, kind string, layer, index int, score float64) {
	s.out.Components = append(s.out.Components, Component{Name: name, Kind: kind, Layer: layer, Index: index, Score: score})
	s.out.Sum += score
}

// projection is a layer's output projection: units (heads, or neurons)
// of width inputs each, read from the hook act, times the weight (d_model
// on axis), plus a bias, through a post-norm where the family has one.
type projection struct {
	kind, name          string // component kind; name format with the layer and unit
	weight              string
	axis, units, width  int
	act                 string
	bias, biasKind      string
	postNorm, postScale string // the post-norm's gain and its scale hook
}

// split adds each unit's and the bias's score along dir and returns their
// sum (what the layer's hook_attn_out or hook_mlp_out should read).
func (s *dlaRun) split(layer int, pj projection, dir []float64) (float64, error) {
	dModel := len(dir)
	dir, err := s.r.postDir(dir, pj.postNorm, s.res, pj.postScale, s.pos, s.out)
	if err != nil {
		return 0, err
	}
	in := pj.units * pj.width
	w, err := s.r.weight(pj.weight, outShape(pj.axis, dModel, in)...)
	if err != nil {
		return 0, err
	}
	per := project(w, pj.axis, dModel, in, dir) // one number per input
	x := at(s.res.Acts[pj.act], s.pos)
	var sum float64
	for u := range pj.units {
		var v float64
		for j := u * pj.width; j < (u+1)*pj.width; j++ {
			v += float64(x[j]) * per[j]
		}
		s.add(fmt.Sprintf(pj.name, layer, u), pj.kind, layer, u, v)
		sum += v
	}
	b, err := s.r.weight(pj.bias, dModel)
	if err != nil || b == nil {
		return sum, err
	}
	v := dot(b, dir)
	s.add(fmt.Sprintf("L%d.%s", layer, pj.biasKind), pj.biasKind, layer, -1, v)
	return sum + v, nil
}

// postDir is the target direction as seen before a post-norm (gain over
// its cached scale), or dir itself where the family has none.
func (r *reader) postDir(dir []float64, gainName string, res *engine.Result, scaleHook string, p int, out *DLAResult) ([]float64, error) {
	if gainName == "" {
		return dir, nil
	}
	g, err := r.gain(gainName, len(dir))
	if err != nil {
		return nil, err
	}
	scale := float64(at(res.Acts[scaleHook], p)[0])
	v := make([]float64, len(dir))
	for i := range v {
		v[i] = dir[i] * g[i] / scale
	}
	if !slices.Contains(out.Frozen, "post-norm scales (ln1_post, ln2_post)") {
		out.Frozen = append(out.Frozen, "post-norm scales (ln1_post, ln2_post)")
		out.Notes = append(out.Notes, "a post-norm divides each layer's attention (MLP) output by its RMS: heads and neurons are split with that scale frozen, so the split adds up, but a head's score is not its effect alone")
	}
	return v, nil
}

// outShape is an output projection's stored shape: [in, d_model] for a
// Conv1D (axis 1), [d_model, in] for a Linear.
func outShape(axis, dModel, in int) []int {
	if axis == 1 {
		return []int{in, dModel}
	}
	return []int{dModel, in}
}

// project is Wᵀ·dir for an output projection W (in → d_model): one number
// per input unit.
func project(w []float32, axis, dModel, in int, dir []float64) []float64 {
	out := make([]float64, in)
	if axis == 1 {
		for i := range in {
			out[i] = dot(w[i*dModel:(i+1)*dModel], dir)
		}
		return out
	}
	for dm := range dModel {
		row := w[dm*in : (dm+1)*in]
		for i, x := range row {
			out[i] += float64(x) * dir[dm]
		}
	}
	return out
}

func centre(v []float64) {
	var s float64
	for _, x := range v {
		s += x
	}
	mu := s / float64(len(v))
	for i := range v {
		v[i] -= mu
	}
}
