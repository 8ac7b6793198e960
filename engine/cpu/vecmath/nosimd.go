//go:build !(goexperiment.simd && amd64) || race

package vecmath

// Without GOEXPERIMENT=simd on amd64 there is no archsimd, so only the
// scalar kernels exist; these stubs keep the dispatch in vecmath.go
// identical across builds. Race builds take this path too: archsimd's
// partial loads (LoadFloat32x8SlicePart) fail checkptr.

const simdSupported = false

func geluSIMD(dst, src []float32)                { geluScalarSlice(dst, src) }
func expSIMD(dst, src []float32)                 { expScalarSlice(dst, src) }
func softmaxSIMD(dst, src []float32, rowLen int) { softmaxScalar(dst, src, rowLen) }

func addSIMD(dst, a, b []float32)    { addScalar(dst, a, b) }
func mulSIMD(dst, a, b []float32)    { mulScalar(dst, a, b) }
func sigmoidSIMD(dst, src []float32) { sigmoidScalarSlice(dst, src) }
func layerNormSIMD(y, x, gamma, beta []float32, eps float32) {
	layerNormScalar(y, x, gamma, beta, float64(eps))
}

func transposeSIMD(dst []float32, dstStride int, src []float32, srcStride int, rows, cols int) (int, int) {
	return 0, 0
}

func selectSIMD(dst []float32, cond []bool, onTrue, onFalse []float32) {
	selectScalar(dst, cond, onTrue, onFalse, 0)
}

func adamWSIMD(w, g, m, v []float32, c *AdamWCoef) { adamWScalar(w, g, m, v, c) }

func softmaxGradSIMD(g, p []float32, d, s float32) { softmaxGradScalar(g, p, d, s) }

func geluGradSIMD(dst, x, y, v []float32) { geluGradScalar(dst, x, y, v) }

func layerNormGradSIMD(dx, x, gamma, dy []float32, eps float32) {
	layerNormGradScalar(dx, x, gamma, dy, float64(eps))
}

func layerNormParamGradSIMD(dgamma, dbeta, x, dy []float32, eps float32) {
	layerNormParamGradScalar(dgamma, dbeta, x, dy, float64(eps))
}

func maxSIMD(x []float32) float32              { panic("unreachable") }
func addConstSIMD(dst, x []float32, c float32) { panic("unreachable") }
func sumSIMD(x []float32) float32              { panic("unreachable") }
