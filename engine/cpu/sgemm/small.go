package sgemm

import "runtime"

// smallRows is the row count below which a product is a few
// matrix-vector products (a generation step): B is streamed once, straight
// from where it lies, since packing it would cost as much as the product.
const smallRows = 16

// matmulSmall multiplies one [m, k] by B ([k, n], or [n, k] when transB)
// for m < smallRows, splitting B's columns among goroutines.
func matmulSmall(a, b, c []float32, m, n, k int, transB bool) {
	workers := max(1, min(runtime.GOMAXPROCS(0), m*n*k/minParallel))
	if transB {
		// Each row of B meets the m rows of A while it is in L1.
		parallel(workers, func(w int) {
			for j := w * n / workers; j < (w+1)*n/workers; j++ {
				bj := b[j*k : (j+1)*k]
				for i := range m {
					c[i*n+j] = dotOf(a[i*k:(i+1)*k], bj)
				}
			}
		})
		return
	}
	// Column tiles of C small enough that its m rows stay in L1 while
	// every row of B adds into them.
	const tile = 512
	tiles := (n + tile - 1) / tile
	parallel(min(workers, tiles), func(w int) {
		ws := min(workers, tiles)
		for t := w * tiles / ws; t < (w+1)*tiles/ws; t++ {
			j0, j1 := t*tile, min(n, (t+1)*tile)
			for i := range m {
				clear(c[i*n+j0 : i*n+j1])
			}
			for p := range k {
				row := b[p*n+j0 : p*n+j1]
				for i := range m {
					axpyTo(a[i*k+p], row, c[i*n+j0:i*n+j1])
				}
			}
		}
	})
}
