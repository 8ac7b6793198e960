package experiment

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/glia-dev/glia/engine"
)

func TestPatchCleanIntoCleanChangesNothing(t *testing.T) {
	for _, fam := range []string{"gpt2", "llama"} {
		m := fixture(t, fam)
		p := Pair{Clean: []int32{5, 6, 7, 8, 9}, Corrupt: []int32{5, 6, 7, 8, 9}, A: 3, B: 4}
		for _, per := range []struct {
			kind Kind
			per  Per
		}{{"resid_pre", "pos"}, {"z", "head"}, {"mlp_post", "neuron"}, {"attn_out", "layer"}} {
			r, err := Sweep(m, []Pair{p}, PatchOptions{Kind: per.kind, Per: per.per, Batch: 7})
			if err != nil {
				t.Fatal(err)
			}
			for l, row := range r.Pairs[0].Patched {
				for c, v := range row {
					if math.Abs(v-r.Pairs[0].Clean) > 1e-4 {
						t.Fatalf("%s %s/%s: cell %d,%d: %g, clean %g", fam, per.kind, per.per, l, c, v, r.Pairs[0].Clean)
					}
				}
			}
		}
	}
}

func TestPatchLayer0ResidPreReproducesClean(t *testing.T) {
	for _, fam := range []string{"gpt2", "llama"} {
		m := fixture(t, fam)
		p := Pair{Clean: []int32{5, 6, 7, 8, 9, 10}, Corrupt: []int32{5, 6, 70, 8, 9, 10}, A: 3, B: 4}
		r, err := Sweep(m, []Pair{p}, PatchOptions{Kind: "resid_pre", Per: "layer"})
		if err != nil {
			t.Fatal(err)
		}
		pp := r.Pairs[0]
		if math.Abs(pp.Clean-pp.Corrupt) < 1e-3 {
			t.Fatalf("%s: the corruption does not move the metric (%g vs %g)", fam, pp.Clean, pp.Corrupt)
		}
		if math.Abs(pp.Patched[0][0]-pp.Clean) > 1e-4 || math.Abs(pp.Effect[0][0]-1) > 1e-3 {
			t.Errorf("%s: patched %g effect %g, clean %g", fam, pp.Patched[0][0], pp.Effect[0][0], pp.Clean)
		}
		// Per position: only the corrupted position (2) and later matter at layer 0.
		rp, err := Sweep(m, []Pair{p}, PatchOptions{Kind: "resid_pre", Per: "pos", Batch: 5})
		if err != nil {
			t.Fatal(err)
		}
		for c := range 2 {
			if e := rp.Pairs[0].Effect[0][c]; math.Abs(e) > 1e-3 {
				t.Errorf("%s: patching position %d (identical tokens) has effect %g", fam, c, e)
			}
		}
		if e := rp.Pairs[0].Effect[0][2]; math.Abs(e-1) > 1e-3 {
			t.Errorf("%s: patching the corrupted position at layer 0 has effect %g, want 1", fam, e)
		}
	}
}

// TestPatchBatchedEqualsAlone: pairs of different lengths (and a pair whose
// clean and corrupt differ in length) give the same numbers together, in
// mixed batches, as one pair at a time with batch 1.
func TestPatchBatchedEqualsAlone(t *testing.T) {
	m := fixture(t, "llama")
	pairs := []Pair{
		{Clean: []int32{5, 6, 7, 8, 9}, Corrupt: []int32{5, 6, 70, 8, 9}, A: 3, B: 4},
		{Clean: []int32{11, 12, 13}, Corrupt: []int32{11, 40, 13}, A: 20, B: 21},
		{Clean: []int32{30, 31, 32, 33}, Corrupt: []int32{31, 50, 33}, A: 7, B: 9},
	}
	for _, o := range []PatchOptions{{Kind: "resid_pre", Per: "pos"}, {Kind: "z", Per: "head"}} {
		o.Batch = 5
		all, err := Sweep(m, pairs, o)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range pairs {
			o1 := o
			o1.Batch = 1
			one, err := Sweep(m, []Pair{p}, o1)
			if err != nil {
				t.Fatal(err)
			}
			a, b := all.Pairs[i], one.Pairs[0]
			if a.Len != b.Len || math.Abs(a.Clean-b.Clean) > 1e-4 || math.Abs(a.Corrupt-b.Corrupt) > 1e-4 {
				t.Fatalf("%s pair %d: len/clean/corrupt %d %g %g vs alone %d %g %g", o.Kind, i, a.Len, a.Clean, a.Corrupt, b.Len, b.Clean, b.Corrupt)
			}
			for l := range b.Patched {
				for c := range b.Patched[l] {
					x, y := a.Patched[l][c], b.Patched[l][c]
					if math.IsNaN(x) != math.IsNaN(y) || math.Abs(x-y) > 1e-4 {
						t.Errorf("%s pair %d cell %d,%d: batched %g, alone %g", o.Kind, i, l, c, x, y)
					}
				}
			}
		}
	}
}

// TestPatchSkipIsExact: a cell before the first differing position, which
// Sweep does not run, gives the corrupt metric when run.
func TestPatchSkipIsExact(t *testing.T) {
	m := fixture(t, "gpt2")
	p := Pair{Clean: []int32{5, 6, 7, 8, 9, 10}, Corrupt: []int32{5, 6, 7, 80, 9, 10}, A: 3, B: 4}
	r, err := Sweep(m, []Pair{p}, PatchOptions{Kind: "resid_mid", Per: "pos"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Skipped != 2*3 || r.Rows != 2*3 {
		t.Fatalf("skipped %d, rows %d", r.Skipped, r.Rows)
	}
	h := "blocks.1.hook_resid_mid"
	clean := run(t, m, [][]int32{p.Clean}, []string{h}).Acts[h]
	d := clean.Shape[2]
	mask := make([]bool, len(clean.Data))
	for j := 2 * d; j < 3*d; j++ {
		mask[j] = true
	}
	out, err := m.Run(engine.Request{IDs: [][]int32{p.Corrupt}, Interventions: []engine.Intervention{setRows(h, 1, d, mask, clean.Data, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := metricAt(out.Logits, 0, p); math.Abs(got-r.Pairs[0].Patched[1][2]) > 1e-5 || math.Abs(got-r.Pairs[0].Corrupt) > 1e-5 {
		t.Errorf("run %g, sweep %g, corrupt %g", got, r.Pairs[0].Patched[1][2], r.Pairs[0].Corrupt)
	}
}

// TestSweepStopsOnContext: a sweep whose context is done stops between
// forwards and says how far it got.
func TestSweepStopsOnContext(t *testing.T) {
	m := fixture(t, "gpt2")
	p := Pair{Clean: []int32{5, 6, 7, 8, 9}, Corrupt: []int32{5, 6, 70, 8, 9}, A: 3, B: 4}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("deadline of the test"))
	_, err := Sweep(m, []Pair{p}, PatchOptions{Kind: MLPPost, Per: PerNeuron, Batch: 2, Context: ctx})
	if err == nil || !strings.Contains(err.Error(), "sweep stopped after 0 of") || !strings.Contains(err.Error(), "deadline of the test") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Sweep(m, []Pair{p}, PatchOptions{Kind: MLPPost, Per: PerLayer, Context: context.Background()}); err != nil {
		t.Fatal(err)
	}
}
