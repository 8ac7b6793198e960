package attrgraph

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/glia-dev/glia/engine"
)

// cand is a candidate neuron: one of the top PerSite at its site.
type cand struct {
	l, p, n int32
	a       float32 // activation (hook_post)
	value   float32 // pre-activation, or act(gate)·up for gated MLPs
	factor  float32 // act(gate) (gated MLPs), 1 otherwise
}

// cache is one prompt's forward pass, kept only as far as the frozen
// model needs it.
type cache struct {
	T      int
	s1, s2 [][]float32 // [layer][pos] norm scales
	sf     []float32   // [pos] final norm scale
	pat    [][]float32 // [layer] packed lower triangles, head-major: h·tri + q(q+1)/2 + s
	tri    int
	emb    []float32   // [pos, dm] token (+ position) embedding
	z      [][]float32 // heads mode: [layer][pos, head, d_head]
	q      [][]float32 // heads mode: [layer][pos, head, d_head], rotated
	k, kr  [][]float32 // heads mode: [layer][pos, kv_head, d_head], before and after rotation
	cands  []cand      // sorted by (layer, pos, neuron)
	site   []int32     // [layer·T + pos + 1] offsets into cands
	errv   [][]float32 // [layer][pos, dm]: MLP output − bias − candidates
	logits []float32   // last position's logits
}

// runBytes caps the hook values one forward pass returns: at 1,024 tokens
// GPT-2 small's attention patterns alone are 604 MB, so the layers come in
// groups, one forward pass each, and the patterns are packed to their
// lower triangles.
const runBytes = 192 << 20

func capture(m *engine.Model, f *frozen, ids []int32, o Options) (*cache, error) {
	T := len(ids)
	c := &cache{T: T, tri: T * (T + 1) / 2}
	hooks := []string{"hook_embed", "ln_final.hook_scale", "ln_final.hook_normalized"}
	if f.hasPosEmbed {
		hooks = append(hooks, "hook_pos_embed")
	}
	for l := range f.L {
		hooks = append(hooks, fmt.Sprintf("blocks.%d.ln1.hook_scale", l))
		if f.hasMLP() {
			hooks = append(hooks, fmt.Sprintf("blocks.%d.ln2.hook_scale", l))
		}
	}
	// The logits of the last position only, from its normalised final
	// residual: all T rows of GPT-2's are 206 MB at 1,024 tokens.
	res, err := m.Run(engine.Request{IDs: [][]int32{ids}, Hooks: hooks, NoLogits: true})
	if err != nil {
		return nil, err
	}
	x := res.Acts["ln_final.hook_normalized"].Data[(T-1)*f.dm : T*f.dm]
	c.logits = make([]float32, f.vocab)
	for v := range c.logits {
		c.logits[v] = float32(dot32(x, f.wu[v*f.dm:(v+1)*f.dm]))
	}
	c.sf = slices.Clone(res.Acts["ln_final.hook_scale"].Data[:T])
	c.emb = slices.Clone(res.Acts["hook_embed"].Data[:T*f.dm])
	if pe, ok := res.Acts["hook_pos_embed"]; ok {
		for i, v := range pe.Data[:T*f.dm] {
			c.emb[i] += v
		}
	}
	for l := range f.L {
		c.s1 = append(c.s1, slices.Clone(res.Acts[fmt.Sprintf("blocks.%d.ln1.hook_scale", l)].Data[:T]))
		if f.hasMLP() {
			c.s2 = append(c.s2, slices.Clone(res.Acts[fmt.Sprintf("blocks.%d.ln2.hook_scale", l)].Data[:T]))
		}
	}
	c.site = make([]int32, f.L*T+1)
	c.pat = make([][]float32, f.L)
	perLayer := 4 * T * (f.H*T + 3*f.dmlp + f.dm + f.H*f.dh)
	per := max(1, runBytes/perLayer)
	for l0 := 0; l0 < f.L; l0 += per {
		var hooks []string
		for l := l0; l < min(f.L, l0+per); l++ {
			b := fmt.Sprintf("blocks.%d.", l)
			hooks = append(hooks, b+"attn.hook_pattern")
			if f.hasMLP() {
				hooks = append(hooks, b+"mlp.hook_pre", b+"mlp.hook_post", b+"hook_mlp_out")
				if f.gated {
					hooks = append(hooks, b+"mlp.hook_pre_linear")
				}
			}
			if o.Heads {
				hooks = append(hooks, b+"attn.hook_z", b+"attn.hook_q", b+"attn.hook_k")
				if f.rotary {
					hooks = append(hooks, b+"attn.hook_rot_q", b+"attn.hook_rot_k")
				}
			}
		}
		res, err := m.Run(engine.Request{IDs: [][]int32{ids}, Hooks: hooks, NoLogits: true})
		if err != nil {
			return nil, err
		}
		for l := l0; l < min(f.L, l0+per); l++ {
			b := fmt.Sprintf("blocks.%d.", l)
			c.pat[l] = c.pack(res.Acts[b+"attn.hook_pattern"].Data, f.H)
			if o.Heads {
				c.z = append(c.z, slices.Clone(res.Acts[b+"attn.hook_z"].Data[:T*f.H*f.dh]))
				q, k, kr := b+"attn.hook_q", b+"attn.hook_k", b+"attn.hook_k"
				if f.rotary {
					q, kr = b+"attn.hook_rot_q", b+"attn.hook_rot_k"
				}
				c.q = append(c.q, slices.Clone(res.Acts[q].Data[:T*f.H*f.dh]))
				c.k = append(c.k, slices.Clone(res.Acts[k].Data[:T*f.KV*f.dh]))
				c.kr = append(c.kr, slices.Clone(res.Acts[kr].Data[:T*f.KV*f.dh]))
			}
			if f.hasMLP() {
				c.addCands(f, l, o.PerSite, res.Acts[b+"mlp.hook_pre"].Data, res.Acts[b+"mlp.hook_post"].Data,
					res.Acts[b+"mlp.hook_pre_linear"].Data, res.Acts[b+"hook_mlp_out"].Data)
			} else {
				for p := range T {
					c.site[l*T+p+1] = int32(len(c.cands))
				}
			}
			// Release each array as soon as it is read.
			for _, h := range []string{"attn.hook_pattern", "attn.hook_z", "attn.hook_q", "attn.hook_k", "attn.hook_rot_q", "attn.hook_rot_k", "mlp.hook_pre", "mlp.hook_post", "mlp.hook_pre_linear", "hook_mlp_out"} {
				delete(res.Acts, b+h)
			}
		}
	}
	return c, nil
}

// pack keeps each head's lower triangle of a pattern [1, head, q, k].
func (c *cache) pack(a []float32, H int) []float32 {
	T := c.T
	pk := make([]float32, H*c.tri)
	for hd := range H {
		for q := range T {
			copy(pk[hd*c.tri+q*(q+1)/2:], a[(hd*T+q)*T:(hd*T+q)*T+q+1])
		}
	}
	return pk
}

// addCands keeps the top k neurons of every position of layer l by
// |a|·‖W_out[n]‖, and the rest of the MLP output as the site's error.
func (c *cache) addCands(f *frozen, l, k int, pre, post, up, out []float32) {
	lw := f.layers[l]
	wn := make([]float64, f.dmlp)
	for n := range f.dmlp {
		wn[n] = norm32(lw.wout[n*f.dm : (n+1)*f.dm])
	}
	ev := make([]float32, c.T*f.dm)
	idx := make([]int, f.dmlp)
	for p := range c.T {
		a := post[p*f.dmlp : (p+1)*f.dmlp]
		for i := range idx {
			idx[i] = i
		}
		score := func(n int) float64 { return math.Abs(float64(a[n])) * wn[n] }
		slices.SortFunc(idx, func(x, y int) int { return cmp.Compare(score(y), score(x)) })
		top := slices.Clone(idx[:min(k, f.dmlp)])
		slices.Sort(top)
		e := ev[p*f.dm : (p+1)*f.dm]
		copy(e, out[p*f.dm:(p+1)*f.dm])
		if lw.bout != nil {
			for i := range e {
				e[i] -= lw.bout[i]
			}
		}
		for _, n := range top {
			if score(n) == 0 {
				continue
			}
			cd := cand{l: int32(l), p: int32(p), n: int32(n), a: a[n], value: pre[p*f.dmlp+n], factor: 1}
			if f.gated {
				// act(gate) = post / up; where up vanishes the ratio is
				// undefined and SiLU (the family's default) is recomputed.
				u, g := up[p*f.dmlp+n], pre[p*f.dmlp+n]
				cd.value = a[n]
				if math.Abs(float64(u)) > 1e-20 {
					cd.factor = a[n] / u
				} else {
					cd.factor = float32(float64(g) / (1 + math.Exp(-float64(g))))
				}
			}
			w := lw.wout[n*f.dm : (n+1)*f.dm]
			for i := range e {
				e[i] -= a[n] * w[i]
			}
			c.cands = append(c.cands, cd)
		}
		c.site[l*c.T+p+1] = int32(len(c.cands))
	}
	c.errv = append(c.errv, ev)
}

// patT writes head h of layer l's transposed pattern over the first tb
// positions into dst [tb, tb]: dst[s·tb + q] = A[q, s].
func (c *cache) patT(dst []float32, l, h, tb int) {
	clear(dst[:tb*tb])
	pk := c.pat[l][h*c.tri:]
	for q := range tb {
		row := pk[q*(q+1)/2:]
		for s := 0; s <= q; s++ {
			dst[s*tb+q] = row[s]
		}
	}
}
