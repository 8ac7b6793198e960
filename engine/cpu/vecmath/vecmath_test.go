package vecmath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// forEachPath runs f once per kernel path available on this machine, with
// useSIMD set accordingly.
func forEachPath(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	paths := []bool{false}
	if simdSupported {
		paths = append(paths, true)
	} else {
		t.Log("SIMD path not available in this build/CPU; testing scalar only")
	}
	for _, simd := range paths {
		name := "scalar"
		if simd {
			name = "simd"
		}
		t.Run(name, func(t *testing.T) {
			saved := useSIMD
			useSIMD = simd
			defer func() { useSIMD = saved }()
			f(t)
		})
	}
}

const minNormal32 = 0x1p-126

// errStats accumulates the worst relative error over normal-range
// reference values and the worst absolute error over the rest.
type errStats struct {
	maxRel, relAt float64
	maxAbs, absAt float64
	n             int
}

func (s *errStats) add(x float32, got float32, ref float64) {
	s.n++
	e := math.Abs(float64(got) - ref)
	if math.Abs(ref) >= minNormal32 {
		if r := e / math.Abs(ref); r > s.maxRel {
			s.maxRel, s.relAt = r, float64(x)
		}
	} else if e > s.maxAbs {
		s.maxAbs, s.absAt = e, float64(x)
	}
}

func (s *errStats) check(t *testing.T, what string, relBound, absBound float64) {
	t.Helper()
	t.Logf("%s: %d points, max rel err %.3g (at x=%.9g), max abs err below 2^-126 %.3g (at x=%.9g)",
		what, s.n, s.maxRel, s.relAt, s.maxAbs, s.absAt)
	if s.maxRel > relBound {
		t.Errorf("%s: max relative error %.3g > %.3g", what, s.maxRel, relBound)
	}
	if s.maxAbs > absBound {
		t.Errorf("%s: max absolute error near 0 %.3g > %.3g", what, s.maxAbs, absBound)
	}
}

// refGelu is GELU-tanh in float64 written as x*sigmoid(2u), which equals
// 0.5*x*(1+tanh(u)) but, unlike it, keeps full relative accuracy for
// negative x where 1+tanh(u) cancels.
func refGelu(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return x
	case math.IsInf(x, 1):
		return x
	case math.IsInf(x, -1):
		return 0
	}
	u2 := x * (geluA + geluB*x*x)
	return x / (1 + math.Exp(-u2))
}

func TestRefGeluMatchesTanhForm(t *testing.T) {
	for x := -4.0; x <= 4.0; x += 1.0 / 1024 {
		tanhForm := 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		if d := math.Abs(tanhForm - refGelu(x)); d > 1e-14*math.Max(1, math.Abs(x)) {
			t.Fatalf("x=%g: tanh form %.17g, sigmoid form %.17g", x, tanhForm, refGelu(x))
		}
	}
}

func TestConstants(t *testing.T) {
	if float64(float32(geluAHi)) != geluAHi || math.Mod(geluAHi*(1<<20), 1) != 0 {
		t.Errorf("geluAHi %.17g is not a float32 multiple of 2^-20", geluAHi)
	}
	if d := geluAHi + geluALo - geluA; math.Abs(d) > 1e-15 {
		t.Errorf("geluAHi+geluALo off by %g", d)
	}
	if d := float64(float32(geluBHi)) + float64(float32(geluBLo)) - geluB; math.Abs(d) > 1e-15 {
		t.Errorf("geluBHi+geluBLo off by %g", d)
	}
	if float64(float32(ln2Hi)) != ln2Hi || math.Abs(ln2Hi+ln2Lo-math.Ln2) > 1e-17 {
		t.Errorf("ln2 split wrong")
	}
	if math.Float32bits(roundMagic) != roundMagicBits {
		t.Errorf("roundMagicBits mismatch")
	}
}

// sweep returns n evenly spaced float32 values covering [lo, hi].
func sweep(lo, hi float64, n int) []float32 {
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(lo + (hi-lo)*float64(i)/float64(n-1))
	}
	return xs
}

// randomMagnitudes returns finite float32 values with uniformly random bit
// patterns, so every exponent (subnormals included) is equally likely.
func randomMagnitudes(rng *rand.Rand, n int) []float32 {
	xs := make([]float32, 0, n)
	for len(xs) < n {
		x := math.Float32frombits(rng.Uint32())
		if !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) {
			xs = append(xs, x)
		}
	}
	return xs
}

func TestGeluTanhAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := []struct {
		name string
		xs   []float32
	}{
		{"sweep[-30,30]", sweep(-30, 30, 2_000_001)},
		{"sweep[-11,1]", sweep(-11, 1, 1_000_001)},
		{"random bits", randomMagnitudes(rng, 1_000_000)},
		{"random N(0,3)", func() []float32 {
			xs := make([]float32, 1_000_000)
			for i := range xs {
				xs[i] = float32(rng.NormFloat64() * 3)
			}
			return xs
		}()},
	}
	forEachPath(t, func(t *testing.T) {
		for _, in := range inputs {
			got := make([]float32, len(in.xs))
			GeluTanh(got, in.xs)
			var s errStats
			for i, x := range in.xs {
				s.add(x, got[i], refGelu(float64(x)))
			}
			s.check(t, "GeluTanh "+in.name, 2e-7, 1e-30)
		}
	})
}

func TestGeluTanhSpecial(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	minSub := math.Float32frombits(1)
	cases := []struct {
		x, want float32
	}{
		{inf, inf},
		{-inf, 0},
		{0, 0},
		{float32(math.Copysign(0, -1)), float32(math.Copysign(0, -1))},
		{minSub, 0}, // x/2 rounds to even: 0
		{3 * minSub, 2 * minSub},
		{-3 * minSub, -2 * minSub},
		{0x1p-127, 0x1p-128},
		{-0x1p-127, -0x1p-128},
		{1e-20, 5e-21},
		{math.MaxFloat32, math.MaxFloat32},
		{-math.MaxFloat32, 0},
		{1e30, 1e30},
		{-1e30, 0},
		{12, 12},
		{100, 100},
		{-100, 0},
		{nan, nan},
	}
	forEachPath(t, func(t *testing.T) {
		// Run each case at every lane position and in both the unrolled
		// body and the tail, surrounded by ordinary values.
		for _, c := range cases {
			for n := 1; n <= 35; n++ {
				for pos := 0; pos < n; pos++ {
					src := make([]float32, n)
					for i := range src {
						src[i] = float32(i%7) - 3
					}
					src[pos] = c.x
					dst := make([]float32, n)
					GeluTanh(dst, src)
					got := dst[pos]
					ok := got == c.want && math.Signbit(float64(got)) == math.Signbit(float64(c.want))
					if c.want == 0 && c.x < 0 {
						ok = got == 0 // either sign of zero
					}
					if math.IsNaN(float64(c.want)) {
						ok = math.IsNaN(float64(got))
					}
					if !ok {
						t.Fatalf("GeluTanh(%g) = %g, want %g (len %d, pos %d)", c.x, got, c.want, n, pos)
					}
					for i, x := range src {
						if i != pos && math.Abs(float64(dst[i])-refGelu(float64(x))) > 1e-6 {
							t.Fatalf("neighbour %d of %g: got %g want %g", i, c.x, dst[i], refGelu(float64(x)))
						}
					}
				}
			}
		}
	})
}

func refExp(x float64) float64 { return math.Exp(x) }

func TestExpAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	randRange := make([]float32, 1_000_000)
	for i := range randRange {
		randRange[i] = float32(rng.Float64()*200 - 110)
	}
	inputs := []struct {
		name string
		xs   []float32
	}{
		{"sweep[-110,90]", sweep(-110, 90, 2_000_001)},
		{"sweep[-1,1]", sweep(-1, 1, 1_000_001)},
		{"random[-110,90]", randRange},
		{"random bits", randomMagnitudes(rng, 1_000_000)},
	}
	forEachPath(t, func(t *testing.T) {
		for _, in := range inputs {
			got := make([]float32, len(in.xs))
			Exp(got, in.xs)
			var s errStats
			for i, x := range in.xs {
				ref := refExp(float64(x))
				if math.IsInf(float64(float32(ref)), 1) || math.IsInf(float64(got[i]), 1) {
					if float32(ref) != got[i] {
						t.Fatalf("Exp(%g) = %g, want %g", x, got[i], float32(ref))
					}
					continue
				}
				s.add(x, got[i], ref)
			}
			// Below 2^-126 the best float32 is within 2^-150 of exp(x);
			// allow one subnormal ulp.
			s.check(t, "Exp "+in.name, 3e-7, 0x1p-149)
		}
	})
}

func TestExpSpecial(t *testing.T) {
	inf := float32(math.Inf(1))
	cases := []struct{ x, want float32 }{
		{0, 1},
		{float32(math.Copysign(0, -1)), 1},
		{-inf, 0},
		{inf, inf},
		{88.72283, float32(math.Exp(float64(float32(88.72283))))},
		{88.7228, float32(math.Exp(float64(float32(88.7228))))},
		{88.72284, inf},
		{89, inf},
		{1000, inf},
		{math.MaxFloat32, inf},
		{-104, 0},
		{-1000, 0},
		{-math.MaxFloat32, 0},
		{-103.278931, math.Float32frombits(1)}, // ~ 2^-149
		{-87.33654, float32(math.Exp(float64(float32(-87.33654))))},
		{-100, float32(math.Exp(-100))},
		{float32(math.NaN()), float32(math.NaN())},
	}
	forEachPath(t, func(t *testing.T) {
		for _, c := range cases {
			for n := 1; n <= 20; n++ {
				src := make([]float32, n)
				src[n-1] = c.x
				if n > 1 {
					src[0] = c.x
				}
				dst := make([]float32, n)
				Exp(dst, src)
				for _, i := range []int{0, n - 1} {
					got := dst[i]
					if math.IsNaN(float64(c.want)) {
						if !math.IsNaN(float64(got)) {
							t.Fatalf("Exp(NaN) = %g", got)
						}
						continue
					}
					tol := max(3e-7*float64(c.want), 0x1p-149)
					if math.Abs(float64(got)-float64(c.want)) > tol && got != c.want {
						t.Fatalf("Exp(%g) = %g (%#x), want %g", c.x, got, math.Float32bits(got), c.want)
					}
				}
			}
		}
	})
}

// refSoftmax is a float64 softmax over float32 inputs, with the package's
// fully-masked-row convention.
func refSoftmax(row []float32) []float64 {
	out := make([]float64, len(row))
	mx := math.Inf(-1)
	for _, x := range row {
		mx = math.Max(mx, float64(x))
	}
	if math.IsInf(mx, -1) {
		for i := range out {
			out[i] = 1 / float64(len(row))
		}
		return out
	}
	var sum float64
	for i, x := range row {
		out[i] = math.Exp(float64(x) - mx)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func TestSoftmaxRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	negInf := float32(math.Inf(-1))
	type rowGen struct {
		name string
		gen  func(n int) []float32
	}
	normal := func(scale float64) func(n int) []float32 {
		return func(n int) []float32 {
			r := make([]float32, n)
			for i := range r {
				r[i] = float32(rng.NormFloat64() * scale)
			}
			return r
		}
	}
	masked := func(mask float32) func(n int) []float32 {
		return func(n int) []float32 {
			r := normal(4)(n)
			for i := range r {
				if rng.IntN(3) == 0 {
					r[i] = mask
				}
			}
			r[rng.IntN(n)] = 1 // at least one live entry
			return r
		}
	}
	fill := func(v float32) func(n int) []float32 {
		return func(n int) []float32 {
			r := make([]float32, n)
			for i := range r {
				r[i] = v
			}
			return r
		}
	}
	gens := []rowGen{
		{"N(0,1)", normal(1)},
		{"N(0,10)", normal(10)},
		{"N(0,100)", normal(100)},
		{"offset 1e4", func(n int) []float32 {
			r := normal(3)(n)
			for i := range r {
				r[i] += 1e4
			}
			return r
		}},
		{"-Inf masks", masked(negInf)},
		{"-3.4e38 masks", masked(-3.4e38)},
		{"-MaxFloat32 masks", masked(-math.MaxFloat32)},
		{"all -Inf", fill(negInf)},
		{"all -3.4e38", fill(-3.4e38)},
		{"all -MaxFloat32", fill(-math.MaxFloat32)},
		{"-Inf and -3.4e38", func(n int) []float32 {
			r := fill(negInf)(n)
			for i := range r {
				if rng.IntN(2) == 0 {
					r[i] = -3.4e38
				}
			}
			return r
		}},
		{"huge spread", func(n int) []float32 {
			r := normal(1)(n)
			r[0], r[n-1] = 3e38, -3e38
			return r
		}},
	}
	lengths := []int{1, 2, 3, 7, 8, 9, 15, 16, 17, 127, 128, 129, 1000}

	forEachPath(t, func(t *testing.T) {
		var maxAbs, maxRel float64
		for _, g := range gens {
			for _, n := range lengths {
				const rows = 5
				src := make([]float32, 0, rows*n)
				for range rows {
					src = append(src, g.gen(n)...)
				}
				for _, inPlace := range []bool{false, true} {
					in := slices.Clone(src)
					dst := make([]float32, len(in))
					if inPlace {
						dst = in
					}
					SoftmaxRows(dst, in, n)
					for r := range rows {
						ref := refSoftmax(src[r*n : (r+1)*n])
						got := dst[r*n : (r+1)*n]
						var sum float64
						for i := range got {
							sum += float64(got[i])
							e := math.Abs(float64(got[i]) - ref[i])
							if math.IsNaN(e) {
								t.Fatalf("%s len %d inPlace=%v: NaN at %d", g.name, n, inPlace, i)
							}
							maxAbs = math.Max(maxAbs, e)
							if ref[i] >= minNormal32 {
								maxRel = math.Max(maxRel, e/ref[i])
							}
							if ref[i] >= minNormal32 && e > 2e-6*ref[i] || ref[i] < minNormal32 && e > 0x1p-149 {
								t.Fatalf("%s len %d inPlace=%v row %d [%d]: got %g want %g (x=%g)",
									g.name, n, inPlace, r, i, got[i], ref[i], src[r*n+i])
							}
						}
						if math.Abs(sum-1) > 2e-6 {
							t.Fatalf("%s len %d: row sums to %.9g", g.name, n, sum)
						}
					}
				}
			}
		}
		t.Logf("SoftmaxRows: max abs err %.3g, max rel err %.3g", maxAbs, maxRel)
	})
}

func TestSoftmaxRowsNaNAndInf(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	forEachPath(t, func(t *testing.T) {
		for _, n := range []int{1, 3, 8, 9, 17, 128} {
			for _, bad := range []float32{nan, inf} {
				for pos := range n {
					src := make([]float32, 2*n)
					for i := range src {
						src[i] = float32(i % 5)
					}
					src[pos] = bad
					dst := make([]float32, 2*n)
					SoftmaxRows(dst, src, n)
					for i := range n {
						if !math.IsNaN(float64(dst[i])) {
							t.Fatalf("len %d, %g at %d: out[%d] = %g, want NaN", n, bad, pos, i, dst[i])
						}
					}
					// The next row is unaffected.
					ref := refSoftmax(src[n:])
					for i := range n {
						if math.Abs(float64(dst[n+i])-ref[i]) > 1e-6 {
							t.Fatalf("row 2 disturbed")
						}
					}
				}
			}
			// NaN amid -Inf: still NaN, not uniform.
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(math.Inf(-1))
			}
			src[n/2] = nan
			SoftmaxRows(src, src, n)
			for i, v := range src {
				if !math.IsNaN(float64(v)) {
					t.Fatalf("NaN amid -Inf, len %d: out[%d] = %g", n, i, v)
				}
			}
		}
	})
}

func TestSoftmaxRowsPanics(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	mustPanic("ragged", func() { SoftmaxRows(make([]float32, 10), make([]float32, 10), 3) })
	mustPanic("zero rowLen", func() { SoftmaxRows(make([]float32, 10), make([]float32, 10), 0) })
	mustPanic("len mismatch", func() { SoftmaxRows(make([]float32, 9), make([]float32, 10), 5) })
	mustPanic("gelu len", func() { GeluTanh(make([]float32, 9), make([]float32, 10)) })
	mustPanic("exp len", func() { Exp(make([]float32, 11), make([]float32, 10)) })
	SoftmaxRows(nil, nil, 0) // empty input is fine
}

// TestPathsAgree checks that both paths, at every length and alignment,
// give results within a couple of ulps of each other, and that in-place
// calls match out-of-place ones exactly.
func TestPathsAgree(t *testing.T) {
	if !simdSupported {
		t.Skip("SIMD path not available")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	src := make([]float32, 300)
	for i := range src {
		src[i] = float32(rng.NormFloat64() * 5)
	}
	ulps := func(a, b float32) int64 {
		d := int64(math.Float32bits(a)) - int64(math.Float32bits(b))
		return max(d, -d)
	}
	kernels := []struct {
		name string
		f    func(dst, src []float32)
		step int // lengths tested are multiples of step
	}{
		{"GeluTanh", GeluTanh, 1},
		{"Exp", Exp, 1},
		{"SoftmaxRows/7", func(dst, src []float32) { SoftmaxRows(dst, src, 7) }, 7},
		{"SoftmaxRows/1", func(dst, src []float32) { SoftmaxRows(dst, src, 1) }, 1},
		{"SoftmaxRows/17", func(dst, src []float32) { SoftmaxRows(dst, src, 17) }, 17},
	}
	defer func(saved bool) { useSIMD = saved }(useSIMD)
	for _, k := range kernels {
		var worst int64
		for off := 0; off < 9; off++ {
			for n := 0; n+off <= 80; n += k.step {
				in := src[off : off+n]
				useSIMD = false
				want := make([]float32, n)
				k.f(want, in)
				useSIMD = true
				got := make([]float32, n)
				k.f(got, in)
				inPlace := slices.Clone(in)
				k.f(inPlace, inPlace)
				for i := range got {
					worst = max(worst, ulps(got[i], want[i]))
					if inPlace[i] != got[i] {
						t.Fatalf("%s off %d n %d: in-place [%d] %g != %g", k.name, off, n, i, inPlace[i], got[i])
					}
				}
			}
		}
		t.Logf("%s: SIMD vs scalar differ by at most %d ulp", k.name, worst)
		if worst > 4 {
			t.Errorf("%s: SIMD and scalar differ by %d ulp", k.name, worst)
		}
	}
}

func TestParallelFor(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	for _, tc := range []struct{ n, minChunk int }{
		{0, 1}, {1, 1}, {1, 0}, {2, 1}, {7, 3}, {8, 4}, {9, 4}, {100, 1}, {100, 7}, {1000, 64}, {12345, 100}, {5, 10},
	} {
		t.Run(fmt.Sprintf("n=%d,min=%d", tc.n, tc.minChunk), func(t *testing.T) {
			seen := make([]int32, tc.n)
			var mu sync.Mutex
			var chunks [][2]int
			ParallelFor(tc.n, tc.minChunk, func(lo, hi int) {
				mu.Lock()
				chunks = append(chunks, [2]int{lo, hi})
				mu.Unlock()
				for i := lo; i < hi; i++ {
					atomic.AddInt32(&seen[i], 1)
				}
			})
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("index %d visited %d times", i, c)
				}
			}
			minChunk := max(tc.minChunk, 1)
			switch {
			case tc.n == 0:
				if len(chunks) != 0 {
					t.Fatalf("fn called for n=0: %v", chunks)
				}
			case tc.n < 2*minChunk:
				if len(chunks) != 1 || chunks[0] != [2]int{0, tc.n} {
					t.Fatalf("want one inline chunk, got %v", chunks)
				}
			default:
				if len(chunks) > procs {
					t.Fatalf("%d chunks > GOMAXPROCS %d", len(chunks), procs)
				}
				for _, c := range chunks {
					if c[1]-c[0] < minChunk {
						t.Fatalf("chunk %v smaller than %d", c, minChunk)
					}
				}
			}
		})
	}
}

func TestParallelForManyProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	var calls atomic.Int32
	var total atomic.Int64
	ParallelFor(1003, 10, func(lo, hi int) {
		calls.Add(1)
		total.Add(int64(hi - lo))
	})
	if calls.Load() != 8 || total.Load() != 1003 {
		t.Fatalf("calls %d total %d, want 8 and 1003", calls.Load(), total.Load())
	}
	calls.Store(0)
	ParallelFor(35, 10, func(lo, hi int) { calls.Add(1) })
	if calls.Load() != 3 {
		t.Fatalf("n=35 minChunk=10: %d chunks, want 3", calls.Load())
	}
}

func TestParallelForPanic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v, want boom", r)
		}
	}()
	var done atomic.Int32
	ParallelFor(400, 10, func(lo, hi int) {
		defer done.Add(1)
		if lo > 0 {
			panic("boom")
		}
	})
	t.Fatal("ParallelFor returned normally")
}

// TestAdamW: the SIMD AdamW equals the scalar one bit for bit (lengths
// that leave a scalar tail, decay on and off, a zero gradient and moment),
// and the scalar one equals the formula evaluated with every operation
// rounded to float32 through float64 (the reference rounding), and tracks
// the float64 formula.
func TestAdamW(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 9))
	defer func(saved bool) { useSIMD = saved }(useSIMD)
	for _, decay := range []float32{0, 0.9999} {
		c := AdamWCoef{B1: 0.9, B2: 0.999, C1: 0.1 * 0.7, C2: 0.001 * 0.49, EpsB: 1e-8 * 0.3, StepScale: 1e-3 * 0.3 / 0.1, Decay: decay}
		for _, n := range []int{1, 7, 8, 9, 31, 64, 1000} {
			w, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range w {
				w[i], g[i], m[i] = float32(r.NormFloat64()), float32(r.NormFloat64()), float32(0.1*r.NormFloat64())
				v[i] = float32(0.01 * r.Float64())
			}
			g[0], m[0], v[0] = 0, 0, 0
			run := func(simd bool) [4][]float32 {
				useSIMD = simd
				o := [4][]float32{slices.Clone(w), slices.Clone(g), slices.Clone(m), slices.Clone(v)}
				AdamW(o[0], o[1], o[2], o[3], c)
				return o
			}
			s, want := run(true), run(false)
			for k := range 4 {
				if !slices.Equal(s[k], want[k]) {
					t.Fatalf("decay %g n %d: SIMD and scalar differ in array %d", decay, n, k)
				}
			}
			f := func(x float64) float64 { return float64(float32(x)) }
			for i := range w {
				nm := f(f(float64(m[i])*float64(c.B1)) + f(float64(g[i])*float64(c.C1)))
				nv := f(f(float64(v[i])*float64(c.B2)) + f(f(float64(g[i])*float64(g[i]))*float64(c.C2)))
				step := f(f(nm/f(f(math.Sqrt(nv))+float64(c.EpsB))) * float64(c.StepScale))
				wi := float64(w[i])
				if decay != 0 {
					wi = f(wi * float64(decay))
				}
				if got := [3]float32{want[0][i], want[2][i], want[3][i]}; got != [3]float32{float32(wi - step), float32(nm), float32(nv)} {
					t.Fatalf("decay %g n %d [%d]: got w, m, v %v, want %v", decay, n, i, got, [3]float64{wi - step, nm, nv})
				}
			}
		}
	}
}
