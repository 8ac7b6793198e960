package arch

import (
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// Padded surrounds x [b, c, h, w] with pads [top, left, bottom, right] of
// value v, by concatenation (GoMLX's Pad has no gradient).
func Padded(x *Node, p [4]int, v float64) *Node {
	d := x.Shape().Dimensions
	fill := func(h, w int) *Node { return FillScalar(x.Graph(), shapes.Make(x.DType(), d[0], d[1], h, w), v) }
	if p[0]+p[2] > 0 {
		parts := []*Node{x}
		if p[0] > 0 {
			parts = append([]*Node{fill(p[0], d[3])}, parts...)
		}
		if p[2] > 0 {
			parts = append(parts, fill(p[2], d[3]))
		}
		x = Concatenate(parts, 2)
	}
	if p[1]+p[3] > 0 {
		h := x.Shape().Dimensions[2]
		parts := []*Node{x}
		if p[1] > 0 {
			parts = append([]*Node{fill(h, p[1])}, parts...)
		}
		if p[3] > 0 {
			parts = append(parts, fill(h, p[3]))
		}
		x = Concatenate(parts, 3)
	}
	return x
}

// Windows are the kh·kw shifts of x [b, c, h, w] with strides (sh, sw),
// stacked as [b, c, kh·kw, oh, ow] in the kernel's row-major order: im2col
// as slices, whose gradient is cheap on the CPU backend, for convolutions
// (one matrix product over the stacked axis) and pooling (a reduction).
func Windows(x *Node, kh, kw, sh, sw, oh, ow int) *Node {
	vs := make([]*Node, 0, kh*kw)
	for i := range kh {
		for j := range kw {
			vs = append(vs, Slice(x, AxisRange(), AxisRange(),
				AxisRange(i, i+sh*(oh-1)+1).Stride(sh), AxisRange(j, j+sw*(ow-1)+1).Stride(sw)))
		}
	}
	return Stack(vs, 2)
}
