package attrgraph

import (
	"github.com/glia-dev/glia/engine/cpu/sgemm"
)

// Kind is a node's kind.
type Kind string

const (
	Neuron    Kind = "neuron"
	Head      Kind = "head"
	ErrorNode Kind = "error"
	Embedding Kind = "embedding"
	LogitNode Kind = "logit"
)

// target is a node whose incoming edges a backward pass computes.
type target struct {
	kind Kind
	l, p int
	i    int       // candidate index (neuron), head, or logit index
	u    []float32 // logit: demeaned unembedding row
}

// builder holds what every backward pass reads, and the column layout of
// a row: candidate neurons, candidate heads (heads mode), one error per
// site, one embedding per position.
type builder struct {
	f                     *frozen
	c                     *cache
	heads                 bool
	nHead, errOff, embOff int
	nCols                 int
	scratch               [8][]float32
}

func newBuilder(f *frozen, c *cache, heads bool) *builder {
	b := &builder{f: f, c: c, heads: heads}
	if heads {
		b.nHead = f.L * c.T * f.H
	}
	b.errOff = len(c.cands) + b.nHead
	b.embOff = b.errOff + f.L*c.T
	b.nCols = b.embOff + c.T
	return b
}

func (b *builder) headCol(l, p, h int) int { return len(b.c.cands) + (l*b.c.T+p)*b.f.H + h }
func (b *builder) errCol(l, p int) int     { return b.errOff + l*b.c.T + p }

// headOut is head h's output at (l, p), z_h·W_O_h (d_model).
func (b *builder) headOut(l, p, h int) []float32 {
	f := b.f
	z := b.c.z[l][(p*f.H+h)*f.dh : (p*f.H+h+1)*f.dh]
	o := make([]float32, f.dm)
	wo, hd := f.layers[l].wo, f.H*f.dh
	for j, zj := range z {
		for k := range o {
			if f.woT {
				o[k] += zj * wo[(h*f.dh+j)*f.dm+k]
			} else {
				o[k] += zj * wo[k*hd+h*f.dh+j]
			}
		}
	}
	return o
}

// buf is scratch slice i of n floats, reused from one backward pass to the
// next (each is up to batch × T × d_model: 31 MB at 1,024 tokens).
func (b *builder) buf(i, n int) []float32 {
	if cap(b.scratch[i]) < n {
		b.scratch[i] = make([]float32, n)
	}
	return b.scratch[i][:n]
}

// backward computes the rows (incoming direct effects over b.nCols
// columns) and constant terms of ts in one pass down the frozen model.
// The gradient G [len(ts), tb, d_model] is the target's derivative with
// respect to the residual stream at the current depth.
func (b *builder) backward(ts []target) ([][]float32, []float64) {
	f, c := b.f, b.c
	B, dm, H, dh := len(ts), f.dm, f.H, f.dh
	hd, kvdh := H*dh, f.KV*dh
	tb := 0
	for _, t := range ts {
		tb = max(tb, t.p+1)
	}
	G := b.buf(7, B*tb*dm)
	clear(G)
	g := func(i, p int) []float32 { return G[(i*tb+p)*dm : (i*tb+p+1)*dm] }
	rows := make([][]float32, B)
	for i := range rows {
		rows[i] = make([]float32, b.nCols)
	}
	consts := make([]float64, B)
	live := make([]bool, B) // its target has been injected: its gradient may be non-zero
	for i, t := range ts {
		if t.kind == LogitNode {
			f.normBack(g(i, t.p), t.u, f.lnf, c.sf[t.p])
			if f.lnfb != nil {
				consts[i] += dot32(t.u, f.lnfb)
			}
			live[i] = true
		}
	}
	dZ, P := b.buf(0, B*tb*hd), b.buf(1, B*tb*hd)
	Q, DV := b.buf(2, tb*B*dh), b.buf(3, f.KV*tb*B*dh)
	dVf, dX := b.buf(4, B*tb*kvdh), b.buf(5, B*tb*dm)
	at := b.buf(6, tb*tb)
	for l := f.L - 1; l >= 0; l-- {
		lw := f.layers[l]
		if f.hasMLP() {
			for p := range tb {
				for ci := c.site[l*c.T+p]; ci < c.site[l*c.T+p+1]; ci++ {
					cd := c.cands[ci]
					w := lw.wout[int(cd.n)*dm : int(cd.n+1)*dm]
					for i := range B {
						if live[i] {
							rows[i][ci] = float32(float64(cd.a) * dot32(w, g(i, p)))
						}
					}
				}
				e := c.errv[l][p*dm : (p+1)*dm]
				for i := range B {
					if live[i] {
						rows[i][b.errCol(l, p)] = float32(dot32(e, g(i, p)))
						if lw.bout != nil {
							consts[i] += dot32(lw.bout, g(i, p))
						}
					}
				}
			}
			for i, t := range ts {
				if t.kind != Neuron || t.l != l {
					continue
				}
				cd := c.cands[t.i]
				v := f.inVec(l, int(cd.n))
				dy := make([]float32, dm)
				for k := range dy {
					dy[k] = v[k] * cd.factor
				}
				f.normBack(g(i, t.p), dy, lw.ln2, c.s2[l][t.p])
				if lw.ln2b != nil {
					consts[i] += dot32(dy, lw.ln2b)
				}
				if lw.bin != nil {
					consts[i] += float64(cd.factor) * float64(lw.bin[cd.n])
				}
				live[i] = true
			}
		}
		// Attention: dZ = G·W_Oᵀ [B, tb, H, dh].
		anyLive := false
		for i := range B {
			if live[i] {
				anyLive = true
				if lw.bo != nil {
					for p := range tb {
						consts[i] += dot32(lw.bo, g(i, p))
					}
				}
			}
		}
		if anyLive {
			sgemm.MatMul(G, lw.wo, dZ, 1, B*tb, hd, dm, f.woT)
		} else {
			clear(dZ)
		}
		if b.heads {
			for i := range B {
				if !live[i] {
					continue
				}
				for p := range tb {
					for h := range H {
						z := c.z[l][(p*H+h)*dh : (p*H+h+1)*dh]
						d := dZ[((i*tb+p)*H+h)*dh:]
						var s float64
						for j, zj := range z {
							s += float64(zj) * float64(d[j])
						}
						rows[i][b.headCol(l, p, h)] = float32(s)
					}
				}
			}
			// In heads mode only a head target's own output runs back
			// through attention: other paths go through head nodes.
			clear(dZ)
			anyLive = false
			for i, t := range ts {
				if t.kind != Head || t.l != l {
					continue
				}
				o := b.headOut(l, t.p, t.i)
				n := norm32(o)
				if n == 0 {
					live[i] = true
					continue
				}
				d := dZ[((i*tb+t.p)*H+t.i)*dh:]
				wo := lw.wo
				for j := range dh {
					var s float64
					for k := range dm {
						if f.woT {
							s += float64(wo[(t.i*dh+j)*dm+k]) * float64(o[k])
						} else {
							s += float64(wo[k*hd+t.i*dh+j]) * float64(o[k])
						}
					}
					d[j] = float32(s / n)
				}
				live[i], anyLive = true, true
			}
		}
		if !anyLive {
			continue
		}
		// dV_kv[s] = Σ_h∈kv Σ_q A_h[q, s]·dZ_h[q], with all targets side by
		// side: P[h][q][i][j] so that each head is one [tb, tb]·[tb, B·dh].
		for i := range B {
			for q := range tb {
				for h := range H {
					copy(P[((h*tb+q)*B+i)*dh:((h*tb+q)*B+i+1)*dh], dZ[((i*tb+q)*H+h)*dh:((i*tb+q)*H+h+1)*dh])
				}
			}
		}
		clear(DV)
		rep := H / f.KV
		for h := range H {
			c.patT(at, l, h, tb)
			sgemm.MatMul(at, P[h*tb*B*dh:(h+1)*tb*B*dh], Q, 1, tb, B*dh, tb, false)
			dv := DV[(h/rep)*tb*B*dh:]
			for k, v := range Q {
				dv[k] += v
			}
		}
		for kv := range f.KV {
			for s := range tb {
				for i := range B {
					copy(dVf[(i*tb+s)*kvdh+kv*dh:(i*tb+s)*kvdh+(kv+1)*dh], DV[((kv*tb+s)*B+i)*dh:((kv*tb+s)*B+i+1)*dh])
				}
			}
		}
		sgemm.MatMul(dVf, lw.wv, dX, 1, B*tb, dm, kvdh, f.wvT)
		for i := range B {
			if !live[i] {
				continue
			}
			for s := range tb {
				if lw.bv != nil {
					consts[i] += dot32(dVf[(i*tb+s)*kvdh:(i*tb+s+1)*kvdh], lw.bv)
				}
				dx := dX[(i*tb+s)*dm : (i*tb+s+1)*dm]
				if lw.ln1b != nil {
					consts[i] += dot32(dx, lw.ln1b)
				}
				f.normBack(g(i, s), dx, lw.ln1, c.s1[l][s])
			}
		}
	}
	for i := range B {
		for p := range tb {
			rows[i][b.embOff+p] = float32(dot32(c.emb[p*dm:(p+1)*dm], g(i, p)))
		}
	}
	return rows, consts
}
