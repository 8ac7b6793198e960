package explain

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"

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

// repCache keeps residual vectors by layer and token prefix: the top
// examples of different units of one layer often end at the same tokens.
type repCache struct {
	mu     sync.Mutex
	m      map[string][]float32
	floats int
}

const maxCacheFloats = 1 << 25 // 128 MiB

func (c *repCache) get(k string) ([]float32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *repCache) put(k string, v []float32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || c.floats+len(v) > maxCacheFloats {
		c.m, c.floats = map[string][]float32{}, 0
	}
	c.m[k] = v
	c.floats += len(v)
}

func prefixKey(layer int, toks []int32) string {
	b := make([]byte, 0, 4+4*len(toks))
	b = binary.LittleEndian.AppendUint32(b, uint32(layer))
	for _, t := range toks {
		b = binary.LittleEndian.AppendUint32(b, uint32(t))
	}
	return string(b)
}

// representations of the top examples at their max token: the residual
// stream entering the unit's layer when a model is given (the span alone is
// run: context before the stored span is not seen), else a bag of the tokens
// at and just before the max token.
func representations(m *engine.Model, cache *repCache, hook string, top []atlas.Example) ([][]float64, string, error) {
	if layer, ok := ParseMLPHook(hook); ok && m != nil && len(top) > 0 {
		h := fmt.Sprintf("blocks.%d.hook_resid_pre", layer)
		vecs := make([][]float32, len(top))
		var todo []int
		for i, e := range top {
			// Attention is causal: tokens after the max token do not matter.
			if v, ok := cache.get(prefixKey(layer, e.Tokens[:min(len(e.Tokens), e.Center+1)])); ok {
				vecs[i] = v
			} else {
				todo = append(todo, i)
			}
		}
		if len(todo) > 0 {
			// Pad to few shapes (each new shape compiles a graph): lengths to
			// a multiple of 16, the batch to a multiple of 8.
			n := 0
			for _, i := range todo {
				n = max(n, top[i].Center+1)
			}
			n = (n + 15) / 16 * 16
			if d := m.Dims().MaxCtx; d > 0 && n > d {
				n = d
			}
			b := (len(todo) + 7) / 8 * 8
			ids := make([][]int32, b)
			mask := make([][]bool, b)
			for r := range b {
				ids[r] = make([]int32, n)
				mask[r] = make([]bool, n)
				mask[r][0] = true
				if r < len(todo) {
					e := top[todo[r]]
					k := copy(ids[r], e.Tokens[:min(len(e.Tokens), e.Center+1)])
					for j := range k {
						mask[r][j] = true
					}
				}
			}
			res, err := m.Run(engine.Request{IDs: ids, Mask: mask, Hooks: []string{h}, NoLogits: true})
			if err != nil {
				return nil, "", err
			}
			a := res.Acts[h]
			d := a.Shape[2]
			for r, i := range todo {
				e := top[i]
				v := append([]float32(nil), a.Data[(r*n+e.Center)*d:(r*n+e.Center+1)*d]...)
				vecs[i] = v
				cache.put(prefixKey(layer, e.Tokens[:min(len(e.Tokens), e.Center+1)]), v)
			}
		}
		out := make([][]float64, len(top))
		for i, v := range vecs {
			out[i] = make([]float64, len(v))
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
func facets(m *engine.Model, cache *repCache, hook string, top []atlas.Example, maxK int, seed uint64) (*Facets, error) {
	if len(top) == 0 {
		return &Facets{}, nil
	}
	x, rep, err := representations(m, cache, hook, top)
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
