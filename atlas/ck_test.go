package atlas

import (
	"bytes"
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
