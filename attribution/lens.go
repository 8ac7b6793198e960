package attribution

import (
	"fmt"
	"math"

	"github.com/glia-dev/glia/engine"
)

// TokenProb is one token of a lens row.
type TokenProb struct {
	Token int32   `json:"token"`
	Text  string  `json:"text"`
	Logit float64 `json:"logit"`
	Prob  float64 `json:"prob"`
}

// LensLayer is one residual stream read through the final norm and the
// unembedding.
type LensLayer struct {
	Hook   string      `json:"hook"` // blocks.0.hook_resid_pre, then each blocks.L.hook_resid_post
	Top    []TokenProb `json:"top"`
	Rank   int         `json:"target_rank"` // 0 is the top token
	Prob   float64     `json:"target_prob"`
	Logits []float32   `json:"-"` // the whole row, for checks
}

// LensResult is the logit lens of one position.
type LensResult struct {
	Pos    int         `json:"pos"`
	Token  int32       `json:"token"` // the target token
	Layers []LensLayer `json:"layers"`
}

// Lens reads the residual stream at pos (negative from the end) before the
// first layer and after each layer through the final norm (recomputed on
// that residual, with the model's epsilon) and the unembedding, keeping
// the top k tokens and token's rank and probability. The last layer's row
// is the model's logits.
func Lens(m *engine.Model, ids []int32, pos int, token int32, k int) (*LensResult, error) {
	const op = "lens"
	d := m.Dims()
	tg, err := Target{Kind: Logit, Pos: pos, Token: token}.resolve(op, len(ids), d.Vocab)
	if err != nil {
		return nil, err
	}
	r, err := newReader(m, op)
	if err != nil {
		return nil, err
	}
	lens := r.lens
	hooks := []string{"blocks.0.hook_resid_pre"}
	for l := range d.Layers {
		hooks = append(hooks, fmt.Sprintf("blocks.%d.hook_resid_post", l))
	}
	res, err := m.Run(engine.Request{IDs: [][]int32{ids}, Hooks: hooks, NoLogits: true})
	if err != nil {
		return nil, err
	}
	wu, err := r.weight(lens.Unembedding, d.Vocab, d.DModel)
	if err != nil {
		return nil, err
	}
	g, err := r.gain(lens.FinalNorm, d.DModel)
	if err != nil {
		return nil, err
	}
	b, err := r.weight(lens.FinalNormBias, d.DModel)
	if err != nil {
		return nil, err
	}
	out := &LensResult{Pos: tg.Pos, Token: token}
	for _, h := range hooks {
		x := r.finalNorm(at(res.Acts[h], tg.Pos), g, b)
		row := make([]float32, d.Vocab)
		for v := range row {
			s := dot(wu[v*d.DModel:(v+1)*d.DModel], x)
			if c := lens.LogitSoftCap; c > 0 {
				s = c * math.Tanh(s/c)
			}
			row[v] = float32(s)
		}
		probs := engine.Probs(row)
		ll := LensLayer{Hook: h, Logits: row, Prob: probs[token]}
		for _, v := range row {
			if v > row[token] {
				ll.Rank++
			}
		}
		for _, rk := range engine.TopTokens(row, k) {
			id := int32(rk.ID)
			ll.Top = append(ll.Top, TokenProb{Token: id, Text: m.TokenText(id), Logit: float64(rk.Logit), Prob: rk.Prob})
		}
		out.Layers = append(out.Layers, ll)
	}
	return out, nil
}

// finalNorm is the final norm of one residual vector, in float64.
func (r *reader) finalNorm(x []float32, g []float64, b []float32) []float64 {
	n := float64(len(x))
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	if r.lens.Centred {
		centre(y)
	}
	var ss float64
	for _, v := range y {
		ss += v * v
	}
	s := math.Sqrt(ss/n + r.lens.FinalNormEps)
	for i := range y {
		y[i] = y[i] / s * g[i]
		if b != nil {
			y[i] += float64(b[i])
		}
	}
	return y
}
