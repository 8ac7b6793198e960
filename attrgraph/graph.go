package attrgraph

import (
	"cmp"
	"math"
	"slices"

	"github.com/glia-dev/glia/engine"
)

// Options are a graph's sizes and thresholds; zero values take the
// defaults.
type Options struct {
	PerSite       int     // candidate neurons per (layer, position): 16
	MaxNodes      int     // candidates whose incoming edges are computed: 200
	Heads         bool    // attention heads as nodes (forced for attention-only models)
	MaxLogits     int     // 10
	LogitProb     float64 // 0.95
	Batch         int     // rows per backward pass: sized to the prompt
	UpdateEvery   int     // batches between influence re-rankings: 4 (circuit-tracer's update_interval)
	NodeThreshold float64 // 0.8
	EdgeThreshold float64 // 0.98
}

func (o Options) withDefaults(dm, T int) Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.PerSite, 16)
	def(&o.MaxNodes, 200)
	def(&o.MaxLogits, 10)
	def(&o.UpdateEvery, 4)
	// Each backward pass holds a few [batch, T, d_model] arrays: 8M floats
	// (32 MB) apiece at most.
	def(&o.Batch, min(64, max(1, (8<<20)/(T*dm))))
	if o.LogitProb <= 0 {
		o.LogitProb = 0.95
	}
	if o.NodeThreshold <= 0 {
		o.NodeThreshold = 0.8
	}
	if o.EdgeThreshold <= 0 {
		o.EdgeThreshold = 0.98
	}
	return o
}

// Node is a node of the unpruned graph.
type Node struct {
	Kind       Kind
	Layer, Pos int
	Index      int     // neuron, head, token id (embedding, logit); -1 for errors
	Activation float64 // neuron: hook_post; head: ‖output‖; logit: probability
	Value      float64 // what its row adds up to with its bias
	Keys       *Keys   // heads: the QK side of its largest attention score
}

// Graph is an unpruned attribution graph. Nodes are the selected neurons
// and heads, then one error per (layer, position), one embedding per
// position, then the logits. Only selected nodes and logits have rows
// (incoming edges); a row's columns are the nodes before the logits.
type Graph struct {
	Tokens  []int32
	Nodes   []Node
	Rows    [][]float32 // Rows[r][j]: direct effect of node j on node RowNode[r]
	RowNode []int
	Bias    []float64 // per row: the constant terms
	Probs   []float64 // per logit: its probability (weight in the influence)
	NLogits int
	NFeat   int // selected neurons and heads: nodes [0, NFeat)
	NErr    int // errors: nodes [NFeat, NFeat+NErr), then embeddings
	Cands   int
	Heads   bool
	Gated   bool
}

// NCols is the row width: every node but the logits.
func (g *Graph) NCols() int { return len(g.Nodes) - g.NLogits }

// Build builds the attribution graph of the next-token logits after ids.
func Build(m *engine.Model, ids []int32, o Options) (*Graph, error) {
	if len(ids) == 0 {
		return nil, errorf("build", "empty prompt")
	}
	f, err := loadFrozen(m)
	if err != nil {
		return nil, err
	}
	if !f.hasMLP() {
		o.Heads = true // attention-only: heads are the only units
	}
	o = o.withDefaults(f.dm, len(ids))
	c, err := capture(m, f, ids, o)
	if err != nil {
		return nil, err
	}
	b := newBuilder(f, c, o.Heads)
	T := len(ids)

	// Targets (circuit-tracer's salient logits): the most probable tokens
	// until 0.95 cumulative probability, at most 10, each read through its
	// unembedding row minus the mean row.
	probs := engine.Probs(c.logits)
	order := make([]int, len(probs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(probs[b], probs[a]) })
	order = order[:min(o.MaxLogits, len(order))]
	var cum float64
	for k, tok := range order {
		cum += probs[tok]
		if cum >= o.LogitProb {
			order = order[:k+1]
			break
		}
	}
	mean := make([]float64, f.dm)
	for v := range f.vocab {
		for i, x := range f.wu[v*f.dm : (v+1)*f.dm] {
			mean[i] += float64(x)
		}
	}
	var ts []target
	var meanLogit float64
	for _, x := range c.logits {
		meanLogit += float64(x)
	}
	meanLogit /= float64(len(c.logits))
	g := &Graph{Tokens: slices.Clone(ids), Heads: o.Heads, Gated: f.gated, NLogits: len(order)}
	var logitNodes []Node
	for k, tok := range order {
		u := make([]float32, f.dm)
		for i := range u {
			u[i] = f.wu[tok*f.dm+i] - float32(mean[i]/float64(f.vocab))
		}
		ts = append(ts, target{kind: LogitNode, l: f.L, p: T - 1, i: k, u: u})
		g.Probs = append(g.Probs, probs[tok])
		logitNodes = append(logitNodes, Node{Kind: LogitNode, Layer: f.L, Pos: T - 1, Index: tok, Activation: probs[tok],
			Value: float64(c.logits[tok]) - meanLogit})
	}

	f.wu = nil // the targets are read: 154 MB for GPT-2's vocabulary

	// Candidates: neurons, then heads (column order).
	var cands []target
	for ci, cd := range c.cands {
		cands = append(cands, target{kind: Neuron, l: int(cd.l), p: int(cd.p), i: ci})
	}
	if o.Heads {
		for l := range f.L {
			for p := range T {
				for h := range f.H {
					cands = append(cands, target{kind: Head, l: l, p: p, i: h})
				}
			}
		}
	}
	g.Cands = len(cands)
	col := func(t target) int {
		if t.kind == Head {
			return b.headCol(t.l, t.p, t.i)
		}
		return t.i
	}

	var rows [][]float32
	var bias []float64
	var rowCol []int // the row's node as a column, -1 for logits
	run := func(ts []target) {
		for s := 0; s < len(ts); s += o.Batch {
			batch := ts[s:min(len(ts), s+o.Batch)]
			r, k := b.backward(batch)
			rows, bias = append(rows, r...), append(bias, k...)
			for _, t := range batch {
				if t.kind == LogitNode {
					rowCol = append(rowCol, -1)
				} else {
					rowCol = append(rowCol, col(t))
				}
			}
		}
	}
	run(ts)
	visited := make([]bool, len(cands))
	nVisited := 0
	maxNodes := min(o.MaxNodes, len(cands))
	for nVisited < maxNodes {
		var pending []int
		if maxNodes == len(cands) {
			for i := range cands {
				pending = append(pending, i)
			}
		} else {
			infl := partialInfluence(rows, rowCol, g.Probs)
			rank := make([]int, 0, len(cands))
			for i := range cands {
				if !visited[i] {
					rank = append(rank, i)
				}
			}
			slices.SortStableFunc(rank, func(a, b int) int { return cmp.Compare(infl[col(cands[b])], infl[col(cands[a])]) })
			pending = rank[:min(len(rank), o.UpdateEvery*o.Batch, maxNodes-nVisited)]
		}
		// Batches of nearby positions share the shortest prefix.
		slices.SortStableFunc(pending, func(a, b int) int { return cands[a].p - cands[b].p })
		var batch []target
		for _, i := range pending {
			visited[i] = true
			batch = append(batch, cands[i])
		}
		nVisited += len(pending)
		run(batch)
	}

	// Nodes: selected candidates (column order), errors, embeddings, logits.
	newCol := make([]int, b.nCols)
	for i := range newCol {
		newCol[i] = -1
	}
	for i, t := range cands {
		if !visited[i] {
			continue
		}
		n := Node{Kind: t.kind, Layer: t.l, Pos: t.p, Index: t.i}
		if t.kind == Neuron {
			cd := c.cands[t.i]
			n.Index, n.Activation, n.Value = int(cd.n), float64(cd.a), float64(cd.value)
		} else {
			n.Activation = norm32(b.headOut(t.l, t.p, t.i))
			n.Value = n.Activation
			if !f.qkNorm {
				n.Keys = b.keys(t.l, t.p, t.i)
			}
		}
		newCol[col(t)] = len(g.Nodes)
		g.Nodes = append(g.Nodes, n)
	}
	g.NFeat = len(g.Nodes)
	g.NErr = f.L * T
	for l := range f.L {
		for p := range T {
			newCol[b.errCol(l, p)] = len(g.Nodes)
			g.Nodes = append(g.Nodes, Node{Kind: ErrorNode, Layer: l, Pos: p, Index: -1})
		}
	}
	for p := range T {
		newCol[b.embOff+p] = len(g.Nodes)
		g.Nodes = append(g.Nodes, Node{Kind: Embedding, Layer: -1, Pos: p, Index: int(ids[p])})
	}
	// Unselected candidates fold into their site's error node.
	for i, t := range cands {
		if !visited[i] {
			newCol[col(t)] = g.NFeat + t.l*T + t.p
		}
	}
	nLogit0 := len(g.Nodes)
	g.Nodes = append(g.Nodes, logitNodes...)
	ncols := g.NCols()
	for r, row := range rows {
		out := make([]float32, ncols)
		for j, v := range row {
			if v != 0 {
				out[newCol[j]] += v
			}
		}
		rows[r] = nil // the wide row is no longer needed
		g.Rows = append(g.Rows, out)
		if rowCol[r] < 0 {
			g.RowNode = append(g.RowNode, nLogit0+len(g.RowNode))
		} else {
			g.RowNode = append(g.RowNode, newCol[rowCol[r]])
		}
	}
	g.Bias = bias
	return g, nil
}

// Completeness is max over rows |Σ row + bias − value|.
func (g *Graph) Completeness() float64 {
	var worst float64
	for r, row := range g.Rows {
		s := g.Bias[r]
		for _, v := range row {
			s += float64(v)
		}
		worst = max(worst, math.Abs(s-g.Nodes[g.RowNode[r]].Value))
	}
	return worst
}
