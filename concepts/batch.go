package concepts

import (
	"math"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/experiment"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
)

// fixedBatches runs windows in batches of one shape, [size, longest window]
// (short windows right-padded under the mask, the last batch filled with
// copies of its first row), so each intervention compiles one graph per
// corpus set instead of one per ragged batch. fn sees the real rows only.
func fixedBatches(m *engine.Model, windows [][]int32, size int, req engine.Request, fn func(res *engine.Result, rows [][]int32, width int)) error {
	width := 0
	for _, w := range windows {
		width = max(width, len(w))
	}
	size = min(size, len(windows))
	for start := 0; start < len(windows); start += size {
		rows := windows[start:min(start+size, len(windows))]
		ids := make([][]int32, size)
		mask := make([][]bool, size)
		for i := range size {
			r := rows[0]
			if i < len(rows) {
				r = rows[i]
			}
			ids[i], mask[i] = make([]int32, width), make([]bool, width)
			copy(ids[i], r)
			for j := range r {
				mask[i][j] = true
			}
		}
		q := req
		q.IDs, q.Mask = ids, mask
		res, err := m.Run(q)
		if err != nil {
			return err
		}
		fn(res, rows, width)
	}
	return nil
}

// nextTokenProb is the gradient target of CULNIG adapted to corpora: for
// each row, the mean over its predicted positions of the probability of the
// correct next token (BOS targets and padding left out), summed over rows
// (rows are independent, so each gets its own gradient).
func nextTokenProb(bos int32) *engine.GradTarget {
	return &engine.GradTarget{Key: "concepts:next-token-prob", FnInputs: func(logits, ids, mask *Node) *Node {
		g := logits.Graph()
		dims := logits.Shape().Dimensions
		t, vocab := dims[1], dims[2]
		labels := SliceAxis(ids, 1, AxisRange(1, t))
		valid := Mul(SliceAxis(mask, 1, AxisRange(1, t)), SliceAxis(mask, 1, AxisRange(0, t-1)))
		w := Mul(ConvertDType(valid, dtypes.Float32), ConvertDType(NotEqual(labels, Scalar(g, dtypes.Int32, bos)), dtypes.Float32))
		probs := Softmax(SliceAxis(logits, 1, AxisRange(0, t-1)), -1)
		p := ReduceSum(Mul(probs, OneHot(labels, vocab, dtypes.Float32)), -1)
		perRow := Div(ReduceSum(Mul(p, w), 1), MaxScalar(ReduceSum(w, 1), 1))
		return ReduceAllSum(perRow)
	}}
}

// meanCorrectProb is the mean probability of the correct next token over
// row b's predicted positions (0 when none is).
func meanCorrectProb(logits engine.Array, b, width int, row []int32, bos int32) float64 {
	var s float64
	n := 0
	for _, l := range experiment.TokenLosses(logits, b, width, row, bos) {
		if !math.IsNaN(l) {
			s += math.Exp(-l)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return s / float64(n)
}
