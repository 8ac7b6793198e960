package vecmath

// Constants shared by the SIMD and scalar paths so both evaluate the same
// approximations.
const (
	log2e = 1.44269504088896340736

	// ln2 split for Cody-Waite reduction: ln2Hi is ln 2 rounded to float32;
	// with a fused multiply-add, y - n*ln2Hi is exact for |y - n*ln2| < 0.5.
	ln2Hi = 0.693147182464599609375
	ln2Lo = -1.904654299957768e-09

	// roundMagic is 1.5*2^23: adding it to |v| < 2^22 rounds v to an integer
	// (ties to even) and leaves that integer in the low mantissa bits.
	roundMagic     = 12582912.0
	roundMagicBits = 0x4B400000

	// Minimax coefficients (relative error, Remez) for
	// e^r ≈ 1 + r + r²(c2 + c3 r + c4 r² + c5 r³ + c6 r⁴) on |r| ≤ ln2/2.
	// Approximation error 4.3e-9, far below float32 rounding.
	expC2 = 0.499999981
	expC3 = 0.166665057
	expC4 = 0.041667091
	expC5 = 0.0083702996
	expC6 = 0.00138934074

	// Exp clamps its argument here before reduction: below expLo every result
	// rounds to zero, above expHi to +Inf, and inside the range the two-step
	// scaling by 2^n1*2^n2 (|n1|,|n2| ≤ 80) keeps every step finite and rounds
	// subnormal results once.
	expLo = -110.0
	expHi = 100.0
)

// GELU-tanh is x*sigmoid(2u) with 2u = x*(geluA + geluB*x²),
// geluA = 2*sqrt(2/π) and geluB = geluA*0.044715.
const (
	geluA = 1.5957691216057308
	geluB = 0.071354816272600249

	// geluAHi is geluA rounded to a multiple of 2^-20 so that geluAHi - t is
	// exact for any t = geluAHi + geluB*x² the kernel can produce; geluALo is
	// the rest. geluBHi/geluBLo are the float32 head and tail of geluB.
	geluAHi = 1.595768928527832
	geluALo = 1.9307789878020287e-07
	geluBHi = 0.0713548139
	geluBLo = 2.39883247e-09

	// For |x| ≥ geluClamp the sigmoid is 1 or below 2^-150 in float32, so
	// clamping the argument changes nothing while keeping it finite.
	geluClamp = 12.0
)

// Sigmoid clamps |x| here: e^-sigmoidClamp is below half the smallest
// subnormal, so sigmoid(-x) rounds to 0 and sigmoid(x) to 1 beyond it,
// and the exponent stays inside scaleNonPos's range.
const sigmoidClamp = 110.0

// geluGradTiny: below it |x|, GELU's sigmoid factor is read as ½ rather
// than y/x, whose float32 y would be subnormal.
const geluGradTiny = 1e-30
