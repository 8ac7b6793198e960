package attribution

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/glia-dev/glia/engine"
	. "github.com/gomlx/gomlx/core/graph"
)

// Unit is one unit of a hook: the last axis of a [batch, pos, unit] hook
// (an MLP neuron, a residual dimension) or the head axis of a
// [batch, pos, head, d_head] one, over every position.
type Unit struct {
	Hook  string `json:"hook"`
	Index int    `json:"unit"`
}

// NodeScore is a node's AtP estimate and, for the re-checked top k, the
// effect of really patching it.
type NodeScore struct {
	Unit
	Estimate float64  `json:"estimate"`       // (corrupt − clean) · ∂F/∂node at the clean run
	Patched  *float64 `json:"real,omitempty"` // F(clean with the node patched) − F(clean)
}

// AtPResult is attribution patching over every unit of some hooks.
type AtPResult struct {
	Target  Target      `json:"target"`
	Clean   float64     `json:"clean"`   // F at the clean prompt
	Corrupt float64     `json:"corrupt"` // F at the corrupt prompt
	Nodes   []NodeScore `json:"nodes"`   // by |estimate|, largest first
	// Checked is how many of the top nodes were really patched; Spearman is
	// the rank correlation of their estimates and real effects.
	Checked  int     `json:"checked"`
	Spearman float64 `json:"spearman"`
	Seconds  float64 `json:"seconds"`
}

// AtP estimates, for every unit of hooks, the change in t from patching
// that unit's corrupt activation (all positions) into the clean run, by
// the linear estimate (Kramár et al. 2024), then re-checks the top k by
// real patching (one batched forward) and reports Spearman's ρ.
func AtP(m *engine.Model, clean, corrupt []int32, hooks []string, t Target, k int) (*AtPResult, error) {
	const op = "atp"
	start := time.Now()
	if len(clean) != len(corrupt) {
		return nil, errorf(op, "the clean prompt has %d tokens, the corrupt one %d: they must align", len(clean), len(corrupt))
	}
	vocab := m.Dims().Vocab
	t, err := t.resolve(op, len(clean), vocab)
	if err != nil {
		return nil, err
	}
	cr, err := m.Run(engine.Request{IDs: [][]int32{clean}, Hooks: hooks, Grad: t.gradTarget(clean)})
	if err != nil {
		return nil, err
	}
	xr, err := m.Run(engine.Request{IDs: [][]int32{corrupt}, Hooks: hooks})
	if err != nil {
		return nil, err
	}
	out := &AtPResult{Target: t, Clean: t.value(cr.Logits.Data, clean, vocab), Corrupt: t.value(xr.Logits.Data, clean, vocab)}
	for _, h := range hooks {
		a := cr.Acts[h]
		axis, err := unitAxis(op, h, a.Shape)
		if err != nil {
			return nil, err
		}
		units := a.Shape[axis]
		inner := 1
		for _, d := range a.Shape[axis+1:] {
			inner *= d
		}
		est := make([]float64, units)
		c, x, g := a.Data, xr.Acts[h].Data, cr.Grads[h].Data
		for i := range c {
			est[(i/inner)%units] += float64(x[i]-c[i]) * float64(g[i])
		}
		for u, e := range est {
			out.Nodes = append(out.Nodes, NodeScore{Unit: Unit{h, u}, Estimate: e})
		}
	}
	sort.SliceStable(out.Nodes, func(i, j int) bool { return math.Abs(out.Nodes[i].Estimate) > math.Abs(out.Nodes[j].Estimate) })
	k = min(k, len(out.Nodes))
	if k > 0 {
		real, err := patchNodes(m, clean, out.Nodes[:k], cr, xr, t)
		if err != nil {
			return nil, err
		}
		est := make([]float64, k)
		for i := range k {
			r := real[i] - out.Clean
			out.Nodes[i].Patched = &r
			est[i], real[i] = out.Nodes[i].Estimate, r
		}
		out.Checked = k
		out.Spearman = Spearman(est, real)
	}
	out.Seconds = time.Since(start).Seconds()
	return out, nil
}

// unitAxis is the axis of a hook's units: 2 for [batch, pos, head, d_head],
// the last for [batch, pos, unit].
func unitAxis(op, hook string, shape []int) (int, error) {
	if n := len(shape); n == 3 || n == 4 {
		return 2, nil
	}
	return 0, errorf(op, "%s has shape %v: nodes are the units of [batch, pos, unit] or the heads of [batch, pos, head, d_head] hooks", hook, shape)
}

// patchNodes runs the clean prompt once per node, batched, with that
// node's corrupt activation patched in, and returns F for each row.
func patchNodes(m *engine.Model, clean []int32, nodes []NodeScore, cr, xr *engine.Result, t Target) ([]float64, error) {
	rows := make([][]int32, len(nodes))
	for i := range rows {
		rows[i] = clean
	}
	var ivs []engine.Intervention
	var hooks []string
	for _, n := range nodes {
		if !slices.Contains(hooks, n.Hook) {
			hooks = append(hooks, n.Hook)
		}
	}
	for _, h := range hooks {
		shape := cr.Acts[h].Shape
		size := len(cr.Acts[h].Data)
		axis, _ := unitAxis("atp", h, shape)
		inner := 1
		for _, d := range shape[axis+1:] {
			inner *= d
		}
		mask := make([]float32, len(nodes)*size) // 1 where row r patches this hook's unit
		var units []int
		for r, n := range nodes {
			if n.Hook != h {
				continue
			}
			units = append(units, n.Index)
			for i := range size {
				if (i/inner)%shape[axis] == n.Index {
					mask[r*size+i] = 1
				}
			}
		}
		corrupt := xr.Acts[h].Data
		ivs = append(ivs, engine.Intervention{Hook: h, Key: fmt.Sprintf("atp:%s:%v:%s", digest(corrupt), units, digest(mask)), Fn: func(x *Node) *Node {
			g := x.Graph()
			dims := x.Shape().Dimensions
			mk := Reshape(Const(g, mask), dims...)
			cx := BroadcastToDims(Reshape(Const(g, corrupt), shape...), dims...)
			return Add(x, Mul(mk, Sub(cx, x)))
		}})
	}
	res, err := m.Run(engine.Request{IDs: rows, Interventions: ivs})
	if err != nil {
		return nil, err
	}
	vocab := m.Dims().Vocab
	per := len(clean) * vocab
	out := make([]float64, len(nodes))
	for r := range out {
		out[r] = t.value(res.Logits.Data[r*per:(r+1)*per], clean, vocab)
	}
	return out, nil
}

// Spearman is the rank correlation of a and b (ties get their mean rank).
func Spearman(a, b []float64) float64 {
	ra, rb := ranks(a), ranks(b)
	var ma, mb float64
	for i := range ra {
		ma += ra[i]
		mb += rb[i]
	}
	ma /= float64(len(ra))
	mb /= float64(len(rb))
	var sab, saa, sbb float64
	for i := range ra {
		sab += (ra[i] - ma) * (rb[i] - mb)
		saa += (ra[i] - ma) * (ra[i] - ma)
		sbb += (rb[i] - mb) * (rb[i] - mb)
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return v[idx[i]] < v[idx[j]] })
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			r[idx[k]] = float64(i+j)/2 + 1
		}
		i = j + 1
	}
	return r
}
