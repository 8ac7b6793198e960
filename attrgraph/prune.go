package attrgraph

import (
	"cmp"
	"math"
	"slices"
)

// maxIter bounds the influence iteration: the graph is acyclic (every
// edge goes down in depth), so Aᵏ vanishes after at most 2·layers+2 steps.
const maxIter = 1000

// rowScales are 1/Σ|row| per row: |A|'s row normalisation (circuit-tracer's
// normalize_matrix, whose clamp at 1e-10 keeps empty rows empty), applied
// on the fly so the rows are not copied.
func rowScales(rows [][]float32) []float64 {
	inv := make([]float64, len(rows))
	for r, row := range rows {
		var s float64
		for _, v := range row {
			s += math.Abs(float64(v))
		}
		inv[r] = 1 / max(s, 1e-10)
	}
	return inv
}

// normRows is |A| with each row scaled to sum 1.
func normRows(rows [][]float32) [][]float32 {
	inv := rowScales(rows)
	out := make([][]float32, len(rows))
	for r, row := range rows {
		n := make([]float32, len(row))
		for j, v := range row {
			n[j] = float32(math.Abs(float64(v)) * inv[r])
		}
		out[r] = n
	}
	return out
}

// influence is Σₖ≥₁ w·Aᵏ over the columns for a row-only matrix A whose
// row r, |rows[r]|·inv[r], is node rowNode[r]'s incoming edges; prod0 are
// the weights of the rows. It is w((I − A)⁻¹ − I) without forming A or
// inverting it.
func influence(rows [][]float32, inv []float64, rowNode []int, prod0 []float64, ncols int) []float64 {
	infl := make([]float64, ncols)
	prod := slices.Clone(prod0)
	cur := make([]float64, ncols)
	for range maxIter {
		clear(cur)
		any := false
		for r, row := range rows {
			w := prod[r] * inv[r]
			if w == 0 {
				continue
			}
			for j, v := range row {
				if v != 0 {
					cur[j] += w * math.Abs(float64(v))
				}
			}
			any = true
		}
		if !any {
			return infl
		}
		for j, v := range cur {
			infl[j] += v
		}
		for r, n := range rowNode {
			prod[r] = 0
			if n >= 0 && n < ncols {
				prod[r] = cur[n]
			}
		}
	}
	panic("attrgraph: influence did not converge: the graph has a cycle")
}

// partialInfluence is the influence of every column through the rows
// computed so far (circuit-tracer's compute_partial_influences); rowCol is
// each row's node as a column, -1 for the logits, which come first.
func partialInfluence(rows [][]float32, rowCol []int, probs []float64) []float64 {
	prod := make([]float64, len(rows))
	copy(prod, probs)
	return influence(rows, rowScales(rows), rowCol, prod, len(rows[0]))
}

// threshold is circuit-tracer's find_threshold without the sort: the
// score s such that, with the scores in decreasing order, s is the first
// whose cumulative sum reaches frac of the total. Zero scores (absent
// edges) are left out. It selects in place (quickselect on sums), so its
// cost is linear in len(scores) and scores is reordered.
func threshold(scores []float32, frac float64) float32 {
	var total float64
	for _, s := range scores {
		total += float64(s)
	}
	if len(scores) == 0 || total == 0 {
		return 0
	}
	need := frac * total
	a := scores
	seed := uint64(len(a))*0x9e3779b97f4a7c15 + 1
	for {
		if len(a) == 1 {
			return a[0]
		}
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		pivot := a[seed%uint64(len(a))]
		// Three-way partition: > pivot, == pivot, < pivot.
		lt, i, gt := 0, 0, len(a)
		for i < gt {
			switch {
			case a[i] > pivot:
				a[lt], a[i] = a[i], a[lt]
				lt++
				i++
			case a[i] < pivot:
				gt--
				a[gt], a[i] = a[i], a[gt]
			default:
				i++
			}
		}
		var above float64
		for _, s := range a[:lt] {
			above += float64(s)
		}
		eq := float64(pivot) * float64(gt-lt)
		switch {
		case above >= need && lt > 0:
			a = a[:lt]
		case above+eq >= need || gt == len(a):
			return pivot
		default:
			need -= above + eq
			a = a[gt:]
		}
	}
}

// Pruned is a graph after circuit-tracer's prune_graph: which nodes and
// edges to keep, and every node's influence and cumulative score.
type Pruned struct {
	NodeMask   []bool
	EdgeMask   [][]bool // per row, per column
	EdgeScore  [][]float32
	Influence  []float64
	Cumulative []float64
	// Replacement and Completeness are circuit-tracer's
	// compute_graph_scores of the unpruned graph.
	Replacement, Completeness float64
	Edges                     int // non-zero edges before pruning
}

// Prune keeps the nodes holding nodeThr of the influence on the logits
// (embeddings and logits always), then the edges holding edgeThr of the
// edge scores, then drops features and errors left without outgoing
// edges and features left without incoming ones, until nothing changes.
func (g *Graph) Prune(nodeThr, edgeThr float64) *Pruned {
	N, nc := len(g.Nodes), g.NCols()
	w := make([]float64, len(g.Rows)) // row weights: the logits' probabilities
	for r, n := range g.RowNode {
		if n >= nc {
			w[r] = g.Probs[n-nc]
		}
	}
	rowOf := func(rowNode []int) []int {
		out := slices.Clone(rowNode)
		for r, n := range out {
			if n >= nc {
				out[r] = -1
			}
		}
		return out
	}(g.RowNode)
	norm := normRows(g.Rows)
	inflCols := influence(g.Rows, rowScales(g.Rows), rowOf, w, nc)
	nodeInfl := make([]float64, N)
	copy(nodeInfl, inflCols)
	p := &Pruned{Influence: nodeInfl}
	for _, row := range g.Rows {
		for _, v := range row {
			if v != 0 {
				p.Edges++
			}
		}
	}
	p.Replacement, p.Completeness = g.scores(norm, nodeInfl)

	// Nodes: influence is only over the nodes (not edges), so a sort is
	// cheap here; it also gives the cumulative scores.
	sorted := make([]float32, N)
	for i, v := range nodeInfl {
		sorted[i] = float32(v)
	}
	thr := float64(threshold(slices.Clone(sorted), nodeThr))
	keep := make([]bool, N)
	for i, v := range nodeInfl {
		keep[i] = float64(float32(v)) >= thr
	}
	for i := g.NFeat + g.NErr; i < N; i++ {
		keep[i] = true // embeddings and logits
	}
	// The pruned matrix: rows and columns of dropped nodes zeroed.
	pruned := make([][]float32, len(g.Rows))
	for r, row := range g.Rows {
		pr := make([]float32, nc)
		if keep[g.RowNode[r]] {
			for j, v := range row {
				if keep[j] {
					pr[j] = v
				}
			}
		}
		pruned[r] = pr
	}
	pnorm := normRows(pruned)
	pinfl := influence(pruned, rowScales(pruned), rowOf, w, nc)
	p.EdgeScore = make([][]float32, len(pruned))
	var all []float32
	for r, row := range pnorm {
		n := g.RowNode[r]
		f := w[r]
		if n < nc {
			f += pinfl[n]
		}
		es := make([]float32, nc)
		for j, v := range row {
			if v != 0 {
				es[j] = float32(float64(v) * f)
				if es[j] != 0 {
					all = append(all, es[j])
				}
			}
		}
		p.EdgeScore[r] = es
	}
	ethr := threshold(all, edgeThr)
	p.EdgeMask = make([][]bool, len(pruned))
	for r, es := range p.EdgeScore {
		m := make([]bool, nc)
		for j, s := range es {
			m[j] = s != 0 && s >= ethr
		}
		p.EdgeMask[r] = m
	}
	// Features and errors need an outgoing edge; features an incoming one.
	rowIdx := make([]int, N)
	for i := range rowIdx {
		rowIdx[i] = -1
	}
	for r, n := range g.RowNode {
		rowIdx[n] = r
	}
	for {
		out := make([]bool, nc)
		for _, m := range p.EdgeMask {
			for j, k := range m {
				if k {
					out[j] = true
				}
			}
		}
		changed := false
		for i := 0; i < g.NFeat+g.NErr; i++ {
			k := keep[i] && out[i]
			if i < g.NFeat {
				in := false
				if r := rowIdx[i]; r >= 0 {
					in = slices.Contains(p.EdgeMask[r], true)
				}
				k = k && in
			}
			if k != keep[i] {
				keep[i], changed = k, true
			}
		}
		if !changed {
			break
		}
		for r, m := range p.EdgeMask {
			dropRow := !keep[g.RowNode[r]]
			for j := range m {
				if dropRow || !keep[j] {
					m[j] = false
				}
			}
		}
	}
	p.NodeMask = keep
	// Cumulative scores: the share of the total held by nodes at least as
	// influential.
	idx := make([]int, N)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(nodeInfl[b], nodeInfl[a]) })
	var total, cum float64
	for _, v := range nodeInfl {
		total += v
	}
	p.Cumulative = make([]float64, N)
	for _, i := range idx {
		cum += nodeInfl[i]
		if total > 0 {
			p.Cumulative[i] = cum / total
		}
	}
	return p
}

// scores are circuit-tracer's replacement score (the share of the
// embeddings' and errors' influence held by the embeddings) and
// completeness score (the influence-weighted share of incoming edges that
// do not come from errors).
func (g *Graph) scores(norm [][]float32, infl []float64) (float64, float64) {
	var tok, errI float64
	for i := g.NFeat; i < g.NFeat+g.NErr; i++ {
		errI += infl[i]
	}
	for i := g.NFeat + g.NErr; i < g.NCols(); i++ {
		tok += infl[i]
	}
	nc := g.NCols()
	var num, den float64
	rowIdx := map[int]int{}
	for r, n := range g.RowNode {
		rowIdx[n] = r
	}
	for i := range g.Nodes {
		out := infl[i]
		if i >= nc {
			out = g.Probs[i-nc]
		}
		nonErr := 1.0
		if r, ok := rowIdx[i]; ok {
			for j := g.NFeat; j < g.NFeat+g.NErr; j++ {
				nonErr -= float64(norm[r][j])
			}
		}
		num += nonErr * out
		den += out
	}
	rep := 0.0
	if tok+errI > 0 {
		rep = tok / (tok + errI)
	}
	if den == 0 {
		return rep, 0
	}
	return rep, num / den
}
