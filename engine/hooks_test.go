package engine_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/glia-dev/glia/engine"
)

func TestMatchHooks(t *testing.T) {
	m, err := engine.Load("../testdata/hf-tiny/gpt2")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		patterns []string
		want     []string
		err      string // substring of the error; "" for none
	}{
		{"none", nil, nil, ""},
		{"exact", []string{"blocks.1.mlp.hook_post"}, []string{"blocks.1.mlp.hook_post"}, ""},
		{"glob in forward order", []string{"blocks.*.mlp.hook_post"}, []string{"blocks.0.mlp.hook_post", "blocks.1.mlp.hook_post"}, ""},
		{"suffix form", []string{"mlp.hook_post"}, []string{"blocks.0.mlp.hook_post", "blocks.1.mlp.hook_post"}, ""},
		{"glob in a segment", []string{"blocks.0.attn.hook_[qk]"}, []string{"blocks.0.attn.hook_q", "blocks.0.attn.hook_k"}, ""},
		{"patterns in order, no repeats", []string{"blocks.1.mlp.hook_post", "blocks.*.mlp.hook_post", "hook_embed"},
			[]string{"blocks.1.mlp.hook_post", "blocks.0.mlp.hook_post", "hook_embed"}, ""},
		{"no match names the pattern", []string{"blocks.*.mlp.hook_post", "blocks.*.mlp.hook_postt"}, nil, `matches "blocks.*.mlp.hook_postt"`},
		{"layer out of range", []string{"blocks.9.mlp.hook_post"}, nil, `no hook point matches "blocks.9.mlp.hook_post" in ../testdata/hf-tiny/gpt2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.MatchHooks(tc.patterns...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestHookPointsCached: the model traces once, whoever asks and however
// concurrently, and the trace equals Hooks at length 1.
func TestHookPointsCached(t *testing.T) {
	m, err := engine.Load("../testdata/hf-tiny/gpt2")
	if err != nil {
		t.Fatal(err)
	}
	got := make([][]engine.HookInfo, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			hs, err := m.HookPoints()
			if err != nil {
				t.Error(err)
			}
			got[i] = hs
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, hs := range got {
		if len(hs) == 0 || &hs[0] != &got[0][0] {
			t.Fatalf("caller %d got another trace (%d hook points)", i, len(hs))
		}
	}
	fresh, err := m.Hooks(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh) != len(got[0]) {
		t.Fatalf("%d hook points cached, %d traced", len(got[0]), len(fresh))
	}
	for i := range fresh {
		if fresh[i].Name != got[0][i].Name || !slices.Equal(fresh[i].Shape, got[0][i].Shape) {
			t.Fatalf("hook %d: cached %v, traced %v", i, got[0][i], fresh[i])
		}
	}

	for _, tc := range []struct {
		name string
		want []int
		err  string
	}{
		{"blocks.1.mlp.hook_post", []int{1, 1, 256}, ""},
		{"blocks.0.attn.hook_z", []int{1, 1, 4, 16}, ""},
		{"blocks.0.attn.hook_pattern", []int{1, 4, 1, 1}, ""},
		{"blocks.1.mlp.hook_postt", nil, `no hook point "blocks.1.mlp.hook_postt" in ../testdata/hf-tiny/gpt2 (did you mean blocks.1.mlp.hook_pre, blocks.1.mlp.hook_post`},
	} {
		shape, err := m.HookShape(tc.name)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("HookShape(%s): %v, want an error containing %q", tc.name, err, tc.err)
		case tc.err == "" && (err != nil || !slices.Equal(shape, tc.want)):
			t.Errorf("HookShape(%s) = %v, %v; want %v", tc.name, shape, err, tc.want)
		}
	}
}

// TestHookShapeAt: position axes found by tracing two lengths; a shape at
// any length equals a fresh trace at that length.
func TestHookShapeAt(t *testing.T) {
	m, err := engine.Load("")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := m.Hooks(7)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range fresh {
		got, err := m.HookShapeAt(h.Name, 7)
		if err != nil || !slices.Equal(got, h.Shape) {
			t.Errorf("%s: HookShapeAt(7) = %v, %v; a trace at 7 gives %v", h.Name, got, err, h.Shape)
		}
	}
	infos, _ := m.HookPoints()
	want := map[string][]int{"blocks.0.mlp.hook_post": {1}, "blocks.0.attn.hook_pattern": {2, 3}, "blocks.0.attn.hook_z": {1}}
	for _, h := range infos {
		if w, ok := want[h.Name]; ok && !slices.Equal(h.PosAxes, w) {
			t.Errorf("%s: position axes %v, want %v", h.Name, h.PosAxes, w)
		}
	}
	if _, err := m.HookShapeAt("blocks.0.mlp.hook_pst", 3); err == nil {
		t.Error("HookShapeAt of an unknown hook: no error")
	}
}
