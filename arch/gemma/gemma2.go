package gemma

import "github.com/glia-dev/glia/arch"

// NewGemma2 reads a Gemma 2 config.json: Gemma plus sandwich norms,
// query_pre_attn_scalar scaling, attention and final logit soft-capping, and
// sliding-window attention on the layers layer_types marks
// sliding_attention (without layer_types, transformers makes the even layers
// sliding). A soft-cap that is null or absent is off.
func NewGemma2(c *arch.Config) (arch.Family, error) {
	m, err := common(c, "hidden_activation")
	if err != nil {
		return nil, err
	}
	types, err := layerTypes(c, m.dims.Layers, 2)
	if err != nil {
		return nil, err
	}
	m.softCaps(c, types, 50, 30) // Gemma2Config defaults
	m.ropes = []arch.Rope{arch.NewRope(c, arch.RopeParams(c, ""), m.dims.DHead)}
	return m, c.Err()
}
