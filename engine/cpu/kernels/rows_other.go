//go:build !nokernels && !(goexperiment.simd && amd64 && !race)

package kernels

// Without SIMD the callers' scalar loops do the work.

func rowVV(op rowOp, dst, a, b []float32) bool                      { return false }
func rowVS(op rowOp, dst, a []float32, c float32, cFirst bool) bool { return false }
func rowUnary(op rowOp, dst, src []float32) bool                    { return false }
