package llama

import (
	"fmt"

	"github.com/glia-dev/glia/arch"
)

var _ arch.Lens = (*Model)(nil)

// MLPOut is down_proj, a Linear [d_model, d_mlp] (Llama, Mistral, Qwen2, Qwen3).
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

// FinalNorm is model.norm, an RMSNorm (no centring).
func (m *Model) FinalNorm() (string, float64, bool) { return "model.norm.weight", 0, false }

func (m *Model) LogitSoftCap() float64 { return 0 }
