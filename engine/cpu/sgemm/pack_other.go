//go:build !(goexperiment.simd && amd64 && !race)

package sgemm

// packRows6 packs nothing here: packA's scalar loop does every column.
func packRows6(d, r0, r1, r2, r3, r4, r5 []float32, kcb int) int { return 0 }

// packRows16 copies nothing here: packB's loop does.
func packRows16(d, b []float32, n, kcb int) bool { return false }
