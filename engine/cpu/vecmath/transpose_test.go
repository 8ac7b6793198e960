package vecmath

import (
	"fmt"
	"testing"
)

func TestTranspose(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		for _, c := range [][2]int{{0, 5}, {5, 0}, {1, 1}, {1, 9}, {9, 1}, {7, 7}, {8, 8}, {5, 7}, {16, 24}, {17, 9}, {23, 31}, {64, 128}, {128, 64}} {
			rows, cols := c[0], c[1]
			for _, pad := range []int{0, 3} {
				ss, ds := cols+pad, rows+2*pad
				// The tightest slices that hold the blocks.
				src := make([]float32, max(0, (rows-1)*ss+cols))
				for i := range src {
					src[i] = float32(i + 1)
				}
				dst := make([]float32, max(0, (cols-1)*ds+rows+pad))
				for i := range dst {
					dst[i] = -1
				}
				Transpose(dst, ds, src, ss, rows, cols)
				for cc := range cols {
					for d := range min(ds, len(dst)-cc*ds) {
						want := float32(-1)
						if d < rows {
							want = src[d*ss+cc]
						}
						if got := dst[cc*ds+d]; got != want {
							t.Fatalf("%dx%d pad %d: dst[%d][%d] = %v, want %v", rows, cols, pad, cc, d, got, want)
						}
					}
				}
			}
		}
	})
}

func TestTransposePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on a block that does not fit")
		}
	}()
	Transpose(make([]float32, 12), 3, make([]float32, 11), 4, 3, 4)
}

// GPT-2 small attention keys: a 128 (positions) x 64 (head dim) block of a
// [pos, head, d] tensor (row stride 12*64), into a 64 x 128 block.
func BenchmarkTranspose(b *testing.B) {
	const rows, cols, heads = 128, 64, 12
	src := benchInput(rows * heads * cols)
	dst := make([]float32, cols*rows*heads)
	for _, blocked := range []bool{true, false} {
		b.Run(fmt.Sprint("blocked=", blocked), func(b *testing.B) {
			benchPaths(b, len(src), func() {
				for h := range heads {
					if blocked {
						Transpose(dst[h*rows*cols:], rows, src[h*cols:], heads*cols, rows, cols)
					} else {
						transposeScalar(dst[h*rows*cols:], rows, src[h*cols:], heads*cols, rows, cols, 0)
					}
				}
			})
		})
	}
}
