package atlas

import (
	"container/heap"
	"math"
	"slices"
)

// imgExemplar is one of a unit's top images.
type imgExemplar struct {
	act    float32 // the map's maximum (spatial max pooling)
	image  uint32  // index in the image set
	argmax uint32  // first cell holding the maximum, y*grid_w + x
	lo, hi float32 // the map's range; cell = lo + q/255·(hi-lo)
	q      []byte  // the map quantised to 8 bits, grid_h·grid_w cells
}

// better orders exemplars: higher activation, then the earlier image.
func (a *imgExemplar) better(b *imgExemplar) bool {
	return a.act > b.act || a.act == b.act && a.image < b.image
}

// quantise stores a map as 8-bit steps of its range: the mask threshold is
// then off by at most (hi-lo)/510, which Mask's callers are told.
func quantise(dst []byte, m []float32) (lo, hi float32) {
	lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range m {
		lo, hi = min(lo, v), max(hi, v)
	}
	span := float64(hi) - float64(lo)
	for i, v := range m {
		if span > 0 {
			dst[i] = byte(math.Round((float64(v) - float64(lo)) / span * 255))
		} else {
			dst[i] = 0
		}
	}
	return lo, hi
}

// dequantise is quantise's inverse, up to its step; the maximum (the
// exemplar's activation) comes back exactly.
func dequantise(q []byte, lo, hi float32) []float32 {
	out := make([]float32, len(q))
	for i, b := range q {
		out[i] = float32(float64(lo) + float64(b)/255*(float64(hi)-float64(lo)))
		if b == 255 {
			out[i] = hi
		}
	}
	return out
}

// topValues keeps the k largest values seen (a min-heap): with k = N -
// floor(q·(N-1)) they determine the q quantile of N values exactly.
type topValues struct {
	v []float32
	k int
}

func (t *topValues) Len() int           { return len(t.v) }
func (t *topValues) Less(i, j int) bool { return t.v[i] < t.v[j] }
func (t *topValues) Swap(i, j int)      { t.v[i], t.v[j] = t.v[j], t.v[i] }
func (t *topValues) Push(x any)         { t.v = append(t.v, x.(float32)) }
func (t *topValues) Pop() any           { x := t.v[len(t.v)-1]; t.v = t.v[:len(t.v)-1]; return x }

func (t *topValues) offer(x float32) {
	if len(t.v) < t.k {
		heap.Push(t, x)
	} else if x > t.v[0] {
		t.v[0] = x
		heap.Fix(t, 0)
	}
}

// quantileKeep is how many of the largest of n values the q quantile
// (linear interpolation, numpy's default) needs, and where it falls.
func quantileKeep(n int64, q float64) (k int64, frac float64) {
	pos := q * float64(n-1)
	lo := int64(math.Floor(pos))
	return n - lo, pos - float64(lo)
}

// quantile of the n values whose k largest t holds.
func (t *topValues) quantile(frac float64) float64 {
	v := slices.Clone(t.v)
	slices.Sort(v)
	if len(v) == 0 {
		return math.NaN()
	}
	if len(v) == 1 {
		return float64(v[0])
	}
	return float64(v[0]) + frac*(float64(v[1])-float64(v[0]))
}

// histQuantile reads the q quantile of n values off a histogram,
// interpolating linearly within the bin it falls in (infinite edges
// clamped to min and max). The error is at most the bin's width, returned.
func histQuantile(hist []uint64, q float64, mn, mx float32) (val, errBound float64) {
	var n uint64
	for _, c := range hist {
		n += c
	}
	if n == 0 {
		return math.NaN(), 0
	}
	rank := q * float64(n-1) // 0-based rank among the sorted values
	edges := HistEdges()
	var below uint64
	for i, c := range hist {
		if c == 0 || float64(below+c) <= rank {
			below += c
			continue
		}
		lo, hi := max(edges[i], float64(mn)), min(edges[i+1], float64(mx))
		if hi < lo {
			hi = lo
		}
		f := (rank - float64(below) + 0.5) / float64(c)
		return lo + min(max(f, 0), 1)*(hi-lo), hi - lo
	}
	return float64(mx), 0
}

// imgHookState is one hook's running state.
type imgHookState struct {
	h      ImageHook
	topK   int
	count  int64 // values per unit so far (images × cells)
	mean   []float64
	m2     []float64
	mn, mx []float32
	npos   []int64
	nabove []int64
	hist   []uint64 // units × NumBins
	exact  []topValues
	frac   float64 // where the quantile falls between the two smallest kept
	top    [][]imgExemplar
	buf    []float32
}

func newImgHookState(h ImageHook, topK int, exactK int64, frac float64) *imgHookState {
	s := &imgHookState{h: h, topK: topK, mean: make([]float64, h.Units), m2: make([]float64, h.Units),
		mn: make([]float32, h.Units), mx: make([]float32, h.Units), npos: make([]int64, h.Units), nabove: make([]int64, h.Units),
		hist: make([]uint64, h.Units*NumBins), top: make([][]imgExemplar, h.Units), buf: make([]float32, h.cells()), frac: frac}
	for u := range h.Units {
		s.mn[u], s.mx[u] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	if exactK > 0 {
		s.exact = make([]topValues, h.Units)
		for u := range s.exact {
			s.exact[u].k = int(exactK)
		}
	}
	return s
}

// unitMap copies unit u's map of one image out of the hook's values.
func (s *imgHookState) unitMap(acts []float32, u int) []float32 { return s.h.UnitMap(s.buf, acts, u) }

// perImage is the number of values one image gives the hook.
func (s *imgHookState) perImage() int {
	switch s.h.Layout {
	case LayoutPatches:
		return (1 + s.h.cells()) * s.h.Units
	default:
		return s.h.cells() * s.h.Units
	}
}

// update adds one image's values (the hook's layout, batch row removed).
func (s *imgHookState) update(image uint32, acts []float32, threshold float32) {
	nb := float64(s.h.cells())
	na := float64(s.count)
	for u := range s.h.Units {
		m := s.unitMap(acts, u)
		var sum float64
		best, arg := float32(math.Inf(-1)), 0
		hist := s.hist[u*NumBins : (u+1)*NumBins]
		for i, v := range m {
			sum += float64(v)
			if v > best {
				best, arg = v, i
			}
			s.mn[u], s.mx[u] = min(s.mn[u], v), max(s.mx[u], v)
			if v > 0 {
				s.npos[u]++
			}
			if v > threshold {
				s.nabove[u]++
			}
			hist[binOf(v)]++
		}
		mb := sum / nb
		var m2b float64
		for _, v := range m {
			d := float64(v) - mb
			m2b += d * d
		}
		n := na + nb
		delta := mb - s.mean[u]
		s.mean[u] += delta * nb / n
		s.m2[u] += m2b + delta*delta*na*nb/n
		if s.exact != nil {
			t := &s.exact[u]
			for _, v := range m {
				t.offer(v)
			}
		}
		s.offer(u, imgExemplar{act: best, image: image, argmax: uint32(arg)}, m)
	}
	s.count += int64(nb)
}

// offer keeps the exemplar if it is among the unit's TopK.
func (s *imgHookState) offer(u int, e imgExemplar, m []float32) {
	top := s.top[u]
	if len(top) == s.topK && !e.better(&top[len(top)-1]) {
		return
	}
	i := len(top)
	for i > 0 && e.better(&top[i-1]) {
		i--
	}
	if len(top) < s.topK {
		top = append(top, imgExemplar{})
	} else {
		e.q = top[len(top)-1].q // reuse the evicted map's bytes
	}
	copy(top[i+1:], top[i:len(top)-1])
	if e.q == nil {
		e.q = make([]byte, len(m))
	}
	e.lo, e.hi = quantise(e.q, m)
	top[i] = e
	s.top[u] = top
}

// stats is unit u's statistics in the text atlas' form.
func (s *imgHookState) stats(u int) unitStats {
	return unitStats{count: s.count, mean: s.mean[u], m2: s.m2[u], min: s.mn[u], max: s.mx[u],
		npos: s.npos[u], nabove: s.nabove[u], hist: s.hist[u*NumBins : (u+1)*NumBins]}
}

// quantile is unit u's quantile and its error bound (0: exact).
func (s *imgHookState) quantile(u int, q float64) (float64, float64) {
	if s.exact != nil {
		return s.exact[u].quantile(s.frac), 0
	}
	return histQuantile(s.hist[u*NumBins:(u+1)*NumBins], q, s.mn[u], s.mx[u])
}
