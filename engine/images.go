package engine

import (
	"errors"
	"fmt"

	"github.com/glia-dev/glia/arch"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// Image families (arch.ImageFamily) take one graph input, the pixels
// [batch, channels, height, width] float32, where token families take ids,
// positions and a mask; everything else (hooks, interventions, gradients,
// the graph cache) is shared. Their logits are [batch, 1, num_labels].

// ImageShape is the [channels, height, width] an image family reads;
// ok is false for token models.
func (m *Model) ImageShape() (shape [3]int, ok bool) {
	f, ok := m.Family.(arch.ImageFamily)
	if !ok {
		return shape, false
	}
	return f.ImageShape(), true
}

// PatchGrid is a patch-sequence family's grid (ViT: position 0 is CLS,
// then rows·cols patches row by row); ok is false for other models.
func (m *Model) PatchGrid() (rows, cols int, ok bool) {
	f, ok := m.Family.(arch.PatchFamily)
	if !ok {
		return 0, 0, false
	}
	rows, cols = f.PatchGrid()
	return rows, cols, true
}

// inputShapes are the graph inputs before the weights for a batch of b
// (and t tokens for token models).
func (m *Model) inputShapes(b, t int) []shapes.Shape {
	if s, ok := m.ImageShape(); ok {
		return []shapes.Shape{shapes.Make(dtypes.Float32, b, s[0], s[1], s[2])}
	}
	tok := shapes.Make(dtypes.Int32, b, t)
	return []shapes.Shape{tok, tok, tok}
}

// pixelInputs checks an image request against the model's input shape.
func (m *Model) pixelInputs(req Request) ([]any, int, error) {
	want, ok := m.ImageShape()
	switch {
	case !ok:
		return nil, 0, fmt.Errorf("engine: %s reads token ids, not images", m.Name)
	case req.Pixels == nil:
		return nil, 0, fmt.Errorf("engine: %s is an image model: give Pixels [batch, %d, %d, %d], not token ids", m.Name, want[0], want[1], want[2])
	case len(req.IDs) > 0:
		return nil, 0, errors.New("engine: give Pixels or IDs, not both")
	case req.Mask != nil:
		return nil, 0, errors.New("engine: an image request has no mask")
	}
	p := req.Pixels
	if len(p.Shape) != 4 || p.Shape[0] < 1 || p.Shape[1] != want[0] || p.Shape[2] != want[1] || p.Shape[3] != want[2] {
		return nil, 0, fmt.Errorf("engine: pixels are %v; %s reads [batch, %d, %d, %d] (resize with package images)", p.Shape, m.Name, want[0], want[1], want[2])
	}
	if n := p.Shape[0] * want[0] * want[1] * want[2]; len(p.Data) != n {
		return nil, 0, fmt.Errorf("engine: pixels hold %d values for shape %v (%d)", len(p.Data), p.Shape, n)
	}
	return []any{tensors.FromFlatDataAndDimensions(p.Data, p.Shape...)}, p.Shape[0], nil
}
