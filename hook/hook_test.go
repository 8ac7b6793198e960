package hook

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	_ "github.com/gomlx/compute/gobackend" // the pure-Go backend: hooks only build graphs
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		// Every segment literal: the whole name.
		{"hook_embed", "hook_embed", true},
		{"hook_embed", "hook_pos_embed", false},
		{"blocks.0.mlp.hook_post", "blocks.0.mlp.hook_post", true},
		{"blocks.1.mlp.hook_post", "blocks.0.mlp.hook_post", false},
		{"blocks.0.mlp.hook_post", "blocks.0.mlp.hook_pre", false},
		// Each segment is a path.Match glob, and a glob stays in its segment.
		{"blocks.*.mlp.hook_post", "blocks.11.mlp.hook_post", true},
		{"blocks.*.mlp.hook_post", "blocks.11.attn.hook_q", false},
		{"blocks.*.hook_post", "blocks.0.mlp.hook_post", false},
		{"blocks.*", "blocks.0.hook_resid_pre", false},
		{"blocks.0.attn.hook_*", "blocks.0.attn.hook_rot_q", true},
		{"blocks.0.attn.hook_*", "blocks.0.hook_attn_out", false},
		{"blocks.*.*.hook_scale", "blocks.3.ln2_post.hook_scale", true},
		{"blocks.[0-1].hook_resid_pre", "blocks.1.hook_resid_pre", true},
		{"blocks.[0-1].hook_resid_pre", "blocks.2.hook_resid_pre", false},
		{"blocks.?.hook_resid_post", "blocks.3.hook_resid_post", true},
		{"blocks.?.hook_resid_post", "blocks.10.hook_resid_post", false},
		// Fewer segments and no '*': the name's last segments.
		{"hook_post", "blocks.2.mlp.hook_post", true},
		{"mlp.hook_post", "blocks.2.mlp.hook_post", true},
		{"attn.hook_post", "blocks.2.mlp.hook_post", false},
		{"ln_final.hook_scale", "ln_final.hook_scale", true},
		{"hook_?", "blocks.0.attn.hook_q", true},
		{"hook_[qk]", "blocks.0.attn.hook_v", false},
		// A suffix starts at a dot, never inside a segment.
		{"post", "blocks.2.mlp.hook_post", false},
		{"ook_post", "blocks.2.mlp.hook_post", false},
		// A pattern with '*' is never a suffix: it must name every segment.
		{"hook_*", "blocks.0.attn.hook_q", false},
		{"hook_*", "hook_embed", true},
		{"*.hook_post", "blocks.0.mlp.hook_post", false},
		{"*.*.*.hook_post", "blocks.0.mlp.hook_post", true},
		// More segments than the name: no match.
		{"blocks.0.mlp.hook_post", "mlp.hook_post", false},
		{"x.blocks.0.mlp.hook_post", "blocks.0.mlp.hook_post", false},
		// Bad patterns (path.ErrBadPattern) match nothing, not even themselves.
		{"blocks.[.hook_resid_pre", "blocks.[.hook_resid_pre", false},
		{"blocks.0.hook_resid_pre\\", "blocks.0.hook_resid_pre", false},
		{"[", "blocks.0.mlp.hook_post", false},
		{"blocks.[]a].hook_embed", "blocks.a.hook_embed", false},
		// Empty pattern or name.
		{"", "hook_embed", false},
		{"hook_embed", "", false},
		{"", "blocks.0.mlp.hook_post", false},
	} {
		if got := Match(tc.pattern, tc.name); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestActName(t *testing.T) {
	for _, tc := range []struct {
		kind  string
		layer int
		want  string
	}{
		{"pre", 3, "blocks.3.mlp.hook_pre"},
		{"post", 0, "blocks.0.mlp.hook_post"},
		{"pre_linear", 11, "blocks.11.mlp.hook_pre_linear"},
		{"q", 2, "blocks.2.attn.hook_q"},
		{"k", 2, "blocks.2.attn.hook_k"},
		{"v", 2, "blocks.2.attn.hook_v"},
		{"z", 2, "blocks.2.attn.hook_z"},
		{"pattern", 5, "blocks.5.attn.hook_pattern"},
		{"attn_scores", 5, "blocks.5.attn.hook_attn_scores"},
		{"resid_pre", 1, "blocks.1.hook_resid_pre"},
		{"resid_mid", 1, "blocks.1.hook_resid_mid"},
		{"resid_post", 1, "blocks.1.hook_resid_post"},
		{"attn_out", 4, "blocks.4.hook_attn_out"},
		{"mlp_out", 4, "blocks.4.hook_mlp_out"},
		{"normalized1", 7, "blocks.7.ln1.hook_normalized"},
		{"normalized2", 7, "blocks.7.ln2.hook_normalized"},
		// Full names and unknown kinds pass through; the layer is ignored.
		{"blocks.0.mlp.hook_post", 9, "blocks.0.mlp.hook_post"},
		{"hook_embed", 0, "hook_embed"},
		{"scale", 1, "scale"},
		{"Post", 1, "Post"},
		{"", 1, ""},
	} {
		if got := ActName(tc.kind, tc.layer); got != tc.want {
			t.Errorf("ActName(%q, %d) = %q, want %q", tc.kind, tc.layer, got, tc.want)
		}
	}
}

// input returns a [2, 3] float32 parameter of a fresh graph.
func input(t *testing.T) *Node {
	t.Helper()
	be, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	g := NewGraph(be, t.Name())
	t.Cleanup(g.Finalize)
	return Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 3))
}

// panicText runs f and returns what it panicked with, "" if it did not.
func panicText(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// TestAtNames: At records each point under its formatted name in the order
// reached, and Names is a copy.
func TestAtNames(t *testing.T) {
	x := input(t)
	p := NewPoints()
	embed := p.At(x, "hook_embed")
	resid := p.At(Neg(embed), "blocks.%d.hook_resid_pre", 3)
	final := p.At(Abs(resid), "ln_final.hook_normalized")
	want := []string{"hook_embed", "blocks.3.hook_resid_pre", "ln_final.hook_normalized"}
	if got := p.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	for i, n := range []*Node{embed, resid, final} {
		if got, ok := p.Node(want[i]); !ok || got != n {
			t.Errorf("Node(%q) = %v, %v; want the node At returned", want[i], got, ok)
		}
	}
	if _, ok := p.Node("blocks.0.hook_resid_pre"); ok {
		t.Error("Node of a name never reached: found")
	}
	p.Names()[0] = "changed"
	if got := p.Names()[0]; got != "hook_embed" {
		t.Errorf("Names() shares its slice: first name now %q", got)
	}
}

// TestAtReplace: replacements run in registration order on their own hook
// only, and the hook records (and At returns) the last one's value.
func TestAtReplace(t *testing.T) {
	x := input(t)
	p := NewPoints()
	var calls []string
	var last *Node
	fn := func(tag string) Fn {
		return func(x *Node) *Node {
			calls = append(calls, tag)
			last = AddScalar(x, 1)
			return last
		}
	}
	p.On("blocks.0.hook_resid_pre", fn("first"))
	p.On("blocks.0.hook_resid_pre", fn("second"))
	p.On("blocks.1.hook_resid_pre", fn("other"))
	if got := p.At(x, "hook_embed"); got != x {
		t.Error("At without replacements did not return its input")
	}
	got := p.At(x, "blocks.%d.hook_resid_pre", 0)
	if !slices.Equal(calls, []string{"first", "second"}) {
		t.Errorf("replacements ran %q, want [first second]", calls)
	}
	if got != last {
		t.Error("At did not return the last replacement's value")
	}
	if n, _ := p.Node("blocks.0.hook_resid_pre"); n != last {
		t.Error("the hook did not record the replaced value")
	}
	if u := p.Unused(); !slices.Equal(u, []string{"blocks.1.hook_resid_pre"}) {
		t.Errorf("Unused() = %q, want [blocks.1.hook_resid_pre]", u)
	}
}

// TestAtPanics: graph-building mistakes panic (the engine turns them into
// errors) and say which hook.
func TestAtPanics(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(p *Points, x *Node)
		want  string
	}{
		{"used twice", func(p *Points, x *Node) {
			p.At(x, "blocks.%d.hook_resid_pre", 0)
			p.At(x, "blocks.0.hook_resid_pre")
		}, `hook point "blocks.0.hook_resid_pre" used twice`},
		{"reshaped", func(p *Points, x *Node) {
			p.On("hook_embed", func(x *Node) *Node { return Reshape(x, 3, 2) })
			p.At(x, "hook_embed")
		}, `replacement for "hook_embed" changed its shape`},
		{"retyped", func(p *Points, x *Node) {
			p.On("hook_embed", func(x *Node) *Node { return ConvertDType(x, dtypes.Float64) })
			p.At(x, "hook_embed")
		}, `replacement for "hook_embed" changed its shape`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := input(t)
			msg := panicText(func() { tc.build(NewPoints(), x) })
			if !strings.Contains(msg, tc.want) {
				t.Errorf("panic %q, want one containing %q", msg, tc.want)
			}
		})
	}
}

func TestUnused(t *testing.T) {
	x := input(t)
	p := NewPoints()
	if u := p.Unused(); u != nil {
		t.Errorf("Unused() of an empty recorder = %q", u)
	}
	id := func(x *Node) *Node { return x }
	for _, n := range []string{"blocks.9.mlp.hook_post", "hook_embed", "blocks.0.attn.hook_q", "hook_embedd"} {
		p.On(n, id)
	}
	p.At(x, "hook_embed")
	want := []string{"blocks.0.attn.hook_q", "blocks.9.mlp.hook_post", "hook_embedd"}
	if u := p.Unused(); !slices.Equal(u, want) {
		t.Errorf("Unused() = %q, want %q (sorted)", u, want)
	}
}

// TestNeeded: a hook is needed when read (Want, WantAll), replaced (On) or
// differentiated (MarkExact); only the last two make it exact.
func TestNeeded(t *testing.T) {
	id := func(x *Node) *Node { return x }
	for _, tc := range []struct {
		name          string
		setup         func(p *Points)
		needed, exact bool
	}{
		{"untouched", func(p *Points) {}, false, false},
		{"wanted", func(p *Points) { p.Want("hook_embed") }, true, false},
		{"another wanted", func(p *Points) { p.Want("blocks.0.hook_resid_pre") }, false, false},
		{"all wanted", func(p *Points) { p.WantAll() }, true, false},
		{"replaced", func(p *Points) { p.On("hook_embed", id) }, true, true},
		{"another replaced", func(p *Points) { p.On("blocks.0.hook_resid_pre", id) }, false, false},
		{"differentiated", func(p *Points) { p.MarkExact("hook_embed") }, true, true},
		{"a glob is not a name", func(p *Points) { p.Want("hook_*"); p.MarkExact("*") }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPoints()
			tc.setup(p)
			if got := p.Needed("hook_embed"); got != tc.needed {
				t.Errorf("Needed = %v, want %v", got, tc.needed)
			}
			if got := p.Exact("hook_embed"); got != tc.exact {
				t.Errorf("Exact = %v, want %v", got, tc.exact)
			}
		})
	}
}
