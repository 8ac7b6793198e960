package arch

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// GoMLX v0.28.2 differentiates DotGeneral for the right operand (a linear
// layer's weight, attention's keys and values) by contracting the incoming
// gradient v against the left operand over their leading (row) axes, then
// transposing the result back into the operand's layout. Contracting two
// operands over their first axis is a layout no CPU matmul kernel reads,
// so the Go backend transposes both first: three transposes for every
// weight gradient, each over an activation-sized tensor (9% of a GPT-2
// training step). dotGeneralVJP writes that gradient with one: the left
// operand, rows last, against v as it is ([b, k, m]·[b, m, n], the layout
// the kernels read directly). The left operand's gradient is GoMLX's own
// form, which already needs no transpose. Other DotGenerals (batch axes not
// leading, several contracting axes, accumulator dtypes) keep GoMLX's VJP.
func init() {
	stock := VJPRegistration[NodeTypeDotGeneral]
	VJPRegistration[NodeTypeDotGeneral] = func(node *Node, v []*Node, out shapes.Shape) []*Node {
		if g := linearVJP(node, v[0]); g != nil {
			return g
		}
		return stock(node, v, out)
	}
}

// dotDesc reads a DotGeneral's axes from its description, the only place
// GoMLX v0.28.2 exposes them.
var dotDesc = regexp.MustCompile(`lhsContractingAxes=\[([0-9 ]*)\], lhsBatchAxes=\[([0-9 ]*)\], rhs=\[#\d+\], rhsContractingAxes=\[([0-9 ]*)\], rhsBatchAxes=\[([0-9 ]*)\], config=\{AccumulatorDType:InvalidDType OutputDType:InvalidDType\}`)

func parseAxes(s string) []int {
	var axes []int
	for _, f := range strings.Fields(s) {
		a, err := strconv.Atoi(f)
		if err != nil {
			return nil
		}
		axes = append(axes, a)
	}
	return axes
}

// linearVJP is the gradient of lhs [B…, C…, K] · rhs [B…, K, N] (or
// [B…, N, K]) → [B…, C…, N] with respect to both operands, or nil when
// node is another kind of DotGeneral.
func linearVJP(node, v *Node) []*Node {
	m := dotDesc.FindStringSubmatch(node.String())
	if m == nil || len(node.Inputs()) != 2 {
		return nil
	}
	lc, lb, rc, rb := parseAxes(m[1]), parseAxes(m[2]), parseAxes(m[3]), parseAxes(m[4])
	lhs, rhs := node.Inputs()[0], node.Inputs()[1]
	nb := len(lb)
	lead := make([]int, nb)
	for i := range lead {
		lead[i] = i
	}
	if !slices.Equal(lb, lead) || !slices.Equal(rb, lead) || len(lc) != 1 || lc[0] != lhs.Rank()-1 || lhs.Rank() < nb+2 ||
		rhs.Rank() != nb+2 || len(rc) != 1 || (rc[0] != nb && rc[0] != nb+1) ||
		v.DType() != lhs.DType() || rhs.DType() != lhs.DType() || !v.Shape().Equal(node.Shape()) {
		return nil
	}
	rCross := nb + 1 - (rc[0] - nb) // rhs's other axis
	dl := DotGeneral(v, []int{v.Rank() - 1}, lead, rhs, []int{rCross}, lead)
	ld, vd := lhs.Shape().Dimensions, v.Shape().Dimensions
	if nb == 0 {
		// Unbatched (every linear layer): both products contract over the
		// row axes as they lie, which the Go backend with glia's kernels
		// runs as one matmul with A transposed while packed, no transpose
		// or reshape node (engine/cpu/kernels/dotgeneral.go); compute's own
		// builder would transpose the left operand first.
		rowAxes := make([]int, lhs.Rank()-1)
		for i := range rowAxes {
			rowAxes[i] = i
		}
		var dr *Node
		if rc[0] == nb { // rhs [K, N]: xᵀ·v
			dr = DotGeneral(lhs, rowAxes, nil, v, rowAxes, nil)
		} else { // rhs [N, K]: vᵀ·x
			dr = DotGeneral(v, rowAxes, nil, lhs, rowAxes, nil)
		}
		if !dl.Shape().Equal(lhs.Shape()) || !dr.Shape().Equal(rhs.Shape()) {
			panic(fmt.Errorf("arch: DotGeneral gradient shapes %s, %s for operands %s, %s", dl.Shape(), dr.Shape(), lhs.Shape(), rhs.Shape()))
		}
		return []*Node{dl, dr}
	}
	rows := 1
	for _, d := range ld[nb : len(ld)-1] {
		rows *= d
	}
	x2 := Reshape(lhs, append(slices.Clone(ld[:nb]), rows, ld[len(ld)-1])...) // [B…, M, K]
	v2 := Reshape(v, append(slices.Clone(vd[:nb]), rows, vd[len(vd)-1])...)   // [B…, M, N]
	swap := append(slices.Clone(lead), nb+1, nb)
	var dr *Node
	if rc[0] == nb { // rhs [B…, K, N]: xᵀ·v
		dr = DotGeneral(TransposeAllAxes(x2, swap...), []int{nb + 1}, lead, v2, []int{nb}, lead)
	} else { // rhs [B…, N, K]: vᵀ·x
		dr = DotGeneral(TransposeAllAxes(v2, swap...), []int{nb + 1}, lead, x2, []int{nb}, lead)
	}
	if !dl.Shape().Equal(lhs.Shape()) || !dr.Shape().Equal(rhs.Shape()) {
		panic(fmt.Errorf("arch: DotGeneral gradient shapes %s, %s for operands %s, %s", dl.Shape(), dr.Shape(), lhs.Shape(), rhs.Shape()))
	}
	return []*Node{dl, dr}
}
