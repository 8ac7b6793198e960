package engine

import (
	"fmt"
	"slices"

	. "github.com/gomlx/gomlx/core/graph"
)

// Gradient checkpointing by layer.
//
// A backward pass keeps, until the gradient reaches it, every activation
// the forward pass made: for a 4,096-token GPT-2-small prompt, every query
// chunk's softmax of every layer, [12, 512, 4096] floats each (~0.8 GB a
// layer). A checkpointed request instead runs the forward pass once,
// keeping only each layer's input (blocks.l.hook_resid_pre), then walks the
// layers from the top down: segment l is a graph whose resid_pre is
// replaced by the kept value and whose target is Σ resid_post ⊙ G, G the
// gradient that came down from above; its output is the gradient at
// resid_pre, the next segment's G. The Go backend runs only the nodes an
// output depends on, so each segment computes its own layer's forward and
// backward and nothing else: memory holds one layer's activations.
//
// Segments: the embedding (hooks before blocks.0.hook_resid_pre), each
// layer, and the top (from the last blocks.{L-1}.hook_resid_post to the
// logits). A hook is read and differentiated in the segment it belongs to.

// runCheckpointed is Run for a request with Checkpoint and Grad.
func (m *Model) runCheckpointed(req Request) (*Result, error) {
	infos, err := m.HookPoints()
	if err != nil {
		return nil, err
	}
	L := m.Dims().Layers
	pre := func(l int) string { return fmt.Sprintf("blocks.%d.hook_resid_pre", l) }
	last := fmt.Sprintf("blocks.%d.hook_resid_post", L-1)
	bounds := make([]string, 0, L+1)
	for l := range L {
		bounds = append(bounds, pre(l))
	}
	bounds = append(bounds, last)
	at := make([]int, len(bounds)) // each boundary's place in forward order
	for i, b := range bounds {
		j, ok := m.hooks.index[b]
		if !ok {
			return nil, fmt.Errorf("engine: checkpointing needs the hook point %s, which %s lacks", b, m.Name)
		}
		at[i] = j
	}
	// segment is -1 for the embedding, l for layer l, L for the top.
	segment := func(h string) (int, error) {
		j, ok := m.hooks.index[h]
		if !ok {
			return 0, fmt.Errorf("engine: no hook point %q in %s (%s)", h, m.Name, suggest(h, hookNames(infos)))
		}
		if j >= at[L] {
			return L, nil
		}
		s := -1
		for l := range L {
			if j >= at[l] {
				s = l
			}
		}
		return s, nil
	}
	bySeg := map[int][]string{}
	for _, h := range req.Hooks {
		s, err := segment(h)
		if err != nil {
			return nil, err
		}
		bySeg[s] = append(bySeg[s], h)
	}
	// The forward pass, keeping each segment's input.
	fw, err := m.Run(Request{IDs: req.IDs, Mask: req.Mask, Hooks: bounds, Interventions: req.Interventions, NoLogits: true})
	if err != nil {
		return nil, err
	}
	res := &Result{Acts: map[string]Array{}, Grads: map[string]Array{}}
	keep := func(r *Result, hooks []string) {
		for _, h := range hooks {
			res.Acts[h], res.Grads[h] = r.Acts[h], r.Grads[h]
		}
	}
	// feed replaces hook h by its kept value.
	feed := func(h string) []Intervention {
		return append(slices.Clone(req.Interventions), Intervention{Hook: h, Key: "checkpoint", Inputs: []Array{fw.Acts[h]},
			FnIn: func(x *Node, in []*Node) *Node { return in[0] }})
	}
	top, err := m.Run(Request{IDs: req.IDs, Mask: req.Mask, Hooks: appendNew(bySeg[L], last), Interventions: feed(last), Grad: req.Grad, NoLogits: req.NoLogits})
	if err != nil {
		return nil, err
	}
	res.Logits = top.Logits
	keep(top, bySeg[L])
	g := top.Grads[last]
	for l := L - 1; l >= -1; l-- {
		// Layer l: from its kept input to the next layer's input.
		below, above := pre(max(l, 0)), last
		if l < L-1 {
			above = pre(l + 1)
		}
		hooks, ivs := appendNew(bySeg[l], below), feed(below)
		if l < 0 {
			if len(bySeg[l]) == 0 {
				break
			}
			// The embedding: from the token ids up to layer 0's input.
			hooks, ivs = bySeg[l], req.Interventions
		}
		r, err := m.Run(Request{IDs: req.IDs, Mask: req.Mask, Hooks: hooks, Interventions: ivs, NoLogits: true, Grad: &GradTarget{at: above, seed: g}})
		if err != nil {
			return nil, err
		}
		keep(r, bySeg[l])
		g = r.Grads[below]
	}
	return res, nil
}

// appendNew is hooks with h added unless present.
func appendNew(hooks []string, h string) []string {
	if slices.Contains(hooks, h) {
		return hooks
	}
	return append(slices.Clone(hooks), h)
}
