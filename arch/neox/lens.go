package neox

import (
	"fmt"

	"github.com/glia-dev/glia/arch"
)

var _ arch.Lens = (*Model)(nil)

// MLPOut is dense_4h_to_h, a Linear [d_model, d_mlp]. With the parallel
// residual the MLP output joins the residual directly all the same.
func (m *Model) MLPOut(layer int) (string, int) {
	return fmt.Sprintf("gpt_neox.layers.%d.mlp.dense_4h_to_h.weight", layer), 0
}

func (m *Model) MLPPostNorm(int) (string, float64) { return "", 0 }

// Unembedding is embed_out (or embed_in when tied).
func (m *Model) Unembedding() (string, int) {
	if m.tied {
		return "gpt_neox.embed_in.weight", 1
	}
	return "embed_out.weight", 1
}

// FinalNorm is final_layer_norm, a LayerNorm: it centres.
func (m *Model) FinalNorm() (string, float64, bool) {
	return "gpt_neox.final_layer_norm.weight", 0, true
}

func (m *Model) LogitSoftCap() float64 { return 0 }
