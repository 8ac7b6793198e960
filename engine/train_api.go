package engine

import (
	"github.com/glia-dev/glia/arch"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// What package train needs to build its own graphs (a training step, a
// held-out loss) over a model's forward pass: the forward pass as a graph
// function of weight nodes, and the weight specs in the order it takes them.
// The model's own weights are only the starting point; train keeps its
// copies and writes the result as a checkpoint that Load reads back.

// Forward builds logits [batch, pos, vocab] for ids [batch, pos] int32 (no
// padding: positions 0..pos-1) from weight nodes given in WeightSpecs order,
// in whatever dtype they are; for an image family ids are the pixels
// [batch, channels, height, width] float32 and the logits [batch, 1,
// num_labels]. Graph code: it panics on a bad shape; call it inside a graph
// function (NewExec) and recover with Catch.
func (m *Model) Forward(ids *Node, weights []*Node) *Node {
	if n := m.familyWeights(); len(weights) != n {
		exceptions.Panicf("engine: Forward given %d weights, the %s family reads %d", len(weights), m.Config.String("model_type", "?"), n)
	}
	if _, images := m.ImageShape(); images {
		logits, _ := m.build(append([]*Node{ids}, weights...), buildOpts{})
		return logits
	}
	g := ids.Graph()
	dims := ids.Shape().Dimensions
	pos := Iota(g, shapes.Make(dtypes.Int32, dims...), 1)
	mask := OnesLike(pos)
	logits, _ := m.build(append([]*Node{ids, pos, mask}, weights...), buildOpts{unpadded: true})
	return logits
}

// WeightSpecs lists the weights Forward takes, in its order.
func (m *Model) WeightSpecs() []arch.WeightSpec {
	return append([]arch.WeightSpec(nil), m.specs[:m.familyWeights()]...)
}
