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
	splices map[string]Splice
}

// NewPoints returns an empty recorder.
func NewPoints() *Points {
	return &Points{nodes: map[string]*Node{}, replace: map[string][]Fn{}, exact: map[string]bool{}, wanted: map[string]bool{}, splices: map[string]Splice{}}
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
func (p *Points) Exact(name string) bool {
	_, spliced := p.splices[name]
	for _, s := range p.splices {
		spliced = spliced || s.In == name // a transcoder reads it
	}
	return p.exact[name] || len(p.replace[name]) > 0 || spliced
}

// The hook points a Splice adds under its hook's name, as SAELens's
// HookedSAETransformer names them: blocks.3.hook_resid_post.hook_sae_acts_post.
const (
	SAEActs   = ".hook_sae_acts_post" // the dictionary's feature activations
	SAERecons = ".hook_sae_recons"    // the decoder's reconstruction of the hook
	SAEError  = ".hook_sae_error"     // hook − reconstruction of the unedited features
)

// Splice is a sparse dictionary (a sparse autoencoder) spliced into a hook
// point: Encode maps the hook's value [..., d_in] to features [..., d_sae],
// Decode maps features back. The features become hook points of their own,
// so they are read, replaced and differentiated like any other.
//
// A transcoder's Splice reads another, earlier hook point: In names it,
// Encode maps In's value to the features, and Decode plus Skip (when set,
// a function of In's value) reconstruct the spliced hook.
type Splice struct {
	Encode func(x *Node) *Node
	Decode func(f *Node) *Node
	In     string
	Skip   func(x *Node) *Node
}

// Splice registers a dictionary on hook name (see At).
func (p *Points) Splice(name string, s Splice) { p.splices[name] = s }

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
	if s, ok := p.splices[name]; ok {
		x = p.splice(name, x, s)
	}
	return x
}

// splice records a dictionary's hook points on x and returns what the
// forward pass continues from: reconstruction + error, with the error term
// of the unedited features kept, so an edit of the features changes the
// model by exactly the decoder's image of that edit. When nothing edits or
// differentiates the dictionary's hook points, the forward pass continues
// from x itself: splicing an unedited dictionary changes no bit. Nodes that
// nobody reads are dead code.
//
// The feature and reconstruction hook points are nodes of their own
// (distinct), apart from the ones the error term is computed from, so a
// gradient with respect to the features is the decoder's transpose applied
// to the gradient at the hook, while gradients further upstream stay the
// model's own (the encoder's contribution through the features and through
// the error term cancel).
func (p *Points) splice(name string, x *Node, s Splice) *Node {
	in, decode := x, s.Decode
	if s.In != "" {
		var ok bool
		if in, ok = p.nodes[s.In]; !ok {
			exceptions.Panicf("hook: the dictionary on %q reads %q, which the forward pass has not reached before it", name, s.In)
		}
		if s.Skip != nil {
			decode = func(f *Node) *Node {
				if y := s.Skip(in); y != nil {
					return Add(s.Decode(f), y)
				}
				return s.Decode(f)
			}
		}
	}
	f := s.Encode(in)
	feat := distinct(f)
	f2 := p.At(feat, "%s", name+SAEActs)
	edited := f2 != feat || p.Exact(name+SAEActs)
	recon := decode(f)
	rc := distinct(recon)
	if edited {
		rc = decode(f2)
	}
	rc2 := p.At(rc, "%s", name+SAERecons)
	errTerm := Sub(x, recon)
	e2 := p.At(errTerm, "%s", name+SAEError)
	if !edited && rc2 == rc && e2 == errTerm && !p.Exact(name+SAERecons) && !p.Exact(name+SAEError) {
		return x
	}
	return Add(rc2, e2)
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

// distinct is x as a node of its own, through which gradients pass
// unchanged (GoMLX's Identity defines no gradient).
func distinct(x *Node) *Node {
	return IdentityWithCustomGradient(x, func(_, v *Node) *Node { return v })
}
