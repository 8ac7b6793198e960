package gpt2

import (
	"fmt"

	"github.com/glia-dev/glia/arch"
)

var _ arch.Lens = (*Model)(nil)

// MLPOut is the Conv1D c_proj, stored [d_mlp, d_model].
func (m *Model) MLPOut(layer int) (string, int) {
	return fmt.Sprintf("transformer.h.%d.mlp.c_proj.weight", layer), 1
}

func (m *Model) MLPPostNorm(int) (string, float64) { return "", 0 }

func (m *Model) Unembedding() (string, int) {
	if m.tied {
		return "transformer.wte.weight", 1
	}
	return "lm_head.weight", 1
}

// FinalNorm is ln_f, a LayerNorm: it centres.
func (m *Model) FinalNorm() (string, float64, bool) { return "transformer.ln_f.weight", 0, true }

func (m *Model) LogitSoftCap() float64 { return 0 }
