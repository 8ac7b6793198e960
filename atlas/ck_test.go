package atlas

import (
	"bytes"
	"fmt"
	"testing"
)

// appendBlob writes what encodeExamples writes of examples' rows, for
// every unit of states fed with synthetic batches, over whole windows and
// windows cut short (spans clipped, or empty when the window is unknown).
func TestAppendBlobMatchesRows(t *testing.T) {
	for _, tc := range []struct {
		name   string
		steps  int
		winLen func(ws *windowStore) func(uint64) int
	}{
		{"one batch", 1, func(ws *windowStore) func(uint64) int { return ws.length }},
		{"five batches", 5, func(ws *windowStore) func(uint64) int { return ws.length }},
		{"short windows", 3, func(*windowStore) func(uint64) int { return func(k uint64) int { return int(k>>posBits) % 40 } }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newBenchState(2, 40, 1)
			for i := 0; i < tc.steps; i++ {
				st.step()
			}
			winLen := tc.winLen(st.windows())
			var tmp []sample
			checked := 0
			for _, hs := range st.bd.hooks {
				for u := 0; u < hs.spec.Width; u++ {
					ex := hs.examples(u, winLen)
					want := encodeExamples(nil, ex)
					var got []byte
					var n int
					got, n, tmp = hs.appendBlob([]byte("x"), u, winLen, tmp)
					if !bytes.Equal(got[1:], want) || n != len(ex) {
						t.Fatalf("%s:%d: appendBlob gives %d bytes, %d examples; encodeExamples %d bytes, %d examples", hs.spec.Name, u, len(got)-1, n, len(want), len(ex))
					}
					if len(ex) > 0 {
						checked++
					}
				}
			}
			if checked == 0 {
				t.Fatal("no unit has examples: the test checks nothing")
			}
		})
	}
}

// Every band octave within Bands of the max keeps its examples, also when
// Bands passes 256 (the ring of band slots was once kept in bytes, which
// put octaves below 1 into slots the examples were never read from).
func TestBandsKeepEveryOctave(t *testing.T) {
	for _, bands := range []int{3, 300, 1000} {
		set := &Settings{Ctx: 4, TopK: 1, Radius: 0, RandomK: 0, Bands: bands, BandK: 1}
		hs := newHookState(HookSpec{Name: "h", Width: 1}, set)
		// Octaves 0, -1 and -2.
		acts := []float32{1, 0.5, 0.25, -1}
		bt := &batch{b: 1, t: 4, ids: [][]int32{make([]int32, 4)}, docs: [][]int64{make([]int64, 4)}, keys: make([]uint64, 4), hash: make([]uint64, 4), tokens: 4}
		for p := range 4 {
			bt.keys[p], bt.hash[p] = posKey(0, 0, p), posHash(1, 0, p)
		}
		hs.update(0, 1, acts, bt)
		var got []int32
		for _, e := range hs.examples(0, func(uint64) int { return 4 }) {
			if e.kind == KindBand {
				got = append(got, e.band)
			}
		}
		want := []int32{0, -1, -2}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("bands %d: band examples at octaves %v, want %v", bands, got, want)
		}
	}
}
