package atlas

import (
	"math"
	"sort"
	"sync"

	"github.com/glia-dev/glia/engine/cpu/vecmath"
)

// Settings fix what an atlas records; two atlases merge only when their
// settings are equal.
type Settings struct {
	Hooks     []HookSpec `json:"hooks"`
	Ctx       int        `json:"ctx"`       // window length in tokens
	TopK      int        `json:"top_k"`     // top activating examples per unit
	Radius    int        `json:"radius"`    // W: tokens kept either side of an example's token
	Threshold float32    `json:"threshold"` // density is also counted above this
	RandomK   int        `json:"random_k"`  // random examples per unit
	Bands     int        `json:"bands"`     // activation bands (octaves below the max) sampled per unit
	BandK     int        `json:"band_k"`    // examples per band
}

// HookSpec is one recorded hook and its number of units.
type HookSpec struct {
	Name  string `json:"name"`
	Width int    `json:"width"`
	// Axes are the hook's axes after [batch, pos] when it has more than one
	// (attention's [n_heads, d_head]); unit u is then the row-major flat
	// index, u = head*d_head + i for [batch, pos, head, d_head].
	Axes []int `json:"axes,omitempty"`
}

// Index splits a flat unit number into one index per axis (nil for a hook
// with one feature axis).
func (h HookSpec) Index(unit int) []int {
	if len(h.Axes) < 2 {
		return nil
	}
	idx := make([]int, len(h.Axes))
	for i := len(h.Axes) - 1; i >= 0; i-- {
		idx[i] = unit % h.Axes[i]
		unit /= h.Axes[i]
	}
	return idx
}

func (s Settings) span() int  { return 2*s.Radius + 1 }
func (s Settings) slots() int { return s.TopK + s.RandomK + s.Bands*s.BandK }

const noOct = math.MinInt32 / 2

// sample is one stored example: a token position with the unit's activation.
type sample struct {
	act  float32
	slot int32  // where its span lives in the hook's slot arrays
	key  uint64 // position key (shard, window, pos)
	h    uint64 // sampling hash (random and band samples)
}

// Orderings: worseTop is true when a should leave the top-k before b.
func worseTop(a, b *sample) bool {
	return a.act < b.act || (a.act == b.act && a.key > b.key)
}

func worseHash(a, b *sample) bool {
	return a.h > b.h || (a.h == b.h && a.key > b.key)
}

// worse is worseHash when byHash, else worseTop. heapInsert takes the flag
// rather than a func value: through a func value its candidate would
// escape, an allocation per offer.
func worse(a, b *sample, byHash bool) bool {
	if byHash {
		return worseHash(a, b)
	}
	return worseTop(a, b)
}

// heapInsert offers c to the bounded heap h[:*n] (capacity len(h)) whose root
// is its worst element (by worse with byHash). It returns the slot c now
// uses, or -1 if rejected. firstSlot is the slot of heap position 0 for a
// fresh heap.
func heapInsert(h []sample, n *int32, c sample, firstSlot int32, byHash bool) int32 {
	if int(*n) < len(h) {
		i := int(*n)
		c.slot = firstSlot + int32(i)
		h[i] = c
		*n++
		for i > 0 {
			p := (i - 1) / 2
			if !worse(&h[i], &h[p], byHash) {
				break
			}
			h[i], h[p] = h[p], h[i]
			i = p
		}
		return c.slot
	}
	if len(h) == 0 || !worse(&h[0], &c, byHash) {
		return -1
	}
	c.slot = h[0].slot
	h[0] = c
	i, m := 0, len(h)
	for {
		l := 2*i + 1
		if l >= m {
			break
		}
		j := l
		if r := l + 1; r < m && worse(&h[r], &h[l], byHash) {
			j = r
		}
		if !worse(&h[j], &h[i], byHash) {
			break
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
	return c.slot
}

// hookState is the streaming state of one hook's units.
type hookState struct {
	spec  HookSpec
	set   *Settings
	span  int
	slots int

	count        int64
	mean, m2     []float64
	mn, mx       []float32
	npos, nabove []int64
	// hist counts in uint32 (half the memory of a wide model's largest
	// per-unit array); spill moves them into histHi, allocated only when a
	// build or merge passes 2^32-1 tokens since the last spill.
	hist      []uint32
	histHi    []uint64
	spilledAt int64 // count at the last spill
	useed     []uint64
	maxOct    []int32
	top       []sample
	topN      []int32
	topMin    []float32
	rnd       []sample
	rndN      []int32
	rndMax    []uint64
	band      []sample
	bandN     []int32
	bandOct   []int32
	bandMax   []uint64
	// act holds each slot's span of the unit's activations around its
	// example; the span's tokens and documents live once in the window
	// store, referenced by the sample's key.
	act []float32

	// Units whose examples changed since the last checkpoint (each unit is
	// only touched by the worker that owns it), and whether the database
	// has none of this state's examples yet: checkpoints then rewrite only
	// what changed, which on wide models is most of their cost.
	dirty    []bool
	allDirty bool
	exSum    []uint64 // each unit's examples row term of the stored checksum

	ring [256]int32 // octave+127 -> its band's ring slot (octave mod Bands)
}

func newHookState(spec HookSpec, set *Settings) *hookState {
	d := spec.Width
	s := &hookState{spec: spec, set: set, span: set.span(), slots: set.slots(), allDirty: true}
	s.dirty = make([]bool, d)
	s.exSum = make([]uint64, d)
	s.mean = make([]float64, d)
	s.m2 = make([]float64, d)
	s.mn = make([]float32, d)
	s.mx = make([]float32, d)
	s.npos = make([]int64, d)
	s.nabove = make([]int64, d)
	s.hist = make([]uint32, d*NumBins)
	s.useed = make([]uint64, d)
	s.maxOct = make([]int32, d)
	s.top = make([]sample, d*set.TopK)
	s.topN = make([]int32, d)
	s.topMin = make([]float32, d)
	s.rnd = make([]sample, d*set.RandomK)
	s.rndN = make([]int32, d)
	s.rndMax = make([]uint64, d)
	nb := d * set.Bands
	s.band = make([]sample, nb*set.BandK)
	s.bandN = make([]int32, nb)
	s.bandOct = make([]int32, nb)
	s.bandMax = make([]uint64, nb)
	ns := d * s.slots
	s.act = make([]float32, ns*s.span)
	for u := 0; u < d; u++ {
		s.mn[u] = float32(math.Inf(1))
		s.mx[u] = float32(math.Inf(-1))
		s.useed[u] = unitSeed(spec.Name, u)
		s.maxOct[u] = noOct
		s.topMin[u] = float32(math.Inf(-1))
		s.rndMax[u] = math.MaxUint64
	}
	for i := range s.ring {
		s.ring[i] = mod32(int32(i)-127, int32(max(set.Bands, 1)))
	}
	for i := range s.bandOct {
		s.bandOct[i] = noOct
		s.bandMax[i] = math.MaxUint64
	}
	return s
}

// batch is one forward pass's input and the per-token keys.
type batch struct {
	ids    [][]int32
	docs   [][]int64
	keys   []uint64 // per (b, t), row-major
	hash   []uint64 // per (b, t)
	b, t   int
	tokens int64
}

// tileBufs holds the unit-major copies of activation tiles (see update).
var tileBufs sync.Pool

// updateTile is the number of units update copies out of the batch at a time:
// one cache line of each row, so the rows are read once, whole lines.
const updateTile = 16

// update folds the batch's activations of units [lo, hi) into the state.
//
// The activations are row-major, so one unit's rows lie d floats apart,
// too far for the hardware prefetcher; update therefore copies a tile of
// units, all rows, into a small unit-major buffer and folds each unit in
// turn with its running state in registers. A unit sees its rows in the
// same order as a row-by-row walk would give, so every statistic and
// example is the same to the bit.
func (s *hookState) update(lo, hi int, acts []float32, bt *batch) {
	d := s.spec.Width
	rows := bt.b * bt.t
	bp, _ := tileBufs.Get().(*[]float32)
	if bp == nil || cap(*bp) < updateTile*rows {
		b := make([]float32, updateTile*rows)
		bp = &b
	}
	buf := (*bp)[:updateTile*rows]
	for t0 := lo; t0 < hi; t0 += updateTile {
		k := min(updateTile, hi-t0)
		vecmath.Transpose(buf, rows, acts[t0:], d, rows, k)
		for i := 0; i < k; i++ {
			s.updateUnit(t0+i, buf[i*rows:(i+1)*rows], bt)
		}
	}
	tileBufs.Put(bp)
}

// updateUnit folds unit u's activations xs (one per row of the batch) into
// its state: scan walks the rows until one that raises the band window or
// may enter an example heap, offerRow takes that row, and the scan goes on
// from the next. The scan makes no call, so the compiler keeps its running
// state in registers; offerRow may move topMin, rndMax and maxOct, so they
// are reloaded after it.
func (s *hookState) updateUnit(u int, xs []float32, bt *batch) {
	nb := s.set.Bands
	thr := s.set.Threshold
	sc := unitScan{
		xs: xs, hash: bt.hash[:len(xs)], hist: s.hist[u*NumBins : (u+1)*NumBins],
		bandMax: s.bandMax[u*nb : (u+1)*nb], ring: &s.ring, nb: uint32(nb), useed: s.useed[u],
		thr: thr, thrBits: int64(int32(math.Float32bits(thr))), thrPos: thr >= 0,
		mn: s.mn[u], mx: s.mx[u], npos: s.npos[u], nabove: s.nabove[u],
		topMin: s.topMin[u], rndMax: s.rndMax[u], maxOct: s.maxOct[u],
	}
	for r := sc.scan(0); r < len(xs); r = sc.scan(r + 1) {
		s.offerRow(u, r, xs[r], sc.h, sc.raise, xs, bt)
		sc.topMin, sc.rndMax, sc.maxOct = s.topMin[u], s.rndMax[u], s.maxOct[u]
	}
	s.mn[u], s.mx[u] = sc.mn, sc.mx
	s.npos[u], s.nabove[u] = sc.npos, sc.nabove
	// Fold the batch sums into the running mean and M2 (Chan et al.).
	n := float64(len(xs))
	mb := sc.sum / n
	m2b := sc.sq - sc.sum*mb
	if m2b < 0 {
		m2b = 0
	}
	s.combine(u, float64(s.count), n, mb, m2b)
}

// unitScan is one unit's running state while updateUnit scans its rows.
type unitScan struct {
	xs      []float32
	hash    []uint64 // the rows' position hashes
	hist    []uint32
	bandMax []uint64 // the unit's band bounds
	ring    *[256]int32
	nb      uint32
	useed   uint64
	thr     float32
	thrBits int64
	thrPos  bool

	sum, sq      float64 // of the batch's rows
	mn, mx       float32
	npos, nabove int64
	topMin       float32
	rndMax       uint64
	maxOct       int32
	// Set for the row scan stops at: its sampling hash, and whether it
	// raises the band window.
	h     uint64
	raise bool
}

// scan folds rows r, r+1, ... into the statistics until one that raises
// the band window or may enter the top-k, random or band samples, and
// returns that row (len(xs) if none); that row's statistics are counted.
func (sc *unitScan) scan(r int) int {
	xs, hash, hist, bandMax, ring := sc.xs, sc.hash[:len(sc.xs)], sc.hist[:NumBins], sc.bandMax, sc.ring
	nb, useed, thr, thrBits, thrPos := sc.nb, sc.useed, sc.thr, sc.thrBits, sc.thrPos
	sum, sq, mn, mx, npos, nabove := sc.sum, sc.sq, sc.mn, sc.mx, sc.npos, sc.nabove
	topMin, rndMax, maxOct := sc.topMin, sc.rndMax, sc.maxOct
	for ; r < len(xs); r++ {
		x := xs[r]
		xf := float64(x)
		sum += xf
		sq += xf * xf
		if x < mn {
			mn = x
		}
		bits := math.Float32bits(x)
		hist[binTable[bits>>21]]++
		// Branch-free counts: the sign of x is unpredictable.
		pos := uint64(-int64(int32(bits))>>63) & 1 // x > 0
		npos += int64(pos)
		if thrPos {
			nabove += (thrBits - int64(int32(bits))) >> 63 & 1
		} else if x > thr {
			nabove++
		}
		raise := false
		if x > mx {
			mx = x
			raise = x > 0 && int32(octave(x)) > maxOct
		}
		h := sampleHash(hash[r], useed)
		// Band sample: x > 0, its octave within Bands of the max, and a
		// hash below the band's current bound.
		e := bits >> 23 & 0xff
		in := uint64(0)
		if uint32(maxOct-(int32(e)-127)) < nb {
			in = pos
		}
		if raise || x > topMin || h < rndMax || h|(in-1) < bandMax[ring[e]] {
			sc.h, sc.raise = h, raise
			break
		}
	}
	sc.sum, sc.sq, sc.mn, sc.mx, sc.npos, sc.nabove = sum, sq, mn, mx, npos, nabove
	return r
}

// offerRow raises unit u's band window to x's octave if raise, then offers
// x (row r, sampling hash h) to the top-k, random and band samples that
// would take it, in that order; col is the unit's activations by row.
func (s *hookState) offerRow(u, r int, x float32, h uint64, raise bool, col []float32, bt *batch) {
	o := int32(octave(x))
	if raise {
		s.raiseOct(u, o)
	}
	key := bt.keys[r]
	if x > s.topMin[u] {
		s.offerTop(u, sample{act: x, key: key}, col, r, bt)
	}
	if h < s.rndMax[u] {
		s.offerRnd(u, sample{act: x, key: key, h: h}, col, r, bt)
	}
	nb := s.set.Bands
	if int32(math.Float32bits(x)) > 0 && uint32(s.maxOct[u]-o) < uint32(nb) { // x > 0, within the window
		if p := u*nb + int(s.ring[o+127]); h < s.bandMax[p] {
			s.offerBand(u, p, o, sample{act: x, key: key, h: h}, col, r, bt)
		}
	}
}

func (s *hookState) combine(u int, na, nb, mb, m2b float64) {
	if nb == 0 {
		return
	}
	if na == 0 {
		s.mean[u], s.m2[u] = mb, m2b
		return
	}
	delta := mb - s.mean[u]
	n := na + nb
	s.mean[u] += delta * nb / n
	s.m2[u] += m2b + delta*delta*na*nb/n
}

func mod32(a, n int32) int32 {
	m := a % n
	if m < 0 {
		m += n
	}
	return m
}

// raiseOct moves unit u's band window up to top octave o, dropping bands
// that fall out of it.
func (s *hookState) raiseOct(u int, o int32) {
	nb := int32(s.set.Bands)
	s.maxOct[u] = o
	s.dirty[u] = true
	for p := int32(0); p < nb; p++ {
		i := u*int(nb) + int(p)
		if s.bandOct[i] != noOct && o-s.bandOct[i] >= nb {
			s.bandOct[i] = noOct
			s.bandN[i] = 0
			s.bandMax[i] = math.MaxUint64
		}
	}
}

func (s *hookState) offerTop(u int, c sample, col []float32, r int, bt *batch) {
	k := s.set.TopK
	h := s.top[u*k : u*k+k]
	slot := heapInsert(h, &s.topN[u], c, int32(u*s.slots), false)
	if slot < 0 {
		return
	}
	s.dirty[u] = true
	if int(s.topN[u]) == k {
		s.topMin[u] = h[0].act
	}
	s.fill(slot, col, r, bt)
}

func (s *hookState) offerRnd(u int, c sample, col []float32, r int, bt *batch) {
	k := s.set.RandomK
	h := s.rnd[u*k : u*k+k]
	slot := heapInsert(h, &s.rndN[u], c, int32(u*s.slots+s.set.TopK), true)
	if slot < 0 {
		return
	}
	s.dirty[u] = true
	if int(s.rndN[u]) == k {
		s.rndMax[u] = h[0].h
	}
	s.fill(slot, col, r, bt)
}

func (s *hookState) offerBand(u, p int, o int32, c sample, col []float32, r int, bt *batch) {
	k := s.set.BandK
	ring := p - u*s.set.Bands
	h := s.band[p*k : p*k+k]
	if s.bandOct[p] != o {
		s.dirty[u] = true
	}
	s.bandOct[p] = o
	slot := heapInsert(h, &s.bandN[p], c, int32(u*s.slots+s.set.TopK+s.set.RandomK+ring*k), true)
	if slot < 0 {
		return
	}
	s.dirty[u] = true
	if int(s.bandN[p]) == k {
		s.bandMax[p] = h[0].h
	}
	s.fill(slot, col, r, bt)
}

// fill copies the unit's activations in the span around row r (batch b,
// position t) into a slot; col holds the unit's activations, one per row.
func (s *hookState) fill(slot int32, col []float32, r int, bt *batch) {
	b, t := r/bt.t, r%bt.t
	lo, hi := s.set.spanOf(t, bt.t)
	off := int(slot) * s.span
	copy(s.act[off:off+hi-lo], col[b*bt.t+lo:b*bt.t+hi])
}

// spanOf is the span [lo, hi) of window positions kept around position t
// of a window of n tokens.
func (s Settings) spanOf(t, n int) (lo, hi int) {
	return max(0, t-s.Radius), min(n, t+s.Radius+1)
}

// Example kinds.
const (
	KindTop    = "top"
	KindRandom = "random"
	KindBand   = "band"
)

// exampleRow is one stored example: its sample (activation, position key,
// hash) and the unit's activations over its span, which starts at
// Settings.spanOf of its position; the span's tokens are in its window.
type exampleRow struct {
	kind string
	band int32 // octave for band examples
	rank int
	s    sample
	acts []float32
}

// eachGroup calls fn with each group of unit u's samples in storage order:
// top, random, then the bands from the top octave down (unsorted within).
func (s *hookState) eachGroup(u int, fn func(kind string, band int32, h []sample)) {
	k := s.set.TopK
	fn(KindTop, 0, s.top[u*k:u*k+int(s.topN[u])])
	k = s.set.RandomK
	fn(KindRandom, 0, s.rnd[u*k:u*k+int(s.rndN[u])])
	nb := s.set.Bands
	for o := s.maxOct[u]; s.maxOct[u] != noOct && o > s.maxOct[u]-int32(nb); o-- {
		p := u*nb + int(mod32(o, int32(nb)))
		if s.bandOct[p] != o {
			continue
		}
		k = s.set.BandK
		fn(KindBand, o, s.band[p*k:p*k+int(s.bandN[p])])
	}
}

// examples lists unit u's examples in storage order: top by activation
// (ties by position), random and band samples by hash. winLen gives the
// length of the window a key points into (which bounds the span).
func (s *hookState) examples(u int, winLen func(key uint64) int) []exampleRow {
	var out []exampleRow
	s.eachGroup(u, func(kind string, band int32, h []sample) {
		worse := worseHash
		if kind == KindTop {
			worse = worseTop
		}
		c := append([]sample(nil), h...)
		sort.Slice(c, func(i, j int) bool { return worse(&c[j], &c[i]) })
		for i, x := range c {
			off := int(x.slot) * s.span
			lo, hi := s.set.spanOf(int(x.key&(1<<posBits-1)), winLen(x.key))
			out = append(out, exampleRow{kind: kind, band: band, rank: i, s: x, acts: s.act[off : off+max(0, hi-lo)]})
		}
	})
	return out
}

// restore puts a stored example back (when loading a checkpoint or merging);
// the key may be shifted to another shard numbering.
func (s *hookState) restore(u int, e exampleRow) {
	var slot int32
	switch e.kind {
	case KindTop:
		k := s.set.TopK
		h := s.top[u*k : u*k+k]
		slot = heapInsert(h, &s.topN[u], e.s, int32(u*s.slots), false)
		if int(s.topN[u]) == k {
			s.topMin[u] = h[0].act
		}
	case KindRandom:
		k := s.set.RandomK
		h := s.rnd[u*k : u*k+k]
		slot = heapInsert(h, &s.rndN[u], e.s, int32(u*s.slots+s.set.TopK), true)
		if int(s.rndN[u]) == k {
			s.rndMax[u] = h[0].h
		}
	case KindBand:
		nb := int32(s.set.Bands)
		if s.maxOct[u] == noOct || s.maxOct[u]-e.band >= nb || e.band > s.maxOct[u] {
			return
		}
		p := u*int(nb) + int(mod32(e.band, nb))
		k := s.set.BandK
		ring := p - u*int(nb)
		h := s.band[p*k : p*k+k]
		s.bandOct[p] = e.band
		slot = heapInsert(h, &s.bandN[p], e.s, int32(u*s.slots+s.set.TopK+s.set.RandomK+ring*k), true)
		if int(s.bandN[p]) == k {
			s.bandMax[p] = h[0].h
		}
	}
	if slot < 0 {
		return
	}
	off := int(slot) * s.span
	n := min(len(e.acts), s.span)
	copy(s.act[off:off+n], e.acts[:n])
}

// setStats sets unit u's statistics (loading); maxOct follows from max.
func (s *hookState) setStats(u int, st unitStats) {
	s.mean[u], s.m2[u] = st.mean, st.m2
	s.mn[u], s.mx[u] = st.min, st.max
	s.npos[u], s.nabove[u] = st.npos, st.nabove
	clear(s.hist[u*NumBins : (u+1)*NumBins])
	if s.histHi != nil {
		clear(s.histHi[u*NumBins : (u+1)*NumBins])
	}
	s.addHist(u, st.hist)
	s.maxOct[u] = noOct
	if st.max > 0 {
		s.maxOct[u] = int32(octave(st.max))
	}
}

// unitStats are one unit's accumulated statistics.
type unitStats struct {
	count        int64
	mean, m2     float64
	min, max     float32
	npos, nabove int64
	hist         []uint64
}

// stats returns unit u's statistics, its histogram in buf (NumBins long;
// nil: a new one).
func (s *hookState) stats(u int, buf []uint64) unitStats {
	if buf == nil {
		buf = make([]uint64, NumBins)
	}
	lo := s.hist[u*NumBins : (u+1)*NumBins]
	for i, c := range lo {
		buf[i] = uint64(c)
	}
	if s.histHi != nil {
		for i, c := range s.histHi[u*NumBins : (u+1)*NumBins] {
			buf[i] += c
		}
	}
	return unitStats{count: s.count, mean: s.mean[u], m2: s.m2[u], min: s.mn[u], max: s.mx[u],
		npos: s.npos[u], nabove: s.nabove[u], hist: buf}
}

// addHist adds counts to unit u's histogram, spilling a bin that would
// pass the uint32 range.
func (s *hookState) addHist(u int, counts []uint64) {
	lo := s.hist[u*NumBins : (u+1)*NumBins]
	for i, c := range counts {
		v := uint64(lo[i]) + c
		if v <= math.MaxUint32 {
			lo[i] = uint32(v)
			continue
		}
		if s.histHi == nil {
			s.histHi = make([]uint64, len(s.hist))
		}
		s.histHi[u*NumBins+i] += v
		lo[i] = 0
	}
}

// spillIfNear moves the uint32 histogram counts into histHi when the next
// rows tokens could overflow them: a bin counts at most one per token, so
// a spill every 2^32-1 tokens is enough.
func (s *hookState) spillIfNear(rows int64) {
	if s.count-s.spilledAt+rows <= math.MaxUint32 {
		return
	}
	if s.histHi == nil {
		s.histHi = make([]uint64, len(s.hist))
	}
	for i, c := range s.hist {
		s.histHi[i] += uint64(c)
	}
	clear(s.hist)
	s.spilledAt = s.count
}

// mergeStats folds b's statistics into unit u (b comes after the current state).
func (s *hookState) mergeStats(u int, na int64, b unitStats) {
	s.combine(u, float64(na), float64(b.count), b.mean, b.m2)
	s.mn[u] = min(s.mn[u], b.min)
	if b.max > s.mx[u] {
		s.mx[u] = b.max
		if b.max > 0 {
			if o := int32(octave(b.max)); o > s.maxOct[u] {
				s.raiseOct(u, o)
			}
		}
	}
	s.npos[u] += b.npos
	s.nabove[u] += b.nabove
	s.addHist(u, b.hist)
}
