// Package explain says what a neuron does, with evidence: its output side
// through the unembedding (the logit lens of its writing vector), its input
// side from an atlas (tokens and bigrams by mean activation and PMI), its
// facets (clusters of its top examples), a short label built from these,
// and a score for the label by simulation on held-out atlas examples. An
// optional LLM writes and simulates explanations too (OpenAI's automated
// interpretability method). See docs/explain.md.
package explain

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/hook"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TokenLogit is one token a neuron's direct effect promotes or suppresses.
type TokenLogit struct {
	Token int32   `json:"token"`
	Text  string  `json:"text"`
	Logit float32 `json:"logit"` // direct logit change per unit activation, before the per-token norm scale
}

// NeuronLens is the output side of one MLP neuron.
type NeuronLens struct {
	Hook       string       `json:"hook"`
	Unit       int          `json:"unit"`
	Layer      int          `json:"layer"`
	Promoted   []TokenLogit `json:"promoted"`   // largest logits first
	Suppressed []TokenLogit `json:"suppressed"` // most negative first
	// OutNorm is the norm of the folded writing vector (W_out column times
	// the post-norm and final-norm gains, centred for LayerNorm): the size
	// of the neuron's direct effect per unit activation.
	OutNorm float64 `json:"out_norm"`
	// LogitStd is the standard deviation over the vocabulary of the direct
	// logit vector (a shift common to all tokens does not change the softmax).
	LogitStd float64 `json:"logit_std"`
}

// LensPlan is what the logit lens reads from a model's family.
type LensPlan struct {
	m        *engine.Model
	lens     arch.Lens
	wu       engine.Array // [vocab, d_model]
	gain     []float32    // final gain with its offset (d_model)
	Notes    []string     // what is exact and what approximate, for people
	Layers   int
	DMLP     int
	Vocab    int
	DModel   int
	tokText  func(int32) string
	wuTensor *tensors.Tensor
	exec     *Exec
}

// MLPHook is the atlas hook whose units are layer l's MLP neurons.
func MLPHook(layer int) string { return fmt.Sprintf("blocks.%d.mlp.hook_post", layer) }

// ParseMLPHook is the inverse of MLPHook.
func ParseMLPHook(hook string) (layer int, ok bool) {
	s, found := strings.CutPrefix(hook, "blocks.")
	if !found {
		return 0, false
	}
	s, found = strings.CutSuffix(s, ".mlp.hook_post")
	if !found {
		return 0, false
	}
	l, err := strconv.Atoi(s)
	return l, err == nil && l >= 0
}

// NewLensPlan prepares the logit lens of m's MLP neurons. tokText gives a
// token's display form (nil: the model's, engine.Model.TokenText).
func NewLensPlan(m *engine.Model, tokText func(int32) string) (*LensPlan, error) {
	f, ok := m.Family.(arch.Lensed)
	if !ok {
		return nil, fmt.Errorf("explain: the %T family does not describe its logit lens (arch.Lensed)", m.Family)
	}
	lens := f.Lens()
	d := m.Dims()
	p := &LensPlan{m: m, lens: lens, Layers: d.Layers, DMLP: d.DMLP, Vocab: d.Vocab, DModel: d.DModel, tokText: tokText}
	if p.tokText == nil {
		p.tokText = m.TokenText
	}
	wu, err := m.Weight(lens.Unembedding)
	if err != nil {
		return nil, err
	}
	if len(wu.Shape) != 2 || wu.Shape[1] != d.DModel {
		return nil, fmt.Errorf("explain: unembedding %s has shape %v, want [vocab, %d]", lens.Unembedding, wu.Shape, d.DModel)
	}
	p.Vocab = wu.Shape[0]
	p.wu = wu
	if p.gain, err = p.normGain(lens.FinalNorm); err != nil {
		return nil, err
	}
	if lens.Centred {
		p.Notes = append(p.Notes, "the final LayerNorm's centring and gain are folded in exactly; its per-token scale (1/std of the residual) is left out")
	} else {
		p.Notes = append(p.Notes, "the final RMSNorm's gain is folded in exactly; its per-token scale (1/RMS of the residual) is left out")
	}
	if lens.MLPPostNorm != "" {
		p.Notes = append(p.Notes, "the MLP post-norm's gain is folded in exactly; its per-token scale (1/RMS of the MLP output, which depends on every neuron of the layer) is left out")
	}
	if c := lens.LogitSoftCap; c > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("logits are soft-capped (%g·tanh(x/%g)); the lens shows pre-cap logits; the cap is monotone, so rankings are exact", c, c))
	}
	p.Notes = append(p.Notes, "both per-token scales are positive, so the ranking of promoted and suppressed tokens is exact for the direct path; only magnitudes are in units of one residual scale")
	return p, nil
}

func transpose2(a engine.Array) engine.Array {
	r, c := a.Shape[0], a.Shape[1]
	out := make([]float32, len(a.Data))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out[j*r+i] = a.Data[i*c+j]
		}
	}
	return engine.Array{Shape: []int{c, r}, Data: out}
}

// normGain reads a norm's gain with the family's offset added.
func (p *LensPlan) normGain(name string) ([]float32, error) {
	g, err := p.m.Weight(name)
	if err != nil {
		return nil, err
	}
	gain := make([]float32, len(g.Data))
	for i, v := range g.Data {
		gain[i] = v + float32(p.lens.GainOffset)
	}
	return gain, nil
}

// Writing returns the folded writing vectors of layer l's neurons in units
// (nil: all), as rows [len(units), d_model]: W_out column, times the
// post-norm gain, centred if the final norm centres, times the final gain.
func (p *LensPlan) Writing(layer int, units []int) ([][]float32, error) {
	if layer < 0 || layer >= p.Layers {
		return nil, fmt.Errorf("explain: layer %d is outside 0..%d", layer, p.Layers-1)
	}
	name, axis := p.lens.MLPOutName(layer), p.lens.MLPOutAxis
	w, err := p.m.Weight(name)
	if err != nil {
		return nil, err
	}
	if len(w.Shape) != 2 || w.Shape[axis] != p.DModel {
		return nil, fmt.Errorf("explain: %s has shape %v; axis %d should be d_model %d", name, w.Shape, axis, p.DModel)
	}
	dmlp := w.Shape[1-axis]
	var post []float32
	if pn := p.lens.MLPPostNormName(layer); pn != "" {
		if post, err = p.normGain(pn); err != nil {
			return nil, err
		}
	}
	if units == nil {
		units = make([]int, dmlp)
		for i := range units {
			units[i] = i
		}
	}
	out := make([][]float32, len(units))
	for k, u := range units {
		if u < 0 || u >= dmlp {
			return nil, fmt.Errorf("explain: layer %d has neurons 0..%d; %d does not exist", layer, dmlp-1, u)
		}
		v := make([]float32, p.DModel)
		for d := range v {
			if axis == 1 {
				v[d] = w.Data[u*p.DModel+d]
			} else {
				v[d] = w.Data[d*dmlp+u]
			}
			if post != nil {
				v[d] *= post[d]
			}
		}
		p.fold(v)
		out[k] = v
	}
	return out, nil
}

// fold applies the final norm to a residual-stream direction in place: it
// centres v if the norm centres (LayerNorm), then multiplies by the gain.
func (p *LensPlan) fold(v []float32) {
	if p.lens.Centred {
		var s float64
		for _, x := range v {
			s += float64(x)
		}
		mu := float32(s / float64(len(v)))
		for d := range v {
			v[d] -= mu
		}
	}
	for d := range v {
		v[d] *= p.gain[d]
	}
}

// Logits is the direct logit vector W_U·v of one folded writing vector.
func (p *LensPlan) Logits(v []float32) []float32 {
	out := make([]float32, p.Vocab)
	dm := p.DModel
	for t := range out {
		row := p.wu.Data[t*dm : (t+1)*dm]
		var s float32
		for d, x := range row {
			s += x * v[d]
		}
		out[t] = s
	}
	return out
}

// chunk is the number of neurons per matmul.
const chunk = 512

func (p *LensPlan) matmul(rows [][]float32) (*tensors.Tensor, error) {
	if p.exec == nil {
		be, err := engine.Backend()
		if err != nil {
			return nil, err
		}
		// W_Uᵀ [d_model, vocab], transposed once: the backend's matmul
		// would otherwise transpose it on every call.
		p.wuTensor, err = tensors.FromShapeForBackend(be, 0, shapes.Make(dtypes.Float32, p.DModel, p.Vocab))
		if err != nil {
			return nil, err
		}
		tensors.MustMutableFlatData(p.wuTensor, func(flat []float32) { copy(flat, transpose2(p.wu).Data) })
		// [n, d_model] · [d_model, vocab] → [n, vocab]
		p.exec, err = NewExec(be, func(v, wuT *Node) *Node {
			return DotGeneral(v, []int{1}, nil, wuT, []int{0}, nil)
		})
		if err != nil {
			return nil, err
		}
	}
	flat := make([]float32, 0, len(rows)*p.DModel)
	for _, r := range rows {
		flat = append(flat, r...)
	}
	var outs []*tensors.Tensor
	err := engine.Catch(func() (err error) {
		outs, err = p.exec.Call(tensors.FromFlatDataAndDimensions(flat, len(rows), p.DModel), p.wuTensor)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("explain: lens matmul: %w", err)
	}
	return outs[0], nil
}

// LensStats times a lens run.
type LensStats struct {
	Neurons int
	Matmul  time.Duration // the [n, d_model]×[d_model, vocab] products
	Select  time.Duration // top/bottom-k selection and norms
	Total   time.Duration
}

// Layer computes the lens of layer l's neurons in units (nil: all) with
// top/bottom k tokens, calling fn in unit order.
func (p *LensPlan) Layer(layer int, units []int, k int, fn func(*NeuronLens) error) (LensStats, error) {
	var st LensStats
	start := time.Now()
	vs, err := p.Writing(layer, units)
	if err != nil {
		return st, err
	}
	if units == nil {
		units = make([]int, len(vs))
		for i := range units {
			units[i] = i
		}
	}
	k = min(k, p.Vocab)
	for c0 := 0; c0 < len(vs); c0 += chunk {
		c1 := min(c0+chunk, len(vs))
		t0 := time.Now()
		t, err := p.matmul(vs[c0:c1])
		if err != nil {
			return st, err
		}
		st.Matmul += time.Since(t0)
		t0 = time.Now()
		res := make([]*NeuronLens, c1-c0)
		err = t.ConstFlatData(func(flat any) {
			data := flat.([]float32)
			var wg sync.WaitGroup
			workers := runtime.GOMAXPROCS(0)
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := w; i < c1-c0; i += workers {
						row := data[i*p.Vocab : (i+1)*p.Vocab]
						res[i] = p.summarise(layer, units[c0+i], vs[c0+i], row, k)
					}
				}(w)
			}
			wg.Wait()
		})
		t.FinalizeAll()
		if err != nil {
			return st, err
		}
		st.Select += time.Since(t0)
		st.Neurons += c1 - c0
		for _, r := range res {
			if err := fn(r); err != nil {
				return st, err
			}
		}
	}
	st.Total = time.Since(start)
	return st, nil
}

func (p *LensPlan) summarise(layer, unit int, v, row []float32, k int) *NeuronLens {
	top, bot := topBottom(row, k)
	r := &NeuronLens{Hook: MLPHook(layer), Unit: unit, Layer: layer}
	for _, t := range top {
		r.Promoted = append(r.Promoted, TokenLogit{Token: t, Logit: row[t]})
	}
	for _, t := range bot {
		r.Suppressed = append(r.Suppressed, TokenLogit{Token: t, Logit: row[t]})
	}
	var n2 float64
	for _, x := range v {
		n2 += float64(x) * float64(x)
	}
	r.OutNorm = math.Sqrt(n2)
	var s, s2 float64
	for _, x := range row {
		s += float64(x)
		s2 += float64(x) * float64(x)
	}
	mu := s / float64(len(row))
	r.LogitStd = math.Sqrt(max(0, s2/float64(len(row))-mu*mu))
	return r
}

// fill adds the tokens' display forms (outside the parallel selection: a
// token table may not be safe for concurrent use).
func (p *LensPlan) fill(r *NeuronLens) {
	for i := range r.Promoted {
		r.Promoted[i].Text = p.tokText(r.Promoted[i].Token)
	}
	for i := range r.Suppressed {
		r.Suppressed[i].Text = p.tokText(r.Suppressed[i].Token)
	}
}

// All computes the lens of every MLP neuron of the model, layer by layer.
func (p *LensPlan) All(k int, fn func(*NeuronLens) error) (LensStats, error) {
	var tot LensStats
	start := time.Now()
	for l := 0; l < p.Layers; l++ {
		st, err := p.Layer(l, nil, k, func(r *NeuronLens) error { p.fill(r); return fn(r) })
		if err != nil {
			return tot, err
		}
		tot.Neurons += st.Neurons
		tot.Matmul += st.Matmul
		tot.Select += st.Select
	}
	tot.Total = time.Since(start)
	return tot, nil
}

// Neuron computes one neuron's lens.
func (p *LensPlan) Neuron(layer, unit, k int) (*NeuronLens, error) {
	vs, err := p.Writing(layer, []int{unit})
	if err != nil {
		return nil, err
	}
	row := p.Logits(vs[0])
	r := p.summarise(layer, unit, vs[0], row, min(k, p.Vocab))
	p.fill(r)
	return r, nil
}

// topBottom returns the indices of the k largest values (descending) and
// the k smallest (ascending), by a single pass with bounded insertion.
func topBottom(row []float32, k int) (top, bot []int32) {
	if k <= 0 {
		return nil, nil
	}
	top = make([]int32, 0, k)
	bot = make([]int32, 0, k)
	for i, x := range row {
		if len(top) < k || x > row[top[len(top)-1]] {
			top = insert(top, int32(i), k, func(a, b int32) bool { return row[a] > row[b] || (row[a] == row[b] && a < b) })
		}
		if len(bot) < k || x < row[bot[len(bot)-1]] {
			bot = insert(bot, int32(i), k, func(a, b int32) bool { return row[a] < row[b] || (row[a] == row[b] && a < b) })
		}
	}
	return top, bot
}

// insert puts i into the sorted list s (by before), keeping at most k.
func insert(s []int32, i int32, k int, before func(a, b int32) bool) []int32 {
	j := sort.Search(len(s), func(j int) bool { return before(i, s[j]) })
	if len(s) < k {
		s = append(s, 0)
	} else if j >= k {
		return s
	}
	copy(s[j+1:], s[j:len(s)-1])
	s[j] = i
	return s
}

var errStop = errors.New("stop")

// Dictionary decoders whose rows are directions in the residual stream
// (sae.Dictionary) give their features a logit lens.
type decoderRows interface {
	DecoderRow(feature int) ([]float32, error)
}

// residualWriters are the hook points whose values live in the residual
// stream: a dictionary on one of them decodes into residual directions.
var residualWriters = []string{".hook_resid_pre", ".hook_resid_mid", ".hook_resid_post", ".hook_attn_out", ".hook_mlp_out"}

// Feature is the logit lens of a dictionary feature (a unit of
// HOOK.hook_sae_acts_post): its decoder row, centred if the final norm
// centres, times the final gain, through the unembedding. ok is false for
// units that are not features of a dictionary attached to the model on a
// residual-stream hook point, which have no such lens.
func (p *LensPlan) Feature(hookName string, unit, k int) (l *NeuronLens, ok bool, err error) {
	base, isFeature := strings.CutSuffix(hookName, hook.SAEActs)
	if !isFeature || !slices.ContainsFunc(residualWriters, func(s string) bool { return strings.HasSuffix(base, s) }) {
		return nil, false, nil
	}
	var rows decoderRows
	for _, d := range p.m.Dictionaries() {
		if r, isRows := d.(decoderRows); isRows && d.Hook() == base {
			rows = r
		}
	}
	if rows == nil {
		return nil, false, nil
	}
	v, err := rows.DecoderRow(unit)
	if err != nil {
		return nil, false, err
	}
	if len(v) != p.DModel {
		return nil, false, nil
	}
	v = slices.Clone(v)
	p.fold(v)
	layer := -1
	if s, found := strings.CutPrefix(base, "blocks."); found {
		if i := strings.IndexByte(s, '.'); i > 0 {
			layer, _ = strconv.Atoi(s[:i])
		}
	}
	l = p.summarise(layer, unit, v, p.Logits(v), k)
	l.Hook = hookName
	p.fill(l)
	return l, true, nil
}
