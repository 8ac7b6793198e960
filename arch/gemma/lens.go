package gemma

import (
	"fmt"

	"github.com/glia-dev/glia/arch"
)

var _ arch.Lens = (*Model)(nil)

// MLPOut is down_proj, a Linear [d_model, d_mlp].
func (m *Model) MLPOut(layer int) (string, int) {
	return fmt.Sprintf("model.layers.%d.mlp.down_proj.weight", layer), 0
}

// MLPPostNorm: Gemma 2 and 3 normalise the MLP output
// (post_feedforward_layernorm, gain 1+w) before adding it to the residual.
func (m *Model) MLPPostNorm(layer int) (string, float64) {
	if !m.sandwich {
		return "", 0
	}
	return fmt.Sprintf("model.layers.%d.post_feedforward_layernorm.weight", layer), 1
}

// Unembedding: Gemma ties it to the embedding unless told otherwise. The
// √d_model scale applies to the embedding's input use only.
func (m *Model) Unembedding() (string, int) {
	if m.tied {
		return "model.embed_tokens.weight", 1
	}
	return "lm_head.weight", 1
}

// FinalNorm: Gemma's RMSNorm stores w with gain 1+w.
func (m *Model) FinalNorm() (string, float64, bool) { return "model.norm.weight", 1, false }

// LogitSoftCap is Gemma 2's final_logit_softcapping (0 when off).
func (m *Model) LogitSoftCap() float64 { return m.finalCap }
