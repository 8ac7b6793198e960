package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/attrgraph"
)

func init() {
	Register(&Command{Name: "attribute graph", Summary: "neuron attribution graph of the next-token logits (circuit-tracer's, on neurons), pruned; JSON for glia serve's graph page", Run: runAttrGraph})
}

func runAttrGraph(args []string) error {
	fs := newFlags("attribute graph")
	var f attrFlags
	f.mf.register(fs)
	f.prompt = fs.String("prompt", "", "text (encoded with the model's tokenizer, BOS added)")
	f.ids = fs.String("ids", "", `token ids "3 17 42" (instead of --prompt)`)
	f.top = fs.Int("top", 15, "how many nodes to print")
	f.asJSON = fs.Bool("json", false, "print the graph as JSON")
	out := fs.String("out", "", "write the graph as JSON to this file (glia serve shows it at /attrgraph)")
	var o attrgraph.Options
	fs.IntVar(&o.PerSite, "per-site", 16, "candidate neurons per (layer, position): the top by |activation|·‖W_out row‖; the rest is the site's error node")
	fs.IntVar(&o.MaxNodes, "max-nodes", 200, "neurons (and heads) whose incoming edges are computed, chosen by influence as circuit-tracer does")
	fs.BoolVar(&o.Heads, "heads", false, "attention heads as nodes too (always for attention-only models)")
	fs.Float64Var(&o.NodeThreshold, "node-threshold", 0.8, "keep the nodes holding this share of the influence on the logits")
	fs.Float64Var(&o.EdgeThreshold, "edge-threshold", 0.98, "then the edges holding this share of the edge scores")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *f.prompt != "" && *f.ids != "":
		return usagef("give --prompt or --ids, not both")
	case *f.prompt == "" && *f.ids == "":
		return usagef(`missing the input: give --prompt TEXT or --ids "1 2 3"`)
	case o.NodeThreshold <= 0 || o.NodeThreshold > 1 || o.EdgeThreshold <= 0 || o.EdgeThreshold > 1:
		return usagef("--node-threshold and --edge-threshold are shares in (0, 1]")
	}
	m, err := f.mf.load()
	if err != nil {
		return err
	}
	ids, err := f.readPrompt(m, *f.prompt, *f.ids, "")
	if err != nil {
		return err
	}
	g, err := attrgraph.Attribute(m, ids, o)
	if err != nil {
		return err
	}
	if *out != "" {
		b, err := json.Marshal(g)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			return err
		}
	}
	if *f.asJSON {
		return printJSON(g)
	}
	printAttrGraph(g, *f.top)
	if *out != "" {
		fmt.Fprintf(Stdout, "wrote %s\n", *out)
	}
	return nil
}

func printAttrGraph(g *api.AttrGraph, top int) {
	s := g.Stats
	fmt.Fprintf(Stdout, "%s: %d tokens; targets:", g.Model, len(g.Tokens))
	for _, l := range g.Logits {
		fmt.Fprintf(Stdout, " %q %.3f", l.Token.Text, l.Prob)
	}
	fmt.Fprintf(Stdout, "\ncandidates %d, selected %d, nodes %d, edges %d → kept %d nodes, %d edges (%.1fs)\n",
		s.Candidates, s.Selected, s.Nodes, s.Edges, s.KeptNodes, s.KeptEdges, s.Seconds)
	fmt.Fprintf(Stdout, "completeness error %.2g; replacement score %.3f, completeness score %.3f\n", s.MaxCompleteness, s.Replacement, s.Completeness)
	nodes := slices.Clone(g.Nodes)
	slices.SortStableFunc(nodes, func(a, b api.AttrGraphNode) int { return cmp.Compare(b.Influence, a.Influence) })
	fmt.Fprintf(Stdout, "\n%-18s %-9s %10s %10s\n", "node", "kind", "influence", "activation")
	for _, n := range nodes[:min(top, len(nodes))] {
		if n.Kind == "logit" {
			continue
		}
		fmt.Fprintf(Stdout, "%-18s %-9s %10.4f %+10.4f\n", n.ID, n.Kind, n.Influence, n.Activation)
	}
	edges := slices.Clone(g.Edges)
	slices.SortStableFunc(edges, func(a, b api.AttrGraphEdge) int { return cmp.Compare(math.Abs(b.Weight), math.Abs(a.Weight)) })
	fmt.Fprintf(Stdout, "\n%-18s %-18s %10s\n", "source", "target", "weight")
	for _, e := range edges[:min(top, len(edges))] {
		fmt.Fprintf(Stdout, "%-18s %-18s %+10.4f\n", g.Nodes[e.Source].ID, g.Nodes[e.Target].ID, e.Weight)
	}
	heads := 0
	for _, n := range nodes {
		if n.Keys == nil || heads == top {
			continue
		}
		if heads == 0 {
			fmt.Fprintf(Stdout, "\nQK side (a head's top score on its key, split over the key's residual):\n")
		}
		heads++
		fmt.Fprintf(Stdout, "%-18s key %d score %+.3f:", n.ID, n.Keys.KeyPos, n.Keys.Score)
		for _, k := range n.Keys.Top[:min(4, len(n.Keys.Top))] {
			fmt.Fprintf(Stdout, " %s %+.3f", k.Source, k.Weight)
		}
		fmt.Fprintln(Stdout)
	}
	for _, n := range g.Notes {
		fmt.Fprintf(Stdout, "note: %s\n", n)
	}
}
