package attrgraph

import (
	"cmp"
	"math"
	"slices"
)

// maxKeys is how many key-side sources a head node lists.
const maxKeys = 16

// KeyEdge is one source's share of a head's attention score on its key.
type KeyEdge struct {
	Source Node
	Weight float64
}

// Keys is the QK side of a head node, which the frozen graph leaves out
// (its pattern is a constant there): the head's largest attention score
// at its query position, q·k at key position KeyPos times the scale,
// split over what the key position's residual stream is made of — the
// embedding, every earlier head's output, every earlier candidate neuron
// and error — with the query, the norm scale and the rotary angle held at
// their cached values (the score is then linear in the key's residual).
// Σ Top + Rest + Bias = Score.
type Keys struct {
	KeyPos      int
	Score, Bias float64
	Top         []KeyEdge // the largest |weight| first
	Rest        float64   // the sum of the sources not in Top
}

// keys splits head h's score at (l, p) on its most attended key.
func (b *builder) keys(l, p, h int) *Keys {
	f, c := b.f, b.c
	dm, dh, H := f.dm, f.dh, f.H
	kv := h / (H / f.KV)
	pk := c.pat[l][h*c.tri+p*(p+1)/2:]
	s := 0
	for j := 1; j <= p; j++ {
		if pk[j] > pk[s] {
			s = j
		}
	}
	// v = Rᵀq: the query turned back by the key's rotary angle, pair by
	// pair (i, i+d_head/2), the angle read from the key before and after
	// rotation, so that q·R·k = v·k for any k at this position.
	q := c.q[l][(p*H+h)*dh : (p*H+h+1)*dh]
	k0, k1 := c.k[l][(s*f.KV+kv)*dh:(s*f.KV+kv+1)*dh], c.kr[l][(s*f.KV+kv)*dh:(s*f.KV+kv+1)*dh]
	v := make([]float64, dh)
	for i := range v {
		v[i] = float64(q[i])
	}
	if f.rotary {
		half := dh / 2
		for i := range half {
			a, bb, a1, b1 := float64(k0[i]), float64(k0[i+half]), float64(k1[i]), float64(k1[i+half])
			phi := math.Atan2(a*b1-bb*a1, a*a1+bb*b1)
			cs, sn := math.Cos(phi), math.Sin(phi)
			v[i] = float64(q[i])*cs + float64(q[i+half])*sn
			v[i+half] = -float64(q[i])*sn + float64(q[i+half])*cs
		}
	}
	scale := f.attnScale[l]
	lw := f.layers[l]
	out := &Keys{KeyPos: s}
	// u = W_K v·scale (d_model), the score's gradient at the norm's output.
	u := make([]float32, dm)
	for i := range dm {
		var x float64
		for j := range dh {
			if f.wvT {
				x += float64(lw.wk[i*f.KV*dh+kv*dh+j]) * v[j]
			} else {
				x += float64(lw.wk[(kv*dh+j)*dm+i]) * v[j]
			}
		}
		u[i] = float32(x * scale)
	}
	if lw.bk != nil {
		for j := range dh {
			out.Bias += float64(lw.bk[kv*dh+j]) * v[j] * scale
		}
	}
	if lw.ln1b != nil {
		out.Bias += dot32(u, lw.ln1b)
	}
	d := make([]float32, dm)
	f.normBack(d, u, lw.ln1, c.s1[l][s])
	var all []KeyEdge
	add := func(n Node, w float64) { all = append(all, KeyEdge{Source: n, Weight: w}) }
	add(Node{Kind: Embedding, Layer: -1, Pos: s, Index: -1}, dot32(d, c.emb[s*dm:(s+1)*dm]))
	for l2 := range l {
		lw2 := f.layers[l2]
		for h2 := range H {
			add(Node{Kind: Head, Layer: l2, Pos: s, Index: h2}, dot32(d, b.headOut(l2, s, h2)))
		}
		if lw2.bo != nil {
			out.Bias += dot32(d, lw2.bo)
		}
		if !f.hasMLP() {
			continue
		}
		for ci := c.site[l2*c.T+s]; ci < c.site[l2*c.T+s+1]; ci++ {
			cd := c.cands[ci]
			add(Node{Kind: Neuron, Layer: l2, Pos: s, Index: int(cd.n), Activation: float64(cd.a)},
				float64(cd.a)*dot32(d, lw2.wout[int(cd.n)*dm:int(cd.n+1)*dm]))
		}
		add(Node{Kind: ErrorNode, Layer: l2, Pos: s, Index: -1}, dot32(d, c.errv[l2][s*dm:(s+1)*dm]))
		if lw2.bout != nil {
			out.Bias += dot32(d, lw2.bout)
		}
	}
	slices.SortStableFunc(all, func(a, b KeyEdge) int { return cmp.Compare(math.Abs(b.Weight), math.Abs(a.Weight)) })
	out.Top = all[:min(maxKeys, len(all))]
	for _, e := range all[len(out.Top):] {
		out.Rest += e.Weight
	}
	var qk float64
	for i, x := range k1 {
		qk += float64(q[i]) * float64(x)
	}
	out.Score = qk * scale
	return out
}
