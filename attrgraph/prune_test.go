package attrgraph

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// sortThreshold is circuit-tracer's find_threshold as written: sort,
// cumulative sum over the total, first index reaching frac.
func sortThreshold(scores []float32, frac float64) float32 {
	s := slices.Clone(scores)
	slices.SortFunc(s, func(a, b float32) int { return cmp.Compare(float64(b), float64(a)) })
	var total float64
	for _, v := range s {
		total += float64(v)
	}
	var cum float64
	for i, v := range s {
		cum += float64(v)
		if cum >= frac*total {
			return s[i]
		}
	}
	return s[len(s)-1]
}

func TestThresholdMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name string
		n    int
		frac float64
		gen  func() float32
	}{
		{"uniform", 1000, 0.98, func() float32 { return rng.Float32() }},
		{"heavy-tail", 5000, 0.8, func() float32 { return float32(math.Exp(8 * rng.Float64())) }},
		{"ties", 777, 0.5, func() float32 { return float32(rng.IntN(4) + 1) }},
		{"one", 1, 0.98, func() float32 { return 2 }},
		{"all", 300, 1, func() float32 { return rng.Float32() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := make([]float32, tc.n)
			for i := range s {
				s[i] = tc.gen()
			}
			want := sortThreshold(s, tc.frac)
			if got := threshold(slices.Clone(s), tc.frac); got != want {
				t.Errorf("threshold %g, sort gives %g", got, want)
			}
		})
	}
}

// TestInfluenceMatchesInverse: on a random DAG the iteration equals
// w((I − A)⁻¹ − I) computed by Gauss-Jordan elimination of the dense
// normalised matrix.
func TestInfluenceMatchesInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, nl = 12, 2 // nodes, the last nl are logits (rows only)
	nc := n - nl
	// Rows for nodes 3..n-1 (0..2 are inputs); node i reads only j < i.
	var rows [][]float32
	var rowNode []int
	for i := 3; i < n; i++ {
		row := make([]float32, nc)
		for j := range min(i, nc) {
			if rng.Float64() < 0.6 {
				row[j] = float32(rng.NormFloat64())
			}
		}
		rows, rowNode = append(rows, row), append(rowNode, i)
	}
	w := make([]float64, len(rows))
	w[len(w)-2], w[len(w)-1] = 0.7, 0.3
	rowOf := slices.Clone(rowNode)
	for r := range rowOf {
		if rowOf[r] >= nc {
			rowOf[r] = -1
		}
	}
	got := influence(rows, rowScales(rows), rowOf, w, nc)

	A := make([][]float64, n)
	for i := range A {
		A[i] = make([]float64, n)
	}
	for r, row := range normRows(rows) {
		for j, v := range row {
			A[rowNode[r]][j] = float64(v)
		}
	}
	// M = (I − A)⁻¹ by Gauss-Jordan.
	M := make([][]float64, n)
	IA := make([][]float64, n)
	for i := range n {
		M[i], IA[i] = make([]float64, n), make([]float64, n)
		M[i][i] = 1
		for j := range n {
			IA[i][j] = -A[i][j]
		}
		IA[i][i]++
	}
	for c := range n {
		p := IA[c][c]
		for j := range n {
			IA[c][j] /= p
			M[c][j] /= p
		}
		for r := range n {
			if r != c && IA[r][c] != 0 {
				k := IA[r][c]
				for j := range n {
					IA[r][j] -= k * IA[c][j]
					M[r][j] -= k * M[c][j]
				}
			}
		}
	}
	wv := make([]float64, n)
	wv[n-2], wv[n-1] = 0.7, 0.3
	for j := range nc {
		var want float64
		for i := range n {
			e := M[i][j]
			if i == j {
				e--
			}
			want += wv[i] * e
		}
		if math.Abs(got[j]-want) > 1e-6 {
			t.Errorf("node %d: iteration %g, inverse %g", j, got[j], want)
		}
	}
}
