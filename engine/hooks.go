package engine

import (
	"fmt"
	"strings"

	"github.com/glia-dev/glia/hook"
)

// hookTable is a model's hook points, traced once (see HookPoints).
type hookTable struct {
	infos []HookInfo
	index map[string]int
	err   error
}

// HookPoints lists every hook point with its shape at batch 1 and one
// position and its position axes, in forward order. Names do not depend on the sequence length and
// only the position axes of a shape do, so the model traces once and every
// caller shares the result; the slice must not be modified. Hooks(seq)
// traces afresh at another length.
func (m *Model) HookPoints() ([]HookInfo, error) {
	t := m.hookTable()
	return t.infos, t.err
}

func (m *Model) hookTable() *hookTable {
	m.hooksOnce.Do(func() {
		t := &hookTable{index: map[string]int{}}
		t.infos, t.err = m.Hooks(1)
		var two []HookInfo
		if t.err == nil {
			// A second length shows which axes are positions.
			two, t.err = m.Hooks(2)
		}
		for i, h := range t.infos {
			t.index[h.Name] = i
			if t.err == nil && i < len(two) && two[i].Name == h.Name {
				for ax := range h.Shape {
					if two[i].Shape[ax] != h.Shape[ax] {
						t.infos[i].PosAxes = append(t.infos[i].PosAxes, ax)
					}
				}
			}
		}
		m.hooks = t
	})
	return m.hooks
}

// HookPoint is a hook point's shape at batch 1 and one position with its
// position axes; an unknown name is an error naming the closest ones.
func (m *Model) HookPoint(name string) (HookInfo, error) {
	if _, err := m.HookShape(name); err != nil {
		return HookInfo{}, err
	}
	return m.hooks.infos[m.hooks.index[name]], nil
}

// HookShapeAt is a hook point's shape on one sequence of seq tokens: its
// HookShape with every position axis (HookInfo.PosAxes) of length seq.
func (m *Model) HookShapeAt(name string, seq int) ([]int, error) {
	h, err := m.HookPoint(name)
	if err != nil {
		return nil, err
	}
	shape := append([]int(nil), h.Shape...)
	for _, ax := range h.PosAxes {
		shape[ax] = seq
	}
	return shape, nil
}

// HookShape is a hook point's shape at batch 1 and one position; an unknown
// name is an error that names the closest hook points.
func (m *Model) HookShape(name string) ([]int, error) {
	t := m.hookTable()
	if t.err != nil {
		return nil, t.err
	}
	i, ok := t.index[name]
	if !ok {
		return nil, fmt.Errorf("engine: no hook point %q in %s (%s)", name, m.Name, suggest(name, hookNames(t.infos)))
	}
	return t.infos[i].Shape, nil
}

// MatchHooks resolves hook names and globs ("blocks.*.mlp.hook_post", see
// hook.Match) to hook points: pattern by pattern, each in forward order,
// without repeats. A pattern that matches nothing is an error naming it.
func (m *Model) MatchHooks(patterns ...string) ([]string, error) {
	infos, err := m.HookPoints()
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, p := range patterns {
		n := 0
		for _, h := range infos {
			if !hook.Match(p, h.Name) {
				continue
			}
			n++
			if !seen[h.Name] {
				seen[h.Name] = true
				out = append(out, h.Name)
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("engine: no hook point matches %q in %s (%s)", p, m.Name, suggest(p, hookNames(infos)))
		}
	}
	return out, nil
}

func hookNames(infos []HookInfo) []string {
	out := make([]string, len(infos))
	for i, h := range infos {
		out[i] = h.Name
	}
	return out
}

// suggest names the hook points closest to a mistyped one (same last
// segment, or same parent), in forward order.
func suggest(name string, names []string) string {
	last := name[strings.LastIndex(name, ".")+1:]
	prefix := name
	if i := strings.LastIndex(name, "."); i >= 0 {
		prefix = name[:i]
	}
	var close []string
	for _, n := range names {
		if strings.HasSuffix(n, "."+last) || strings.HasPrefix(n, prefix+".") {
			close = append(close, n)
		}
		if len(close) == 4 {
			close = append(close, "...")
			break
		}
	}
	if len(close) == 0 {
		return "see glia inspect"
	}
	return "did you mean " + strings.Join(close, ", ") + "?"
}
