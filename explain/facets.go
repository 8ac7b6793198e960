package explain

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
)

// Facet is a cluster of a unit's top examples.
type Facet struct {
	Label    string  `json:"label"`
	Examples []int   `json:"examples"` // ranks of top examples
	MeanAct  float64 `json:"mean_activation"`
}

// Facets is the clustering of a unit's top examples.
type Facets struct {
	Representation string  `json:"representation"` // what was clustered
	Silhouette     float64 `json:"silhouette"`     // of the chosen k (0 for one facet)
	Facets         []Facet `json:"facets"`
}

// representations of the top examples at their max token: the residual
// stream entering the unit's layer when a model is given (the span alone is
// run: context before the stored span is not seen), else a bag of the tokens
// at and just before the max token.
func representations(m *engine.Model, hook string, top []atlas.Example) ([][]float64, string, error) {
	if layer, ok := ParseMLPHook(hook); ok && m != nil && len(top) > 0 {
		// Pad to few shapes (each new shape compiles a graph): lengths to a
		// multiple of 16, the batch to a multiple of 8.
		// Attention is causal: tokens after the max token do not matter.
		n := 0
		for _, e := range top {
			n = max(n, e.Center+1)
		}
		n = (n + 15) / 16 * 16
		if d := m.Dims().MaxCtx; d > 0 && n > d {
			n = d
		}
		b := (len(top) + 7) / 8 * 8
		ids := make([][]int32, b)
		mask := make([][]bool, b)
		for i := len(top); i < b; i++ {
			ids[i] = make([]int32, n)
			mask[i] = make([]bool, n)
			mask[i][0] = true
		}
		for i, e := range top {
			ids[i] = make([]int32, n)
			mask[i] = make([]bool, n)
			k := copy(ids[i], e.Tokens[:min(len(e.Tokens), e.Center+1)])
			for j := range k {
				mask[i][j] = true
			}
		}
		h := fmt.Sprintf("blocks.%d.hook_resid_pre", layer)
		res, err := m.Run(engine.Request{IDs: ids, Mask: mask, Hooks: []string{h}, NoLogits: true})
		if err != nil {
			return nil, "", err
		}
		a := res.Acts[h]
		d := a.Shape[2]
		out := make([][]float64, len(top))
		for i, e := range top {
			v := a.Data[(i*n+e.Center)*d : (i*n+e.Center+1)*d]
			out[i] = make([]float64, d)
			for k, x := range v {
				out[i][k] = float64(x)
			}
		}
		return normalise(out), h + " at the max token", nil
	}
	dims := map[int32]int{}
	for _, e := range top {
		for j := max(0, e.Center-3); j <= e.Center && j < len(e.Tokens); j++ {
			if _, ok := dims[e.Tokens[j]]; !ok {
				dims[e.Tokens[j]] = len(dims)
			}
		}
	}
	out := make([][]float64, len(top))
	for i, e := range top {
		out[i] = make([]float64, len(dims))
		for j := max(0, e.Center-3); j <= e.Center && j < len(e.Tokens); j++ {
			w := 0.5
			if j == e.Center {
				w = 1
			}
			out[i][dims[e.Tokens[j]]] += w
		}
	}
	return normalise(out), "bag of the max token and the 3 before it", nil
}

func normalise(vs [][]float64) [][]float64 {
	for _, v := range vs {
		var s float64
		for _, x := range v {
			s += x * x
		}
		if s > 0 {
			s = 1 / math.Sqrt(s)
			for i := range v {
				v[i] *= s
			}
		}
	}
	return vs
}

func dist2(a, b []float64) float64 {
	var s float64
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return s
}

// kmeans clusters with k-means++ seeding from seed; returns assignments.
func kmeans(x [][]float64, k int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, uint64(k)))
	n := len(x)
	cent := [][]float64{append([]float64(nil), x[rng.IntN(n)]...)}
	for len(cent) < k {
		d := make([]float64, n)
		var tot float64
		for i := range x {
			d[i] = math.Inf(1)
			for _, c := range cent {
				d[i] = min(d[i], dist2(x[i], c))
			}
			tot += d[i]
		}
		if tot == 0 {
			break
		}
		r := rng.Float64() * tot
		pick := n - 1
		for i := range d {
			r -= d[i]
			if r <= 0 {
				pick = i
				break
			}
		}
		cent = append(cent, append([]float64(nil), x[pick]...))
	}
	assign := make([]int, n)
	for it := 0; it < 100; it++ {
		changed := false
		for i := range x {
			best, bd := 0, math.Inf(1)
			for c := range cent {
				if d := dist2(x[i], cent[c]); d < bd {
					best, bd = c, d
				}
			}
			if assign[i] != best || it == 0 {
				changed = changed || assign[i] != best
				assign[i] = best
			}
		}
		for c := range cent {
			cnt := 0
			for k := range cent[c] {
				cent[c][k] = 0
			}
			for i := range x {
				if assign[i] == c {
					cnt++
					for k, v := range x[i] {
						cent[c][k] += v
					}
				}
			}
			if cnt > 0 {
				for k := range cent[c] {
					cent[c][k] /= float64(cnt)
				}
			}
		}
		if !changed && it > 0 {
			break
		}
	}
	return assign
}

// silhouette is the mean silhouette of a clustering (Euclidean).
func silhouette(x [][]float64, assign []int, k int) float64 {
	var tot float64
	for i := range x {
		sum := make([]float64, k)
		cnt := make([]int, k)
		for j := range x {
			if i != j {
				sum[assign[j]] += math.Sqrt(dist2(x[i], x[j]))
				cnt[assign[j]]++
			}
		}
		if cnt[assign[i]] == 0 {
			continue // a singleton scores 0
		}
		a := sum[assign[i]] / float64(cnt[assign[i]])
		b := math.Inf(1)
		for c := range k {
			if c != assign[i] && cnt[c] > 0 {
				b = min(b, sum[c]/float64(cnt[c]))
			}
		}
		if m := max(a, b); m > 0 && !math.IsInf(b, 1) {
			tot += (b - a) / m
		}
	}
	return tot / float64(len(x))
}

// minSilhouette is the least mean silhouette for more than one facet.
const minSilhouette = 0.15

// facets clusters the top examples into at most maxK facets: the k in 2..maxK
// with the best silhouette, if it reaches minSilhouette and every facet
// holds two examples or more; else one facet.
func facets(m *engine.Model, hook string, top []atlas.Example, maxK int, seed uint64) (*Facets, error) {
	if len(top) == 0 {
		return &Facets{}, nil
	}
	x, rep, err := representations(m, hook, top)
	if err != nil {
		return nil, err
	}
	assign := make([]int, len(top))
	bestK, bestS := 1, 0.0
	for k := 2; k <= maxK && 2*k <= len(top); k++ {
		a := kmeans(x, k, seed)
		cnt := make([]int, k)
		for _, c := range a {
			cnt[c]++
		}
		ok := true
		for _, c := range cnt {
			ok = ok && c >= 2
		}
		if !ok {
			continue
		}
		if s := silhouette(x, a, k); s >= minSilhouette && s > bestS+1e-9 {
			bestK, bestS, assign = k, s, a
		}
	}
	out := &Facets{Representation: rep, Silhouette: bestS}
	for c := 0; c < bestK; c++ {
		var f Facet
		var members []atlas.Example
		for i, e := range top {
			if assign[i] == c {
				f.Examples = append(f.Examples, e.Rank)
				f.MeanAct += float64(e.Activation)
				members = append(members, e)
			}
		}
		f.MeanAct /= float64(len(members))
		f.Label = facetLabel(members)
		out.Facets = append(out.Facets, f)
	}
	sort.SliceStable(out.Facets, func(i, j int) bool { return out.Facets[i].MeanAct > out.Facets[j].MeanAct })
	return out, nil
}

// facetLabel names a facet by its most common max tokens and the tokens
// before them.
func facetLabel(ex []atlas.Example) string {
	count := func(off int) []string {
		c := map[string]int{}
		for _, e := range ex {
			if j := e.Center + off; j >= 0 && j < len(e.Text) {
				c[e.Text[j]]++
			}
		}
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if c[keys[i]] != c[keys[j]] {
				return c[keys[i]] > c[keys[j]]
			}
			return keys[i] < keys[j]
		})
		var out []string
		for _, k := range keys[:min(2, len(keys))] {
			if c[k]*3 >= len(ex) || len(out) == 0 {
				out = append(out, fmt.Sprintf("%q", k))
			}
		}
		return out
	}
	s := strings.Join(count(0), " or ")
	if prev := count(-1); len(prev) > 0 {
		s += " after " + strings.Join(prev, " or ")
	}
	return fmt.Sprintf("%s (%d examples)", s, len(ex))
}
