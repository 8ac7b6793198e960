// Package hook implements TransformerLens-named hook points on GoMLX graphs.
//
// A family's forward pass routes every intermediate it exposes through
// Points.At. At applies any replacement registered for that name and records
// the resulting node under its exact TransformerLens name in the Points
// itself (a map, not GoMLX node aliases); the engine looks the requested
// names up with Node and returns those nodes as extra graph outputs. So a
// hook can be read, replaced by a function of its value, and differentiated,
// all in one compiled graph.
package hook

import (
	"fmt"
	"path"
	"sort"
	"strings"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Fn replaces a hook's value by a function of it. It runs while the graph is
// built, so it composes graph ops (and may panic, like any graph code).
type Fn func(x *Node) *Node

// Points collects the hook points of one graph.
type Points struct {
	nodes   map[string]*Node
	order   []string
	replace map[string][]Fn
	exact   map[string]bool
	wanted  map[string]bool
	all     bool
}

// NewPoints returns an empty recorder.
func NewPoints() *Points {
	return &Points{nodes: map[string]*Node{}, replace: map[string][]Fn{}, exact: map[string]bool{}, wanted: map[string]bool{}}
}

// Want says these hooks will be read from the graph. WantAll says every hook
// will (tracing). Families may skip materialising a hook nobody needs (see
// Needed), e.g. full attention patterns of long sequences.
func (p *Points) Want(names ...string) {
	for _, n := range names {
		p.wanted[n] = true
	}
}

// WantAll marks every hook as read.
func (p *Points) WantAll() { p.all = true }

// Needed reports whether name is read, replaced or differentiated.
func (p *Points) Needed(name string) bool { return p.all || p.wanted[name] || p.Exact(name) }

// On registers fn to replace the value of hook name. Several functions on one
// hook apply in registration order.
func (p *Points) On(name string, fn Fn) { p.replace[name] = append(p.replace[name], fn) }

// MarkExact says the graph must flow through these hooks' own nodes (they
// are differentiated), so a family may not compute around them with a fused
// kernel.
func (p *Points) MarkExact(names ...string) {
	for _, n := range names {
		p.exact[n] = true
	}
}

// Exact reports whether name's value must be the node the graph continues
// from: it is replaced or differentiated. Families consult it before using a
// fused kernel that would bypass an intermediate hook.
func (p *Points) Exact(name string) bool { return p.exact[name] || len(p.replace[name]) > 0 }

// At marks x as the hook point named by format and args, applies the
// replacements registered for it, and returns the (possibly replaced) value,
// which the forward pass must continue from.
func (p *Points) At(x *Node, format string, args ...any) *Node {
	name := format
	if len(args) > 0 {
		name = fmt.Sprintf(format, args...)
	}
	if _, dup := p.nodes[name]; dup {
		exceptions.Panicf("hook: hook point %q used twice in one forward pass", name)
	}
	for _, fn := range p.replace[name] {
		y := fn(x)
		if !y.Shape().Equal(x.Shape()) {
			exceptions.Panicf("hook: replacement for %q changed its shape from %s to %s", name, x.Shape(), y.Shape())
		}
		x = y
	}
	p.nodes[name] = x
	p.order = append(p.order, name)
	return x
}

// Node returns the recorded node for name.
func (p *Points) Node(name string) (*Node, bool) { n, ok := p.nodes[name]; return n, ok }

// Names lists the hook points in the order the forward pass reached them.
func (p *Points) Names() []string { return append([]string(nil), p.order...) }

// Unused lists replacements registered for names the forward pass never
// reached: usually a typo in a hook name, so the engine reports it.
func (p *Points) Unused() []string {
	var out []string
	for n := range p.replace {
		if _, ok := p.nodes[n]; !ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Match reports whether a hook name matches a pattern in which each
// dot-separated segment is a path.Match glob: "blocks.*.mlp.hook_post".
// A pattern with no '*' and fewer segments than the name matches the name's
// last segments, so "hook_post" alone matches every layer's
// blocks.{l}.mlp.hook_post; a pattern with '*' must name every segment. A
// malformed glob matches nothing.
func Match(pattern, name string) bool {
	ps, ns := strings.Split(pattern, "."), strings.Split(name, ".")
	if len(ps) < len(ns) && !strings.Contains(pattern, "*") {
		ns = ns[len(ns)-len(ps):] // suffix form
	}
	if len(ps) != len(ns) {
		return false
	}
	for i := range ps {
		if ok, err := path.Match(ps[i], ns[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

// ActName expands TransformerLens's get_act_name shorthand: ("post", 3) →
// "blocks.3.mlp.hook_post". Unknown kinds are returned unchanged.
func ActName(kind string, layer int) string {
	switch kind {
	case "pre", "post", "pre_linear":
		return fmt.Sprintf("blocks.%d.mlp.hook_%s", layer, kind)
	case "q", "k", "v", "z", "pattern", "attn_scores":
		return fmt.Sprintf("blocks.%d.attn.hook_%s", layer, kind)
	case "resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out":
		return fmt.Sprintf("blocks.%d.hook_%s", layer, kind)
	case "normalized1":
		return fmt.Sprintf("blocks.%d.ln1.hook_normalized", layer)
	case "normalized2":
		return fmt.Sprintf("blocks.%d.ln2.hook_normalized", layer)
	}
	return kind
}
