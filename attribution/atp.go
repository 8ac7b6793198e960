package attribution

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/engine"
	. "github.com/gomlx/gomlx/core/graph"
)

// Unit is one node of a hook: a unit (the last axis of a [batch, pos, unit]
// hook: an MLP neuron, a residual dimension; the head axis of a
// [batch, pos, head, d_head] one) over every position, or, with Pos, one
// position (axis 1) over every unit.
type Unit struct {
	Hook  string `json:"hook"`
	Index int    `json:"unit"`
	Pos   bool   `json:"position,omitempty"` // Index is a position
}

// NodeScore is a node's AtP estimate and, for the re-checked top k, the
// effect of really patching it.
type NodeScore struct {
	Unit
	Estimate float64 `json:"estimate"` // (corrupt − clean) · ∂F/∂node at the clean run; QK-fixed for queries and keys
	// Plain is the linear estimate where the QK fix replaced it.
	Plain *float64 `json:"plain,omitempty"`
	// GradDrop is (1/(L−1)) Σₗ |Iₗ|, Iₗ the estimate with layer l's
	// residual contribution cut from the backward pass.
	GradDrop *float64 `json:"graddrop,omitempty"`
	Patched  *float64 `json:"real,omitempty"` // F(clean with the node patched) − F(clean)
}

// score is what nodes are ranked by: |Estimate|, or the GradDrop score.
func (n NodeScore) score() float64 {
	if n.GradDrop != nil {
		return *n.GradDrop
	}
	return math.Abs(n.Estimate)
}

// AtPResult is attribution patching over every node of some hooks.
type AtPResult struct {
	Target  Target      `json:"target"`
	Clean   float64     `json:"clean"`   // F at the clean prompt
	Corrupt float64     `json:"corrupt"` // F at the corrupt prompt
	Nodes   []NodeScore `json:"nodes"`   // by |estimate| (GradDrop: by its score), largest first
	// Checked is how many of the top nodes were really patched; Spearman is
	// the rank correlation of their estimates and real effects (GradDrop:
	// of its scores and |real effects|, the scores being unsigned).
	Checked  int     `json:"checked"`
	Spearman float64 `json:"spearman"`
	// PlainSpearman is Spearman's ρ of the plain linear estimates over the
	// same checked nodes, where the QK fix or GradDrop changed them.
	PlainSpearman *float64 `json:"plain_spearman,omitempty"`
	QKFix         bool     `json:"qk_fix,omitempty"`
	GradDrop      bool     `json:"graddrop,omitempty"`
	Forwards      int      `json:"forwards"` // passes run (batched rows count once)
	Seconds       float64  `json:"seconds"`
}

// AtPOptions choose AtP*'s refinements (Kramár et al. 2024).
type AtPOptions struct {
	Check int // re-check this many top nodes by real patching
	// QKFix replaces the linear estimate of query and key nodes
	// (attn.hook_q, hook_k, hook_rot_q, hook_rot_k) by the attention
	// probabilities recomputed exactly with the node's corrupt value,
	// linearised from there: Σ (A_patched − A_clean) · ∂F/∂A.
	QKFix bool
	// GradDrop ranks nodes by (1/(L−1)) Σₗ |Iₗ(n)|, one backward pass per
	// layer l with l's residual contribution (hook_attn_out, hook_mlp_out)
	// cut from the gradient, against cancellation along paths.
	GradDrop bool
	// Pos makes each position of each hook a node (all its units at once),
	// as for blocks.L.hook_resid_pre.
	Pos bool
	// Interventions apply to every run (clean, corrupt, patched): the model
	// studied is the one they make.
	Interventions []engine.Intervention
}

// AtP estimates, for every unit of hooks, the change in t from patching
// that unit's corrupt activation (all positions) into the clean run, by
// the linear estimate (Kramár et al. 2024), then re-checks the top k by
// real patching (one batched forward) and reports Spearman's ρ.
func AtP(m *engine.Model, clean, corrupt []int32, hooks []string, t Target, k int) (*AtPResult, error) {
	return AtPStar(m, clean, corrupt, hooks, t, AtPOptions{Check: k})
}

// AtPStar is AtP with the options' refinements: the QK fix, GradDrop,
// position nodes.
func AtPStar(m *engine.Model, clean, corrupt []int32, hooks []string, t Target, o AtPOptions) (*AtPResult, error) {
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
	// The QK fix needs each query/key node's layer's pattern, and its
	// gradient, at the clean run.
	qk := map[string]string{} // q/k hook → its layer's hook_pattern
	var patterns []string
	if o.QKFix && !o.Pos {
		for _, h := range hooks {
			if p, ok := patternOf(h); ok {
				qk[h] = p
				if !slices.Contains(patterns, p) {
					patterns = append(patterns, p)
				}
			}
		}
	}
	all := slices.Clone(hooks)
	for _, p := range patterns {
		if !slices.Contains(all, p) {
			all = append(all, p)
		}
	}
	cr, err := m.Run(engine.Request{IDs: [][]int32{clean}, Hooks: all, Grad: t.gradTarget(clean), Interventions: o.Interventions})
	if err != nil {
		return nil, err
	}
	xr, err := m.Run(engine.Request{IDs: [][]int32{corrupt}, Hooks: hooks, Interventions: o.Interventions})
	if err != nil {
		return nil, err
	}
	out := &AtPResult{Target: t, Clean: t.value(cr.Logits.Data, clean, vocab), Corrupt: t.value(xr.Logits.Data, clean, vocab),
		QKFix: len(qk) > 0, GradDrop: o.GradDrop, Forwards: 2}
	sels := map[string]nodeAxis{}
	for _, h := range hooks {
		a, err := nodeAxisOf(op, h, cr.Acts[h].Shape, o.Pos)
		if err != nil {
			return nil, err
		}
		sels[h] = a
		for u, e := range a.dot(xr.Acts[h].Data, cr.Acts[h].Data, cr.Grads[h].Data) {
			out.Nodes = append(out.Nodes, NodeScore{Unit: Unit{h, u, o.Pos}, Estimate: e})
		}
	}
	// patched[h] is the pattern with all of hook h patched (QK fix).
	patched := map[string][]float32{}
	if len(qk) > 0 {
		var rows [][]sel
		var order []string
		for _, h := range hooks {
			if _, ok := qk[h]; ok {
				rows, order = append(rows, []sel{{hook: h, index: -1}}), append(order, h)
			}
		}
		pr, err := patchRun(m, clean, rows, xr, o.Interventions, patterns, true)
		if err != nil {
			return nil, err
		}
		out.Forwards++
		for r, h := range order {
			p := pr.Acts[qk[h]]
			per := len(p.Data) / len(rows)
			patched[h] = p.Data[r*per : (r+1)*per]
		}
		for i, n := range out.Nodes {
			if p, ok := qk[n.Hook]; ok {
				plain := n.Estimate
				out.Nodes[i].Plain = &plain
				out.Nodes[i].Estimate = qkEstimate(n, patched[n.Hook], cr.Acts[p], cr.Grads[p].Data, m.Dims())
			}
		}
	}
	if o.GradDrop {
		if err := gradDrop(m, clean, t, out, all, qk, patched, cr, xr, sels, o.Interventions); err != nil {
			return nil, err
		}
		out.Forwards++
	}
	sort.SliceStable(out.Nodes, func(i, j int) bool { return out.Nodes[i].score() > out.Nodes[j].score() })
	k := min(o.Check, len(out.Nodes))
	if k > 0 {
		rows := make([][]sel, k)
		for i, n := range out.Nodes[:k] {
			rows[i] = []sel{{hook: n.Hook, axis: sels[n.Hook].axis, index: n.Index}}
		}
		pr, err := patchRun(m, clean, rows, xr, o.Interventions, nil, false)
		if err != nil {
			return nil, err
		}
		out.Forwards++
		per := len(clean) * vocab
		est, real, plain := make([]float64, k), make([]float64, k), make([]float64, k)
		for i := range k {
			r := t.value(pr.Logits.Data[i*per:(i+1)*per], clean, vocab) - out.Clean
			n := &out.Nodes[i]
			n.Patched = &r
			est[i], real[i], plain[i] = n.Estimate, r, n.Estimate
			if n.Plain != nil {
				plain[i] = *n.Plain
			}
			if n.GradDrop != nil {
				est[i], real[i] = *n.GradDrop, math.Abs(r)
			}
		}
		out.Checked = k
		out.Spearman = Spearman(est, real)
		if out.QKFix || out.GradDrop {
			ps := Spearman(plain, realEffects(out.Nodes[:k]))
			out.PlainSpearman = &ps
		}
	}
	out.Seconds = time.Since(start).Seconds()
	return out, nil
}

// realEffects is the signed real effects of checked nodes.
func realEffects(nodes []NodeScore) []float64 {
	r := make([]float64, len(nodes))
	for i, n := range nodes {
		r[i] = *n.Patched
	}
	return r
}

// patternOf is the hook_pattern that a query or key hook feeds.
func patternOf(h string) (string, bool) {
	var l int
	var rest string
	if n, _ := fmt.Sscanf(h, "blocks.%d.attn.%s", &l, &rest); n != 2 {
		return "", false
	}
	switch rest {
	case "hook_q", "hook_k", "hook_rot_q", "hook_rot_k":
		return fmt.Sprintf("blocks.%d.attn.hook_pattern", l), true
	}
	return "", false
}

// isKey reports whether a QK hook holds keys (whose heads may be shared by
// a group of query heads).
func isKey(h string) bool {
	return strings.HasSuffix(h, "hook_k") || strings.HasSuffix(h, "hook_rot_k")
}

// qkEstimate is the QK-fixed estimate of node n: Σ over its heads' query
// rows and key columns of (A_patched − A_clean) · ∂F/∂A. A key head's
// estimate sums over every query head of its group and every query that
// sees it.
func qkEstimate(n NodeScore, patched []float32, clean engine.Array, grad []float32, d arch.Dims) float64 {
	heads := clean.Shape[1]
	per := len(clean.Data) / heads // [q, k] of one head at batch 1
	group := 1
	if isKey(n.Hook) {
		group = heads / d.KVHeads
	}
	var s float64
	for h := n.Index * group; h < (n.Index+1)*group; h++ {
		for i := h * per; i < (h+1)*per; i++ {
			s += float64(patched[i]-clean.Data[i]) * float64(grad[i])
		}
	}
	return s
}

// gradDrop sets each node's GradDrop score from one batched backward pass
// whose row l cuts layer l's residual contribution from the gradient.
func gradDrop(m *engine.Model, clean []int32, t Target, out *AtPResult, hooks []string, qk map[string]string, patched map[string][]float32,
	cr, xr *engine.Result, sels map[string]nodeAxis, ivs []engine.Intervention) error {
	layers := m.Dims().Layers
	rows := make([][]int32, layers)
	for i := range rows {
		rows[i] = clean
	}
	ivs = slices.Clone(ivs)
	for l := range layers {
		mask := make([]float32, layers)
		mask[l] = 1
		for _, h := range []string{"attn_out", "mlp_out"} {
			ivs = append(ivs, engine.Intervention{Hook: fmt.Sprintf("blocks.%d.hook_%s", l, h), Key: fmt.Sprintf("graddrop:%d/%d", l, layers), Fn: func(x *Node) *Node {
				dims := x.Shape().Dimensions
				mk := BroadcastToDims(Reshape(Const(x.Graph(), mask), append([]int{layers}, ones(len(dims)-1)...)...), dims...)
				// The value is x in every row; row l's gradient sees none of it.
				return Add(Mul(mk, StopGradient(x)), Mul(OneMinus(mk), x))
			}})
		}
	}
	gr, err := m.Run(engine.Request{IDs: rows, Hooks: hooks, Grad: t.gradTarget(clean), Interventions: ivs, NoLogits: true})
	if err != nil {
		return err
	}
	for i, n := range out.Nodes {
		var s float64
		for l := range layers {
			if p, ok := qk[n.Hook]; ok {
				g := gr.Grads[p].Data
				per := len(g) / layers
				s += math.Abs(qkEstimate(n, patched[n.Hook], cr.Acts[p], g[l*per:(l+1)*per], m.Dims()))
				continue
			}
			g := gr.Grads[n.Hook].Data
			per := len(g) / layers
			s += math.Abs(sels[n.Hook].dotOne(n.Index, xr.Acts[n.Hook].Data, cr.Acts[n.Hook].Data, g[l*per:(l+1)*per]))
		}
		s /= float64(max(layers-1, 1))
		out.Nodes[i].GradDrop = &s
	}
	return nil
}

// nodeAxis is how a hook's elements group into nodes: element i of the
// batch-1 hook belongs to node (i/inner) % n.
type nodeAxis struct{ axis, n, inner int }

func nodeAxisOf(op, hook string, shape []int, pos bool) (nodeAxis, error) {
	axis := 1
	if !pos {
		var err error
		if axis, err = unitAxis(op, hook, shape); err != nil {
			return nodeAxis{}, err
		}
	}
	return axisAt(shape, axis), nil
}

func axisAt(shape []int, axis int) nodeAxis {
	inner := 1
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	return nodeAxis{axis, shape[axis], inner}
}

// dot is Σ (x − c)ᵢ gᵢ per node.
func (a nodeAxis) dot(x, c, g []float32) []float64 {
	est := make([]float64, a.n)
	for i := range c {
		est[(i/a.inner)%a.n] += float64(x[i]-c[i]) * float64(g[i])
	}
	return est
}

// dotOne is dot's entry for one node.
func (a nodeAxis) dotOne(node int, x, c, g []float32) float64 {
	var s float64
	for i := range c {
		if (i/a.inner)%a.n == node {
			s += float64(x[i]-c[i]) * float64(g[i])
		}
	}
	return s
}

// unitAxis is the axis of a hook's units: 2 for [batch, pos, head, d_head],
// the last for [batch, pos, unit].
func unitAxis(op, hook string, shape []int) (int, error) {
	if n := len(shape); n == 3 || n == 4 {
		return 2, nil
	}
	return 0, errorf(op, "%s has shape %v: nodes are the units of [batch, pos, unit] or the heads of [batch, pos, head, d_head] hooks", hook, shape)
}

// sel picks the elements of a hook patched in one row: node index along
// axis, or every element (index < 0).
type sel struct {
	hook        string
	axis, index int
}

// patchRun runs the clean prompt once per row, batched, with each row's
// selections taken from the corrupt run xr, after ivs; it reads the hooks
// read (and the logits unless noLogits).
func patchRun(m *engine.Model, clean []int32, rows [][]sel, xr *engine.Result, ivs []engine.Intervention, read []string, noLogits bool) (*engine.Result, error) {
	ids := make([][]int32, len(rows))
	for i := range ids {
		ids[i] = clean
	}
	var hooks []string
	for _, row := range rows {
		for _, s := range row {
			if !slices.Contains(hooks, s.hook) {
				hooks = append(hooks, s.hook)
			}
		}
	}
	ivs = slices.Clone(ivs)
	for _, h := range hooks {
		shape := xr.Acts[h].Shape
		size := len(xr.Acts[h].Data)
		mask := make([]float32, len(rows)*size) // 1 where row r patches element i
		for r, row := range rows {
			for _, s := range row {
				if s.hook != h {
					continue
				}
				a := axisAt(shape, s.axis)
				for i := range size {
					if s.index < 0 || (i/a.inner)%a.n == s.index {
						mask[r*size+i] = 1
					}
				}
			}
		}
		// The corrupt values and the mask are graph inputs: one compiled
		// graph serves every prompt and node set of these shapes.
		ivs = append(ivs, engine.Intervention{Hook: h, Key: "patch",
			Inputs: []engine.Array{{Shape: append([]int{len(rows)}, shape[1:]...), Data: mask}, xr.Acts[h]},
			FnIn: func(x *Node, in []*Node) *Node {
				cx := BroadcastToDims(in[1], x.Shape().Dimensions...)
				return Add(x, Mul(in[0], Sub(cx, x)))
			}})
	}
	return m.Run(engine.Request{IDs: ids, Interventions: ivs, Hooks: read, NoLogits: noLogits})
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
