package atlas

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
)

// A unit's examples are one blob (the examples table of schema 2), little
// endian:
//
//	u8   format (1)
//	u16  n_top, u16 n_random, u16 n_bands
//	n_bands × (i32 octave, u16 n)            band groups, highest octave first
//	then each example: top ones by rank, random ones by rank, then each
//	band group's by rank:
//	  f32  activation at the example's token
//	  u64  position key: shard<<48 | window<<13 | pos
//	  u64  sampling hash (random and band examples only)
//	  u16  n: span length
//	  n × f32  the unit's activations over the span
//
// The span starts at max(0, pos-radius); its tokens and documents are in
// the windows table under the window id key>>13.
const blobFormat = 1

// BlobError is a unit's examples blob that cannot be read: damaged, cut
// short, or written by other settings.
type BlobError struct {
	Path   string // the atlas, when known
	Hook   string
	Unit   int
	Offset int // byte offset in the blob
	Reason string
}

func (e *BlobError) Error() string {
	where := ""
	if e.Path != "" {
		where = e.Path + ": "
	}
	return fmt.Sprintf("atlas: %sthe examples of %s:%d are corrupted (byte %d: %s); rebuild the atlas", where, e.Hook, e.Unit, e.Offset, e.Reason)
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// encodeExamples appends unit u's examples blob to dst.
func encodeExamples(dst []byte, ex []exampleRow) []byte {
	var nTop, nRnd int
	type group struct {
		oct int32
		n   int
	}
	var groups []group
	for _, e := range ex {
		switch e.kind {
		case KindTop:
			nTop++
		case KindRandom:
			nRnd++
		case KindBand:
			if len(groups) == 0 || groups[len(groups)-1].oct != e.band {
				groups = append(groups, group{e.band, 0})
			}
			groups[len(groups)-1].n++
		}
	}
	le := binary.LittleEndian
	dst = append(dst, blobFormat)
	dst = le.AppendUint16(dst, uint16(nTop))
	dst = le.AppendUint16(dst, uint16(nRnd))
	dst = le.AppendUint16(dst, uint16(len(groups)))
	for _, g := range groups {
		dst = le.AppendUint32(dst, uint32(g.oct))
		dst = le.AppendUint16(dst, uint16(g.n))
	}
	for _, e := range ex {
		dst = le.AppendUint32(dst, math.Float32bits(e.s.act))
		dst = le.AppendUint64(dst, e.s.key)
		if e.kind != KindTop {
			dst = le.AppendUint64(dst, e.s.h)
		}
		dst = le.AppendUint16(dst, uint16(len(e.acts)))
		for _, a := range e.acts {
			dst = le.AppendUint32(dst, math.Float32bits(a))
		}
	}
	return dst
}

// blobReader reads a blob, failing with a BlobError on any size that does
// not fit what is left or what the settings allow.
type blobReader struct {
	b   []byte
	off int
	err *BlobError
}

func (r *blobReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = &BlobError{Offset: r.off, Reason: fmt.Sprintf(format, args...)}
	}
}

func (r *blobReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b)-r.off {
		r.fail("needs %d bytes, %d left", n, len(r.b)-r.off)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *blobReader) u16() int {
	if p := r.take(2); p != nil {
		return int(binary.LittleEndian.Uint16(p))
	}
	return 0
}

func (r *blobReader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (r *blobReader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// count reads a u16 count and checks it against its limit from the settings.
func (r *blobReader) count(what string, limit int) int {
	n := r.u16()
	if n > limit {
		r.fail("%d %s, the settings allow %d", n, what, limit)
		return 0
	}
	return n
}

// decodeExamples reads a blob written by encodeExamples under set. The
// error, a *BlobError, names the unit.
func decodeExamples(b []byte, set *Settings, hook string, unit int) ([]exampleRow, error) {
	r := &blobReader{b: b}
	if f := r.take(1); f != nil && f[0] != blobFormat {
		r.off--
		r.fail("format %d, this glia reads %d", f[0], blobFormat)
	}
	nTop := r.count("top examples", set.TopK)
	nRnd := r.count("random examples", set.RandomK)
	nGroups := r.count("bands", set.Bands)
	type group struct {
		oct int32
		n   int
	}
	groups := make([]group, 0, nGroups)
	total := nTop + nRnd
	for i := 0; i < nGroups && r.err == nil; i++ {
		g := group{oct: int32(r.u32())}
		g.n = r.count("band examples", set.BandK)
		groups = append(groups, g)
		total += g.n
	}
	// The smallest example is 14 bytes: refuse counts the rest cannot hold
	// before allocating for them.
	if r.err == nil && total*14 > len(b)-r.off {
		r.fail("%d examples cannot fit in the %d bytes left", total, len(b)-r.off)
	}
	if r.err != nil {
		return nil, r.named(hook, unit)
	}
	out := make([]exampleRow, 0, total)
	span := set.span()
	one := func(kind string, band int32, rank int) {
		e := exampleRow{kind: kind, band: band, rank: rank}
		e.s.act = math.Float32frombits(r.u32())
		e.s.key = r.u64()
		if kind != KindTop {
			e.s.h = r.u64()
		}
		start := r.off
		n := r.u16()
		if r.err == nil && (n > span || n == 0) {
			r.off = start
			r.fail("span of %d tokens, the settings allow 1..%d", n, span)
		}
		if _, _, pos := splitKey(e.s.key); r.err == nil && pos >= set.Ctx {
			r.fail("position %d outside the %d-token window", pos, set.Ctx)
		}
		p := r.take(4 * n)
		if p == nil {
			return
		}
		e.acts = make([]float32, n)
		for i := range e.acts {
			e.acts[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
		}
		out = append(out, e)
	}
	for i := 0; i < nTop && r.err == nil; i++ {
		one(KindTop, 0, i)
	}
	for i := 0; i < nRnd && r.err == nil; i++ {
		one(KindRandom, 0, i)
	}
	for _, g := range groups {
		for i := 0; i < g.n && r.err == nil; i++ {
			one(KindBand, g.oct, i)
		}
	}
	if r.err == nil && r.off != len(b) {
		r.fail("%d bytes after the last example", len(b)-r.off)
	}
	if r.err != nil {
		return nil, r.named(hook, unit)
	}
	return out, nil
}

func (r *blobReader) named(hook string, unit int) error {
	r.err.Hook, r.err.Unit = hook, unit
	return r.err
}

func crc32Of(b []byte) uint32 { return crc32.Checksum(b, crcTable) }

// A unit's histogram (units.hist in schema 2) is its non-zero bins in
// increasing order, each as uvarint(bin - next) then uvarint(count), where
// next is one past the previous non-zero bin (0 at first): most of a
// unit's NumBins bins are empty, and every checkpoint writes every unit.
func encodeHist(dst []byte, hist []uint64) []byte {
	next := 0
	for b, c := range hist {
		if c == 0 {
			continue
		}
		dst = binary.AppendUvarint(dst, uint64(b-next))
		dst = binary.AppendUvarint(dst, c)
		next = b + 1
	}
	return dst
}

// decodeHist reads encodeHist's form into NumBins counts.
func decodeHist(b []byte) ([]uint64, error) {
	hist := make([]uint64, NumBins)
	next, off := 0, 0
	for off < len(b) {
		gap, n := binary.Uvarint(b[off:])
		if n <= 0 || gap >= uint64(NumBins-next) {
			return nil, fmt.Errorf("histogram bin out of range at byte %d", off)
		}
		off += n
		c, n := binary.Uvarint(b[off:])
		if n <= 0 || c == 0 {
			return nil, fmt.Errorf("histogram count unreadable at byte %d", off)
		}
		off += n
		bin := next + int(gap)
		hist[bin] = c
		next = bin + 1
	}
	return hist, nil
}

// appendBlob appends unit u's examples blob to dst: encodeExamples of
// s.examples(u, winLen), written straight from the state, without the
// rows and their allocations (a checkpoint encodes every changed unit).
// tmp is scratch for sorting; the grown one is returned for reuse, with
// the number of examples.
func (s *hookState) appendBlob(dst []byte, u int, winLen func(key uint64) int, tmp []sample) ([]byte, int, []sample) {
	le := binary.LittleEndian
	dst = append(dst, blobFormat)
	dst = le.AppendUint16(dst, uint16(s.topN[u]))
	dst = le.AppendUint16(dst, uint16(s.rndN[u]))
	nGroups := len(dst)
	dst = le.AppendUint16(dst, 0)
	groups := 0
	s.eachGroup(u, func(kind string, band int32, h []sample) {
		if kind == KindBand && len(h) > 0 {
			dst = le.AppendUint32(dst, uint32(band))
			dst = le.AppendUint16(dst, uint16(len(h)))
			groups++
		}
	})
	le.PutUint16(dst[nGroups:], uint16(groups))
	n := 0
	s.eachGroup(u, func(kind string, band int32, h []sample) {
		n += len(h)
		cmp := cmpHash
		if kind == KindTop {
			cmp = cmpTop
		}
		tmp = append(tmp[:0], h...)
		slices.SortFunc(tmp, cmp)
		for i := range tmp {
			x := &tmp[i]
			dst = le.AppendUint32(dst, math.Float32bits(x.act))
			dst = le.AppendUint64(dst, x.key)
			if kind != KindTop {
				dst = le.AppendUint64(dst, x.h)
			}
			lo, hi := s.set.spanOf(int(x.key&(1<<posBits-1)), winLen(x.key))
			n := max(0, hi-lo)
			dst = le.AppendUint16(dst, uint16(n))
			off := int(x.slot) * s.span
			for _, a := range s.act[off : off+n] {
				dst = le.AppendUint32(dst, math.Float32bits(a))
			}
		}
	})
	return dst, n, tmp
}

// cmpTop and cmpHash order samples best first, as examples lists them.
func cmpTop(a, b sample) int  { return cmpWorse(&a, &b, worseTop) }
func cmpHash(a, b sample) int { return cmpWorse(&a, &b, worseHash) }

func cmpWorse(a, b *sample, worse func(a, b *sample) bool) int {
	switch {
	case worse(b, a):
		return -1
	case worse(a, b):
		return 1
	}
	return 0
}
