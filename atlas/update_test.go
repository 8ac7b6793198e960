package atlas

import (
	"fmt"
	"math"
	"reflect"
	"testing"
)

// rowWalkUpdate is the straightforward form of (*hookState).update: every
// row of the batch in turn, every unit of [lo, hi) within it, state read and
// written in place, example spans copied out of the row-major activations.
func rowWalkUpdate(s *hookState, lo, hi int, acts []float32, bt *batch) {
	d := s.spec.Width
	nb := s.set.Bands
	rows := bt.b * bt.t
	bsum := make([]float64, d)
	bsq := make([]float64, d)
	fill := func(slot int32, u, r int) {
		b, t := r/bt.t, r%bt.t
		from, to := s.set.spanOf(t, bt.t)
		for i := from; i < to; i++ {
			s.act[int(slot)*s.span+i-from] = acts[(b*bt.t+i)*d+u]
		}
	}
	for r := 0; r < rows; r++ {
		for u := lo; u < hi; u++ {
			x := acts[r*d+u]
			bsum[u] += float64(x)
			bsq[u] += float64(x) * float64(x)
			s.mn[u] = min(s.mn[u], x)
			if x > s.mx[u] {
				s.mx[u] = x
				if x > 0 && int32(octave(x)) > s.maxOct[u] {
					s.raiseOct(u, int32(octave(x)))
				}
			}
			s.hist[u*NumBins+binOf(x)]++
			c := sample{act: x, key: bt.keys[r]}
			if x > s.topMin[u] {
				k := s.set.TopK
				if slot := heapInsert(s.top[u*k:u*k+k], &s.topN[u], c, int32(u*s.slots), false); slot >= 0 {
					s.dirty[u] = true
					if int(s.topN[u]) == k {
						s.topMin[u] = s.top[u*k].act
					}
					fill(slot, u, r)
				}
			}
			c.h = sampleHash(bt.hash[r], s.useed[u])
			if c.h < s.rndMax[u] {
				k := s.set.RandomK
				if slot := heapInsert(s.rnd[u*k:u*k+k], &s.rndN[u], c, int32(u*s.slots+s.set.TopK), true); slot >= 0 {
					s.dirty[u] = true
					if int(s.rndN[u]) == k {
						s.rndMax[u] = s.rnd[u*k].h
					}
					fill(slot, u, r)
				}
			}
			if x > 0 {
				s.npos[u]++
			}
			if x > s.set.Threshold {
				s.nabove[u]++
			}
			o := int32(octave(x))
			ring := int(mod32(o, int32(nb)))
			p := u*nb + ring
			if x > 0 && s.maxOct[u]-o < int32(nb) && c.h < s.bandMax[p] {
				k := s.set.BandK
				if s.bandOct[p] != o {
					s.dirty[u] = true
				}
				s.bandOct[p] = o
				if slot := heapInsert(s.band[p*k:p*k+k], &s.bandN[p], c, int32(u*s.slots+s.set.TopK+s.set.RandomK+ring*k), true); slot >= 0 {
					s.dirty[u] = true
					if int(s.bandN[p]) == k {
						s.bandMax[p] = s.band[p*k].h
					}
					fill(slot, u, r)
				}
			}
		}
	}
	for u := lo; u < hi; u++ {
		mb := bsum[u] / float64(rows)
		s.combine(u, float64(s.count), float64(rows), mb, max(0, bsq[u]-bsum[u]*mb))
	}
}

// updateActs returns activations for a batch of rows x d with what the
// update must get right: ties, zeros of both signs, negatives, values past
// the histogram's ends and denormals, and a drift upwards from batch to
// batch so that maxima and band windows keep moving.
func updateActs(rows, d, batch int) []float32 {
	acts := make([]float32, rows*d)
	x := uint64(batch + 1)
	for i := range acts {
		x = mix64(x + uint64(i))
		switch x % 16 {
		case 0:
			acts[i] = 0
		case 1:
			acts[i] = float32(math.Copysign(0, -1))
		case 2:
			acts[i] = 0.75 // a tie between many rows and units
		case 3:
			acts[i] = float32(int64(x>>8%4096)-2048) * 1.5 // beyond ±1024
		case 4:
			acts[i] = math.Float32frombits(uint32(x>>40) & 0x7fffff) // denormal
		default:
			g := float64(int64(x>>8%20001)-10000) / 2000 * float64(1+batch)
			acts[i] = float32(g * 0.5 * (1 + math.Erf(g/math.Sqrt2)))
		}
	}
	return acts
}

// TestUpdateMatchesRowWalk checks the tiled update against rowWalkUpdate,
// to the bit, over widths and unit ranges that do not divide into tiles,
// on several batches (heaps filling, then replacing), with a positive,
// zero and negative threshold.
func TestUpdateMatchesRowWalk(t *testing.T) {
	for _, tc := range []struct {
		d      int
		cuts   []int // the unit ranges updated: [cuts[i], cuts[i+1])
		thr    float32
		bands  int
		b, ctx int
	}{
		{d: 16, cuts: []int{0, 16}, thr: 0.5, bands: 6, b: 2, ctx: 32},
		{d: 45, cuts: []int{0, 7, 30, 45}, thr: 0, bands: 3, b: 3, ctx: 20},
		{d: 37, cuts: []int{0, 37}, thr: -0.25, bands: 1, b: 1, ctx: 64},
		{d: 70, cuts: []int{0, 64, 70}, thr: 2, bands: 8, b: 4, ctx: 9},
	} {
		t.Run(fmt.Sprintf("d%d_thr%g", tc.d, tc.thr), func(t *testing.T) {
			set := &Settings{Ctx: tc.ctx, TopK: 5, Radius: 3, Threshold: tc.thr, RandomK: 4, Bands: tc.bands, BandK: 2}
			spec := HookSpec{Name: "h", Width: tc.d}
			set.Hooks = []HookSpec{spec}
			got, want := newHookState(spec, set), newHookState(spec, set)
			rows := tc.b * tc.ctx
			for n := 0; n < 6; n++ {
				bt := &batch{b: tc.b, t: tc.ctx, keys: make([]uint64, rows), hash: make([]uint64, rows), tokens: int64(rows)}
				for r := range bt.keys {
					bt.keys[r] = posKey(n%2, int64(n*tc.b+r/tc.ctx), r%tc.ctx)
					bt.hash[r] = posHash(uint64(n%2), int64(n*tc.b+r/tc.ctx), r%tc.ctx)
				}
				acts := updateActs(rows, tc.d, n)
				for i := 0; i+1 < len(tc.cuts); i++ {
					got.update(tc.cuts[i], tc.cuts[i+1], acts, bt)
					rowWalkUpdate(want, tc.cuts[i], tc.cuts[i+1], acts, bt)
				}
				got.count += bt.tokens
				want.count += bt.tokens
			}
			// DeepEqual takes -0 for 0: compare the float statistics' bits too.
			for _, f := range []struct {
				name      string
				got, want any
			}{
				{"mean", f64bits(got.mean), f64bits(want.mean)},
				{"m2", f64bits(got.m2), f64bits(want.m2)},
				{"min", f32bits(got.mn), f32bits(want.mn)},
				{"max", f32bits(got.mx), f32bits(want.mx)},
				{"act", f32bits(got.act), f32bits(want.act)},
				{"state", got, want},
			} {
				if !reflect.DeepEqual(f.got, f.want) {
					t.Errorf("%s differs from the row walk's", f.name)
				}
			}
			if want.topN[0] != int32(set.TopK) || want.rndN[0] != int32(set.RandomK) {
				t.Fatalf("unit 0 kept %d top and %d random examples: the heaps never filled", want.topN[0], want.rndN[0])
			}
		})
	}
}

func f64bits(v []float64) []uint64 {
	out := make([]uint64, len(v))
	for i, x := range v {
		out[i] = math.Float64bits(x)
	}
	return out
}

func f32bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}

// TestBinTable checks the table lookup against binOf for every float32
// with a few low mantissa patterns per top-11-bit prefix.
func TestBinTable(t *testing.T) {
	for hi := uint32(0); hi < 1<<11; hi++ {
		for _, lo := range []uint32{0, 1, 1<<21 - 1, 0x12345} {
			x := math.Float32frombits(hi<<21 | lo)
			if got, want := int(binTable[math.Float32bits(x)>>21]), binOf(x); got != want {
				t.Fatalf("bits %#08x: table gives bin %d, binOf %d", hi<<21|lo, got, want)
			}
		}
	}
}
