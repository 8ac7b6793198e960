// Package vecmath holds float32 element-wise kernels (tanh-approximated GELU,
// exp, row softmax, add and row layer norm) for glia's use inside GoMLX's
// pure-Go CPU backend.
//
// It exists because that backend evaluates tanh-GELU element by element in
// float64 with math.Tanh, about 5 ns per element, which came to roughly 8% of
// a GPT-2-small forward pass. The kernels here stay in float32, use
// polynomial approximations that are accurate to a few float32 ulps, and, when
// built with GOEXPERIMENT=simd on an amd64 CPU with AVX2 and FMA, process
// eight lanes at a time through simd/archsimd. Every other build (race
// builds included: archsimd's partial loads fail checkptr), and CPUs
// without those features, get a scalar path built from the same
// approximations, so results agree across paths to within a couple of ulps.
//
// The package deliberately does not import GoMLX: the backend wiring lives
// elsewhere and these kernels stay testable on their own.
package vecmath
