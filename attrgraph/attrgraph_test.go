package attrgraph

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/internal/testenv"
	gx "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func fixture(t testing.TB, dir string) *engine.Model { return testenv.Model(t, dir) }

func prompt(m *engine.Model, n int) []int32 { return testenv.Prompt(m, n) }

// cases are the families the frozen model covers: GPT-2 (LayerNorm,
// GELU), Llama with grouped-query heads (RMSNorm, gated MLP), both with
// heads as nodes too, Qwen2 (q/k/v biases), Mistral (sliding window), and
// the attention-only induction model.
var cases = []struct {
	name, dir string
	heads     bool
	n         int
}{
	{"gpt2", "../testdata/hf-tiny/gpt2", false, 7},
	{"llama-gqa", "../testdata/hf-tiny/llama", false, 7},
	{"gpt2-heads", "../testdata/hf-tiny/gpt2", true, 6},
	{"llama-gqa-heads", "../testdata/hf-tiny/llama", true, 6},
	{"qwen2-qkv-bias-heads", "../testdata/hf-tiny/qwen2", true, 6},
	{"mistral", "../testdata/hf-tiny/mistral", false, 6},
	{"induction", "../testdata/trained/induction", false, 9},
}

// TestCompleteness: a node's incoming edges plus its constant term equal
// its value read from the engine's own forward pass (hook_pre, hook_post,
// hook_z, the logits), for every row, with enough rows selected that the
// graph also has unselected candidates folded into errors.
func TestCompleteness(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := fixture(t, tc.dir)
			g, err := Build(m, prompt(m, tc.n), Options{PerSite: 6, MaxNodes: 30, Heads: tc.heads, Batch: 7})
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Rows) != 30+g.NLogits || g.NFeat != 30 || g.Cands <= 30 {
				t.Fatalf("rows %d, selected %d, candidates %d: want 30 selected of more", len(g.Rows), g.NFeat, g.Cands)
			}
			var scale float64
			for _, n := range g.RowNode {
				scale = max(scale, math.Abs(g.Nodes[n].Value))
			}
			if c := g.Completeness(); c > 2e-4*max(1, scale) || math.IsNaN(c) {
				t.Errorf("completeness error %g (values up to %g)", c, scale)
			}
			checkKeys(t, m, prompt(m, tc.n), g)
		})
	}
}

// checkKeys: every head node's key split adds up to its score, and the
// score is the engine's own hook_attn_scores at the head's query and key.
func checkKeys(t *testing.T, m *engine.Model, ids []int32, g *Graph) {
	t.Helper()
	var hooks []string
	for l := range m.Dims().Layers {
		hooks = append(hooks, fmt.Sprintf("blocks.%d.attn.hook_attn_scores", l))
	}
	res, err := m.Run(engine.Request{IDs: [][]int32{ids}, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	T, n := len(ids), 0
	for _, nd := range g.Nodes {
		if nd.Kind != Head {
			continue
		}
		k := nd.Keys
		if k == nil {
			t.Fatalf("head %s has no key split", label(nd))
		}
		n++
		sum := k.Bias + k.Rest
		for _, e := range k.Top {
			sum += e.Weight
		}
		want := float64(res.Acts[hooks[nd.Layer]].Data[(nd.Index*T+nd.Pos)*T+k.KeyPos])
		if math.Abs(sum-k.Score) > 1e-4*max(1, math.Abs(k.Score)) || math.Abs(k.Score-want) > 1e-4*max(1, math.Abs(want)) {
			t.Errorf("head %s on key %d: split %g, score %g, engine %g", label(nd), k.KeyPos, sum, k.Score, want)
		}
	}
	if g.Heads && n == 0 {
		t.Error("heads mode selected no head")
	}
}

// TestEdgesByIntervention re-checks edges as circuit-tracer's tests do:
// the engine runs the prompt with every attention pattern, norm scale and
// MLP activation (and in heads mode every head output) replaced by its
// cached value, so the model is the frozen linear one; removing a source
// node (its activation, head output or embedding set to zero) changes the
// target's value by exactly the edge weight.
func TestEdgesByIntervention(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := fixture(t, tc.dir)
			ids := prompt(m, tc.n)
			g, err := Build(m, ids, Options{PerSite: 6, MaxNodes: 24, Heads: tc.heads})
			if err != nil {
				t.Fatal(err)
			}
			p := g.Prune(0.8, 0.98)
			fr := newFreezer(t, m, ids, g.Heads)
			type edge struct{ r, j int }
			var kept, other []edge
			for r, row := range g.Rows {
				for j, v := range row {
					k := g.Nodes[j].Kind
					if v == 0 || k == ErrorNode {
						continue
					}
					if p.EdgeMask[r][j] {
						kept = append(kept, edge{r, j})
					} else {
						other = append(other, edge{r, j})
					}
				}
			}
			if len(kept) == 0 {
				t.Fatal("no kept edges from a neuron, head or embedding")
			}
			rng := rand.New(rand.NewPCG(1, 2))
			rng.Shuffle(len(kept), func(a, b int) { kept[a], kept[b] = kept[b], kept[a] })
			rng.Shuffle(len(other), func(a, b int) { other[a], other[b] = other[b], other[a] })
			sample := append(kept[:min(8, len(kept))], other[:min(4, len(other))]...)
			for _, e := range sample {
				tgt, src := g.Nodes[g.RowNode[e.r]], g.Nodes[e.j]
				clean := fr.value(t, g, tgt, nil)
				if d := math.Abs(clean - tgt.Value); d > 1e-3*max(1, math.Abs(tgt.Value)) {
					t.Errorf("%v: frozen run reads %g, the graph %g", tgt, clean, tgt.Value)
				}
				got := clean - fr.value(t, g, tgt, &src)
				want := float64(g.Rows[e.r][e.j])
				if d := math.Abs(got - want); d > 2e-4*max(1, math.Abs(tgt.Value)) {
					t.Errorf("edge %s → %s: graph %g, intervention %g", label(src), label(tgt), want, got)
				}
			}
		})
	}
}

func label(n Node) string { return fmt.Sprintf("%s L%d P%d #%d", n.Kind, n.Layer, n.Pos, n.Index) }

// freezer runs the engine with the frozen model's constants in place.
type freezer struct {
	m     *engine.Model
	ids   []int32
	f     *frozen
	acts  map[string]engine.Array
	heads bool
}

func newFreezer(t *testing.T, m *engine.Model, ids []int32, heads bool) *freezer {
	f, err := loadFrozen(m)
	if err != nil {
		t.Fatal(err)
	}
	fr := &freezer{m: m, ids: ids, f: f, heads: heads}
	res, err := m.Run(engine.Request{IDs: [][]int32{ids}, Hooks: fr.frozenHooks()})
	if err != nil {
		t.Fatal(err)
	}
	fr.acts = res.Acts
	return fr
}

// frozenHooks are the hooks held at their cached values.
func (fr *freezer) frozenHooks() []string {
	hs := []string{"ln_final.hook_scale"}
	for l := range fr.f.L {
		b := fmt.Sprintf("blocks.%d.", l)
		hs = append(hs, b+"attn.hook_pattern", b+"ln1.hook_scale")
		if fr.f.hasMLP() {
			hs = append(hs, b+"ln2.hook_scale", b+"mlp.hook_post")
		}
		if fr.heads {
			hs = append(hs, b+"attn.hook_z")
		}
	}
	return hs
}

// value runs the frozen model, with src removed when given, and reads
// tgt's value.
func (fr *freezer) value(t *testing.T, g *Graph, tgt Node, src *Node) float64 {
	t.Helper()
	f := fr.f
	var ivs []engine.Intervention
	for i, h := range fr.frozenHooks() {
		a := fr.acts[h]
		data := slices.Clone(a.Data)
		var live []bool // positions where the run's own value is kept
		if src != nil {
			switch {
			case src.Kind == Neuron && h == fmt.Sprintf("blocks.%d.mlp.hook_post", src.Layer):
				data[src.Pos*f.dmlp+src.Index] = 0
			case src.Kind == Head && h == fmt.Sprintf("blocks.%d.attn.hook_z", src.Layer):
				clear(data[(src.Pos*f.H+src.Index)*f.dh : (src.Pos*f.H+src.Index+1)*f.dh])
			}
		}
		if tgt.Kind == Head && h == fmt.Sprintf("blocks.%d.attn.hook_z", tgt.Layer) {
			live = make([]bool, len(data))
			for j := range f.dh {
				live[(tgt.Pos*f.H+tgt.Index)*f.dh+j] = true
			}
		}
		ivs = append(ivs, engine.Intervention{Hook: h, Key: fmt.Sprintf("freeze%d:%v:%v:%d", i, src, tgt, len(fr.ids)), Fn: func(x *gx.Node) *gx.Node {
			c := gx.ConstTensor(x.Graph(), tensors.FromFlatDataAndDimensions(data, a.Shape...))
			if live == nil {
				return c
			}
			return gx.Where(gx.ConstTensor(x.Graph(), tensors.FromFlatDataAndDimensions(live, a.Shape...)), x, c)
		}})
	}
	if src != nil && src.Kind == Embedding {
		for _, h := range []string{"hook_embed", "hook_pos_embed"} {
			if h == "hook_pos_embed" && !f.hasPosEmbed {
				continue
			}
			ivs = append(ivs, engine.Intervention{Hook: h, Key: fmt.Sprintf("zero-%s-%d", h, src.Pos), Fn: func(x *gx.Node) *gx.Node {
				d := x.Shape().Dimensions
				mask := make([]bool, d[0]*d[1]*d[2])
				for j := range d[2] {
					mask[src.Pos*d[2]+j] = true
				}
				return gx.Where(gx.ConstTensor(x.Graph(), tensors.FromFlatDataAndDimensions(mask, d...)), gx.ZerosLike(x), x)
			}})
		}
	}
	b := fmt.Sprintf("blocks.%d.", tgt.Layer)
	var hooks []string
	switch tgt.Kind {
	case Neuron:
		hooks = []string{b + "mlp.hook_pre"}
		if f.gated {
			hooks = append(hooks, b+"mlp.hook_pre_linear")
		}
	case Head:
		hooks = []string{b + "attn.hook_z"}
	}
	res, err := fr.m.Run(engine.Request{IDs: [][]int32{fr.ids}, Hooks: hooks, Interventions: ivs})
	if err != nil {
		t.Fatal(err)
	}
	T := len(fr.ids)
	switch tgt.Kind {
	case Neuron:
		i := tgt.Pos*f.dmlp + tgt.Index
		if !f.gated {
			return float64(res.Acts[b+"mlp.hook_pre"].Data[i])
		}
		// act(gate) is frozen: the clean run's post / up.
		clean := fr.acts[b+"mlp.hook_post"].Data[i]
		up0, _ := fr.m.Run(engine.Request{IDs: [][]int32{fr.ids}, Hooks: []string{b + "mlp.hook_pre_linear"}})
		factor := float64(clean) / float64(up0.Acts[b+"mlp.hook_pre_linear"].Data[i])
		return factor * float64(res.Acts[b+"mlp.hook_pre_linear"].Data[i])
	case Head:
		// ‖o‖ along the clean output's direction.
		z := res.Acts[b+"attn.hook_z"].Data
		z0 := fr.acts[b+"attn.hook_z"].Data
		o := headOutput(f, tgt.Layer, tgt.Index, z[(tgt.Pos*f.H+tgt.Index)*f.dh:])
		u := headOutput(f, tgt.Layer, tgt.Index, z0[(tgt.Pos*f.H+tgt.Index)*f.dh:])
		return dot32(o, u) / norm32(u)
	case LogitNode:
		row := res.Logits.Data[(T-1)*f.vocab : T*f.vocab]
		var mean float64
		for _, v := range row {
			mean += float64(v)
		}
		return float64(row[tgt.Index]) - mean/float64(f.vocab)
	}
	t.Fatalf("no value for %v", tgt)
	return 0
}

// headOutput is z_h·W_O_h, computed independently of builder.headOut.
func headOutput(f *frozen, l, h int, z []float32) []float32 {
	hd := f.H * f.dh
	o := make([]float32, f.dm)
	for k := range f.dm {
		var s float64
		for j := range f.dh {
			w := f.layers[l].wo[k*hd+h*f.dh+j]
			if f.woT {
				w = f.layers[l].wo[(h*f.dh+j)*f.dm+k]
			}
			s += float64(z[j]) * float64(w)
		}
		o[k] = float32(s)
	}
	return o
}

// TestInductionKnownAnswer: on a sequence of the induction model's
// training distribution the graph's one target is the repeated token; its
// most influential nodes are the token right after the earlier occurrence
// of the current token and the layer-1 (induction) heads at the last
// position, joined by kept edges.
func TestInductionKnownAnswer(t *testing.T) {
	m := fixture(t, "../testdata/trained/induction")
	ids := []int32{0, 166, 486, 78, 203, 334, 25, 38, 421, 275, 49, 188, 299, 30, 466, 260, 110, 20, 45,
		334, 25, 38, 421, 275, 49, 188, 299, 30, 466, 260, 110, 20}
	last := len(ids) - 1
	g, err := Attribute(m, ids, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Logits) != 1 || g.Logits[0].Token.ID != 45 || g.Logits[0].Prob < 0.9 {
		t.Fatalf("targets %+v, want token 45 (the repeat) above 0.9", g.Logits)
	}
	nodes := slices.Clone(g.Nodes)
	slices.SortFunc(nodes, func(a, b api.AttrGraphNode) int { return cmp.Compare(b.Influence, a.Influence) })
	if n := nodes[0]; n.Kind != "embedding" || n.Pos != 18 {
		t.Errorf("most influential node %s, want emb@18 (the token after the first 20)", n.ID)
	}
	heads := map[string]bool{}
	for _, n := range nodes[1:5] {
		if n.Kind != "head" || n.Layer != 1 || n.Pos != last {
			t.Errorf("node %s among the top five: want layer-1 heads at position %d", n.ID, last)
		}
		heads[n.ID] = true
	}
	into := map[string]bool{}
	for _, e := range g.Edges {
		s, d := g.Nodes[e.Source], g.Nodes[e.Target]
		if s.ID == "emb@18" && heads[d.ID] && e.Weight > 0 {
			into[d.ID] = true
		}
	}
	if len(into) != 4 {
		t.Errorf("kept positive edges emb@18 → %v, want all four layer-1 heads", into)
	}
	// The QK side: each induction head's score on key 18 comes first from
	// the previous-token head (L0H3) at that key.
	for _, n := range g.Nodes {
		if heads[n.ID] {
			if k := n.Keys; k == nil || k.KeyPos != 18 || k.Top[0].Source != "L0H3@18" || k.Top[0].Weight < 0.4*k.Score {
				t.Errorf("%s keys %+v: want key 18 led by L0H3@18", n.ID, k)
			}
		}
	}
}
