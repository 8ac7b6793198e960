package sgemm

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPinned: a pinned right operand gives the bits of an unpinned one
// (both layouts, and wide enough that B is packed in two column chunks),
// packs once and reuses the panels; after release, or once its owner is
// gone, the matrix's new contents are used, never stale panels.
func TestPinned(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return x
	}
	for _, c := range []struct{ m, n, k int }{{30, 70, 300}, {64, 4200, 1030}} {
		for _, transB := range []bool{false, true} {
			a, b := fill(c.m*c.k), fill(c.k*c.n)
			want := make([]float32, c.m*c.n)
			MatMul(a, b, want, 1, c.m, c.n, c.k, transB)
			alive := true
			release := Pin(b, func() bool { return alive })
			h0 := PinHits()
			for i := range 3 {
				got := make([]float32, c.m*c.n)
				MatMul(a, b, got, 1, c.m, c.n, c.k, transB)
				if !slices.Equal(got, want) {
					t.Fatalf("%v transB=%v: product %d with the pinned operand differs", c, transB, i)
				}
			}
			if h := PinHits() - h0; h != 2 {
				t.Fatalf("%v transB=%v: %d products used the packed panels, want 2 (the first packs them)", c, transB, h)
			}
			check := func(what string) {
				t.Helper()
				copy(b, fill(len(b)))
				h := PinHits()
				MatMul(a, b, want, 1, c.m, c.n, c.k, transB)
				if PinHits() != h {
					t.Fatalf("%s: panels used", what)
				}
				ref := make([]float32, c.m*c.n) // the same product from a copy at another address
				MatMul(a, slices.Clone(b), ref, 1, c.m, c.n, c.k, transB)
				if !slices.Equal(ref, want) {
					t.Fatalf("%v transB=%v %s: stale panels", c, transB, what)
				}
			}
			alive = false
			check("owner gone")
			release()
			alive = true
			check("released")
		}
	}
}
