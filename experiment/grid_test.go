package experiment

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestLayerGrid(t *testing.T) {
	g := LayerGrid("t", "head", [][]float64{{1, 2, 3}, {4, 5, 6}}, nil)
	if got, want := fmtGrid(g), "t|layer×head|L0,L1|0,1,2|[[1,2,3],[4,5,6]]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestPatchGrid: the grid of a sweep takes the mean effect, or pair 0's
// when pairs differ in length, cut to pair 0's positions, which are
// labelled with the tokens of both prompts.
func TestPatchGrid(t *testing.T) {
	nan := math.NaN()
	token := func(id int32) string { return "t" + strconv.Itoa(int(id)) }
	// Pair 0's clean prompt is one token longer than its corrupt one: its
	// first position is clean only.
	p := Pair{Clean: []int32{1, 2, 3, 4}, Corrupt: []int32{2, 9, 4}}
	pos := &PatchResult{Kind: ResidPre, Per: PerPos, Cols: 5, Pairs: []PairPatch{
		{Len: 4, Effect: [][]float64{{nan, 0, 1, 0, nan}, {nan, 0, 0.5, 0.25, nan}}},
		{Len: 5, Effect: [][]float64{{9, 9, 9, 9, 9}, {9, 9, 9, 9, 9}}},
	}}
	head := &PatchResult{Kind: Z, Per: PerHead, Cols: 2, Pairs: []PairPatch{{Len: 4}, {Len: 4}}, Mean: [][]float64{{0.5, 1}}}
	layer := &PatchResult{Kind: AttnOut, Per: PerLayer, Cols: 1, Pairs: []PairPatch{{Len: 4}}, Mean: [][]float64{{0.5}, {nan}}}
	for _, c := range []struct {
		name string
		r    *PatchResult
		want string
	}{
		{"pos", pos, "resid_pre patching, per pos, pair 0 (pairs differ in length): normalised effect|layer×position|L0,L1|" +
			"0 t1,1 t2,2 t3/t9,3 t4|[[null,0,1,0],[null,0,0.5,0.25]]"},
		{"head", head, "z patching, per head, mean over 2 pairs: normalised effect|layer×head|L0|0,1|[[0.5,1]]"},
		{"layer", layer, "attn_out patching, per layer: normalised effect|layer×|L0,L1|all|[[0.5],[null]]"},
	} {
		if got := fmtGrid(c.r.Grid(p, token)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	if got, want := strings.Join(posLabels(3, Pair{Clean: []int32{5}, Corrupt: []int32{6, 7, 5}}, token), ","), "0 /t6,1 /t7,2 t5"; got != want {
		t.Errorf("corrupt longer: %s, want %s", got, want)
	}
}

func TestPathGrid(t *testing.T) {
	r := &PathResult{
		Receivers: []Receiver{{2, 0, 'q'}, {2, 1, 'v'}},
		Senders:   [][]Head{{{0, 1}}, {{1, 0}}, {{0, 0}, {1, 1}}},
		Mean:      []float64{0.25, -1, 7},
	}
	got := fmtGrid(r.Grid(2, 2))
	want := "path patching to 2.0q,2.1v: normalised effect per sender head|sender layer×sender head|L0,L1|0,1|[[null,0.25],[-1,null]]"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestValuesJSON: NaN is null and back, as the server sends a grid.
func TestValuesJSON(t *testing.T) {
	in := `{"title":"x","rows":["L0"],"cols":["0","1"],"values":[[null,1.5]]}`
	var g Grid
	if err := json.Unmarshal([]byte(in), &g); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(g.Values[0][0]) || g.Values[0][1] != 1.5 {
		t.Fatalf("decoded %v", g.Values)
	}
	out, err := json.Marshal(g)
	if err != nil || string(out) != in {
		t.Errorf("encoded %s (%v), want %s", out, err, in)
	}
}

// fmtGrid is "title|rowtitle×coltitle|rows|cols|values".
func fmtGrid(g Grid) string {
	v, _ := json.Marshal(g.Values)
	return g.Title + "|" + g.RowTitle + "×" + g.ColTitle + "|" + strings.Join(g.Rows, ",") + "|" + strings.Join(g.Cols, ",") + "|" + string(v)
}
