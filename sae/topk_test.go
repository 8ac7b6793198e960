package sae

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTopK compares the quickselect with a full sort, ties and NaN included.
func TestTopK(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ n, k, levels int }{{1, 1, 0}, {10, 3, 0}, {256, 5, 0}, {65536, 1280, 0}, {1000, 100, 4}, {50, 50, 3}} {
		row := make([]float32, tc.n)
		for i := range row {
			row[i] = float32(rng.NormFloat64())
			if tc.levels > 0 {
				row[i] = float32(rng.IntN(tc.levels)) // many ties
			}
		}
		if tc.n > 3 {
			row[2] = float32(math.NaN())
		}
		want := make([]int32, tc.n)
		for i := range want {
			want[i] = int32(i)
		}
		key := func(i int32) float32 {
			if v := row[i]; v == v {
				return v
			}
			return float32(math.Inf(-1))
		}
		slices.SortStableFunc(want, func(a, b int32) int {
			switch ka, kb := key(a), key(b); {
			case ka > kb:
				return -1
			case ka < kb:
				return 1
			}
			return 0
		})
		got := make([]int32, tc.k)
		topK(row, got, make([]int32, tc.n))
		slices.Sort(got)
		w := slices.Clone(want[:tc.k])
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("n %d k %d: got %v…, want %v…", tc.n, tc.k, got[:min(8, len(got))], w[:min(8, len(w))])
		}
	}
}
