package experiment

import (
	"math"
	"testing"
)

// TestPathSweep: every cell of the sweep equals PathPatch run on its one
// sender and one receiver, on families with and without grouped kv heads,
// whether the forwards hold one sender each or all of them.
func TestPathSweep(t *testing.T) {
	for _, tc := range []struct {
		fam  string
		rows int
	}{{"gpt2", 0}, {"llama", 0}, {"llama", 1}} {
		m := fixture(t, tc.fam)
		pairs := []Pair{
			{Clean: []int32{5, 6, 7, 8, 9, 10}, Corrupt: []int32{5, 60, 7, 80, 9, 10}, A: 3, B: 4},
			{Clean: []int32{11, 12, 13, 14, 15, 16}, Corrupt: []int32{11, 2, 3, 14, 4, 16}, A: 7, B: 9},
		}
		r, err := PathSweep(m, pairs, SweepOptions{Rows: tc.rows})
		if err != nil {
			t.Fatal(err)
		}
		d := m.Dims()
		if want := (d.Layers - 1) * d.Heads; len(r.Senders) != want {
			t.Fatalf("%s: %d senders, want %d", tc.fam, len(r.Senders), want)
		}
		var sets [][]Head
		for _, h := range r.Senders {
			sets = append(sets, []Head{h})
		}
		cells, moved := 0, 0
		for j, rc := range r.Receivers {
			want, err := PathPatch(m, pairs, sets, []Receiver{rc}, 8)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range r.Senders {
				for p := range pairs {
					got := r.Pairs[p].Patched[i][j]
					if s.Layer >= rc.Layer {
						if !math.IsNaN(got) {
							t.Errorf("%s: %d.%d → %s has a value (%g) but no path", tc.fam, s.Layer, s.Head, rc, got)
						}
						continue
					}
					cells++
					w := want.Pairs[p].Patched[i]
					if math.Abs(got-w) > 1e-4 {
						t.Errorf("%s pair %d: %d.%d → %s: sweep %g, PathPatch %g", tc.fam, p, s.Layer, s.Head, rc, got, w)
					}
					if math.Abs(w-want.Pairs[p].Clean) > 1e-4 {
						moved++
					}
				}
			}
		}
		if moved < cells/2 {
			t.Errorf("%s: only %d of %d cells differ from clean; the comparison proves little", tc.fam, moved, cells)
		}
		t.Logf("%s rows %d: %d cells in %d forwards, %d layouts, %.2fs", tc.fam, tc.rows, cells, r.Forwards, r.Graphs, r.Seconds)
	}
}
