package attrgraph

import (
	"fmt"
	"time"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/engine"
)

// Attribute builds and prunes the graph of ids' next-token logits and
// returns what glia attribute graph and the server show.
func Attribute(m *engine.Model, ids []int32, o Options) (*api.AttrGraph, error) {
	start := time.Now()
	g, err := Build(m, ids, o)
	if err != nil {
		return nil, err
	}
	o = o.withDefaults(m.Dims().DModel, len(ids))
	p := g.Prune(o.NodeThreshold, o.EdgeThreshold)
	out := g.Wire(m, p)
	out.Stats.Seconds = time.Since(start).Seconds()
	return out, nil
}

// ID names a node for people: L3N17@5 (neuron), L1H2@5 (head), E3@5
// (error), emb@5, logit:"text".
func (n Node) ID(m *engine.Model) string {
	switch n.Kind {
	case Neuron:
		return fmt.Sprintf("L%dN%d@%d", n.Layer, n.Index, n.Pos)
	case Head:
		return fmt.Sprintf("L%dH%d@%d", n.Layer, n.Index, n.Pos)
	case ErrorNode:
		return fmt.Sprintf("E%d@%d", n.Layer, n.Pos)
	case Embedding:
		return fmt.Sprintf("emb@%d", n.Pos)
	}
	return fmt.Sprintf("logit:%q", m.TokenText(int32(n.Index)))
}

// Wire is the pruned graph as JSON: kept nodes, kept edges between them.
func (g *Graph) Wire(m *engine.Model, p *Pruned) *api.AttrGraph {
	out := &api.AttrGraph{Model: m.Name, Layers: m.Dims().Layers,
		Frozen: []string{"attention patterns", "norm scales (ln1, ln2, ln_final)"}}
	if g.Heads {
		out.Notes = append(out.Notes, "heads are nodes: the backward pass does not run through attention, a path through a head goes through its node")
	}
	for _, id := range g.Tokens {
		out.Tokens = append(out.Tokens, api.Token{ID: id, Text: m.TokenText(id)})
	}
	rowOf := map[int]int{}
	for r, n := range g.RowNode {
		rowOf[n] = r
	}
	index := make([]int, len(g.Nodes))
	for i, n := range g.Nodes {
		index[i] = -1
		if n.Kind == LogitNode {
			out.Logits = append(out.Logits, api.AttrGraphLogit{Token: api.Token{ID: int32(n.Index), Text: m.TokenText(int32(n.Index))}, Prob: n.Activation})
		}
		if !p.NodeMask[i] {
			continue
		}
		w := api.AttrGraphNode{ID: n.ID(m), Kind: string(n.Kind), Layer: n.Layer, Pos: n.Pos, Index: n.Index,
			Activation: n.Activation, Influence: p.Influence[i], Cumulative: p.Cumulative[i]}
		if r, ok := rowOf[i]; ok {
			w.Value, w.Bias = n.Value, g.Bias[r]
		}
		if k := n.Keys; k != nil {
			w.Keys = &api.AttrGraphKeys{KeyPos: k.KeyPos, Score: k.Score, Bias: k.Bias, Rest: k.Rest}
			for _, e := range k.Top {
				w.Keys.Top = append(w.Keys.Top, api.AttrGraphKey{Source: e.Source.ID(m), Weight: e.Weight})
			}
		}
		index[i] = len(out.Nodes)
		out.Nodes = append(out.Nodes, w)
	}
	for r, row := range g.Rows {
		t := index[g.RowNode[r]]
		if t < 0 {
			continue
		}
		for j, v := range row {
			if p.EdgeMask[r][j] && index[j] >= 0 {
				out.Edges = append(out.Edges, api.AttrGraphEdge{Source: index[j], Target: t, Weight: float64(v), Score: float64(p.EdgeScore[r][j])})
			}
		}
	}
	out.Stats = api.AttrGraphStats{Candidates: g.Cands, Selected: g.NFeat, Nodes: len(g.Nodes), Edges: p.Edges,
		KeptNodes: len(out.Nodes), KeptEdges: len(out.Edges), MaxCompleteness: g.Completeness(),
		Replacement: p.Replacement, Completeness: p.Completeness}
	if g.Heads {
		out.Frozen = append(out.Frozen, "head outputs' directions (a head node is its output's norm)")
	}
	if g.Gated {
		out.Frozen = append(out.Frozen, "gated MLPs' act(gate): a neuron's value is act(gate)·up")
	}
	return out
}
