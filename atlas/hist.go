package atlas

import (
	"math"
)

// Histogram bins are fixed, so histograms of shards add up exactly. They are
// read off the float32 bit pattern: each octave of |x| between 2^-10 and 2^10
// is cut into 4 bins by the top two mantissa bits (edges 1, 1.25, 1.5, 1.75
// times a power of two). |x| < 2^-10 falls in one central bin; |x| >= 2^10 in
// an overflow bin on each side. Bins are numbered by increasing value:
//
//	0         (-inf, -1024]
//	1..80     (-1024, -2^-10], 4 per octave, most negative first
//	81        (-2^-10, 2^-10)
//	82..161   [2^-10, 1024), 4 per octave
//	162       [1024, +inf)
const (
	histOctaveLo = -10
	histOctaves  = 20
	histPerSide  = histOctaves * 4 // 80
	histZero     = histPerSide + 1 // 81
	// NumBins is the number of histogram bins.
	NumBins = 2*histPerSide + 3 // 163
)

// binOf returns x's histogram bin. It is branch-free: activations' signs
// are unpredictable, and a mispredicted branch costs more than the rest of
// the update.
func binOf(x float32) int {
	bits := math.Float32bits(x)
	c := int((bits&0x7fffffff)>>21) - (127+histOctaveLo)*4
	c = min(max(c, -1), histPerSide)
	s := int(bits >> 31) // 1 for negative
	return histZero + 1 + c - s*(2+2*c)
}

// binTable is binOf by the top 11 bits of x (sign, exponent and two
// mantissa bits), all that binOf reads: one load instead of a dozen
// instructions, in the atlas build's per-element loop.
var binTable = func() (t [1 << 11]uint8) {
	for i := range t {
		t[i] = uint8(binOf(math.Float32frombits(uint32(i) << 21)))
	}
	return t
}()

// magEdge returns the lower edge of positive magnitude bin c (c = 80 gives 1024).
func magEdge(c int) float64 {
	return math.Ldexp(1+float64(c%4)/4, histOctaveLo+c/4)
}

// HistEdges returns the NumBins+1 bin edges in increasing order, from -Inf to
// +Inf. Bin i covers values between edges i and i+1 (see the table above for
// which side is closed).
func HistEdges() []float64 {
	e := make([]float64, 0, NumBins+1)
	e = append(e, math.Inf(-1))
	for c := histPerSide; c >= 0; c-- {
		e = append(e, -magEdge(c))
	}
	for c := 0; c <= histPerSide; c++ {
		e = append(e, magEdge(c))
	}
	return append(e, math.Inf(1))
}

// octave returns floor(log2(x)) for x > 0 (from the float32 exponent).
func octave(x float32) int {
	return int(math.Float32bits(x)>>23&0xff) - 127
}

// Position keys order tokens for tie-breaking: shard, then window within the
// shard, then position within the window.
const (
	posBits    = 13 // ctx <= 8192
	windowBits = 35
	// MaxCtx is the longest window an atlas supports.
	MaxCtx = 1 << posBits
)

func posKey(shard int, window int64, pos int) uint64 {
	return uint64(shard)<<(posBits+windowBits) | uint64(window)<<posBits | uint64(pos)
}

func splitKey(k uint64) (shard int, window int64, pos int) {
	return int(k >> (posBits + windowBits)), int64(k >> posBits & (1<<windowBits - 1)), int(k & (1<<posBits - 1))
}

// mix64 is a 64-bit finaliser (splitmix64).
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// posHash is the hash of a token position, independent of shard order: it
// uses the shard's content hash, so a shard hashes alike in any build.
func posHash(shardSeed uint64, window int64, pos int) uint64 {
	return mix64(shardSeed ^ mix64(uint64(window)<<posBits|uint64(pos)+0x9e3779b97f4a7c15))
}

// unitSeed is the per-unit salt of sampling hashes.
func unitSeed(hook string, unit int) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(hook); i++ {
		h ^= uint64(hook[i])
		h *= 1099511628211
	}
	return mix64(h + uint64(unit)*0x9e3779b97f4a7c15)
}

// sampleHash is the sampling hash of a unit at a position.
func sampleHash(ph, us uint64) uint64 {
	x := ph ^ us
	x ^= x >> 32
	x *= 0xd6e8feb86659fd93
	x ^= x >> 32
	return x
}
