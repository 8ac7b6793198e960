package sgemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Pinned weights: packed once, not on every product.
//
// A forward pass multiplies every activation block by the same weight
// matrices, and matmul1 packs the right operand afresh on each call (4% of
// a GPT-2 forward). A caller that owns a matrix which will not change — a
// loaded model's weights — pins it; the first product with it as the
// right operand keeps its packed panels, and later ones skip packing.
//
// The cache is keyed by the matrix's address, which is only safe while the
// memory still holds that matrix: Pin's alive reports whether the owner
// still holds it (the engine passes a weak pointer's test, which turns
// false when the model becomes unreachable and before the memory can be
// reused), and the owner calls release before it frees or overwrites the
// matrix itself. Results are bit-identical: the panels are what packB
// writes.

type pinned struct {
	size  int // floats of the matrix
	alive func() bool

	mu    sync.Mutex
	packs map[[3]int][]float32 // by n, k, transB
}

var (
	pinsMu sync.RWMutex
	pins   = map[uintptr]*pinned{}
	// packedBytes is the memory held by packed panels; PinBudget caps it.
	packedBytes atomic.Int64
	pinHits     atomic.Int64
)

// PinBudget is the most memory, in bytes, that packed pinned weights may
// hold (a packed matrix is its own size, rounded up to 16 columns); past
// it, products pack as usual. 1 GiB holds a GPT-2-small's or a 250M-
// parameter model's matrices.
var PinBudget int64 = 1 << 30

// Pin marks b as a matrix that will not change while alive() is true and
// until release is called. release frees its packed panels; call it before
// b's memory is overwritten or freed.
func Pin(b []float32, alive func() bool) (release func()) {
	if len(b) == 0 {
		return func() {}
	}
	key := uintptr(unsafe.Pointer(&b[0]))
	p := &pinned{size: len(b), alive: alive, packs: map[[3]int][]float32{}}
	pinsMu.Lock()
	sweepLocked()
	if old := pins[key]; old != nil {
		old.drop()
	}
	pins[key] = p
	pinsMu.Unlock()
	return func() {
		pinsMu.Lock()
		if pins[key] == p {
			delete(pins, key)
		}
		pinsMu.Unlock()
		p.drop()
	}
}

// PinHits counts products that used pinned panels (for tests and bench).
func PinHits() int64 { return pinHits.Load() }

func (p *pinned) drop() {
	p.mu.Lock()
	for k, v := range p.packs {
		packedBytes.Add(-4 * int64(len(v)))
		delete(p.packs, k)
	}
	p.mu.Unlock()
}

// sweepLocked forgets pins whose owner is gone.
func sweepLocked() {
	for k, p := range pins {
		if !p.alive() {
			delete(pins, k)
			p.drop()
		}
	}
}

// pinnedPanels returns b's packed panels for a k x n (or n x k, transB)
// product, packing them on first use, or nil when b is not pinned, its
// owner is gone, another goroutine is packing it, or the budget is spent.
func pinnedPanels(b []float32, n, k int, transB bool, nc, panel int) []float32 {
	if len(b) == 0 {
		return nil
	}
	pinsMu.RLock()
	p := pins[uintptr(unsafe.Pointer(&b[0]))]
	pinsMu.RUnlock()
	if p == nil || p.size != n*k || !p.alive() {
		return nil
	}
	key := [3]int{n, k, 0}
	if transB {
		key[2] = 1
	}
	if !p.mu.TryLock() {
		return nil
	}
	defer p.mu.Unlock()
	if pk := p.packs[key]; pk != nil {
		pinHits.Add(1)
		return pk
	}
	chunks := (n + nc - 1) / nc
	size := chunks * panel
	if packedBytes.Add(4*int64(size)) > PinBudget {
		packedBytes.Add(-4 * int64(size))
		return nil
	}
	pk := make([]float32, size)
	ldb := Strided{N: n, K: k, TransB: transB}.dense().Ldb
	for jc := 0; jc < n; jc += nc {
		packPanel(pk[jc/nc*panel:], b, ldb, k, transB, jc, min(nc, n-jc), nc, runtime.GOMAXPROCS(0))
	}
	p.packs[key] = pk
	return pk
}
