package phi3

import (
	"fmt"

	"github.com/glia-dev/glia/arch"
)

var _ arch.Lens = (*Model)(nil)

// MLPOut: Phi-3 fuses gate and up (gate_up_proj) but keeps down_proj, a
// Linear [d_model, d_mlp].
func (m *Model) MLPOut(layer int) (string, int) {
	return fmt.Sprintf("model.layers.%d.mlp.down_proj.weight", layer), 0
}

func (m *Model) MLPPostNorm(int) (string, float64) { return "", 0 }

func (m *Model) Unembedding() (string, int) {
	if m.tied {
		return "model.embed_tokens.weight", 1
	}
	return "lm_head.weight", 1
}

func (m *Model) FinalNorm() (string, float64, bool) { return "model.norm.weight", 0, false }

func (m *Model) LogitSoftCap() float64 { return 0 }
