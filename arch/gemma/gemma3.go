package gemma

import (
	"fmt"

	"github.com/glia-dev/glia/arch"
)

// NewGemma3 reads a Gemma 3 text config.json (model_type gemma3_text): Gemma 2
// plus q_norm and k_norm (N over each head before rotary) and a rotary base
// per layer type. Layers without layer_types are sliding except every
// sliding_window_pattern-th (default 6).
//
// Rotary parameters come from transformers 5's rope_parameters, one dict per
// layer type ("full_attention", "sliding_attention"), or from older configs'
// rope_theta and rope_scaling (global layers) and rope_local_base_freq
// (sliding layers, never scaled). Missing bases default as in transformers:
// 1e6 global, 1e4 local.
func NewGemma3(c *arch.Config) (arch.Family, error) {
	m, err := common(c, "hidden_activation")
	if err != nil {
		return nil, err
	}
	m.qkNorm = true
	// transformers reads sliding_window_pattern (not the _sliding_window_pattern
	// it serialises) and only when layer_types is absent.
	pattern := c.Int("sliding_window_pattern", 6)
	types, err := layerTypes(c, m.dims.Layers, pattern)
	if err != nil {
		return nil, err
	}
	m.softCaps(c, types, 0, 0) // Gemma3TextConfig defaults: None
	global, local, err := gemma3Rope(c)
	if err != nil {
		return nil, err
	}
	m.ropes = []arch.Rope{arch.NewRope(c, global, m.dims.DHead), arch.NewRope(c, local, m.dims.DHead)}
	for l, t := range types {
		if t == sliding {
			m.ropeOf[l] = 1
		}
	}
	return m, c.Err()
}

// gemma3Rope returns the rotary parameters of full and sliding layers.
func gemma3Rope(c *arch.Config) (global, local *arch.Config, err error) {
	var globalParams, localParams any
	globalScaling := c.Raw("rope_scaling") // transformers folds it into the global parameters
	if c.Has("rope_parameters") {
		p := c.Sub("rope_parameters")
		if p == nil {
			return nil, nil, c.Err()
		}
		if p.Has(full) || p.Has(sliding) {
			globalParams, localParams = p.Raw(full), p.Raw(sliding)
		} else {
			// One dict for all layers describes the global rotary; sliding
			// layers keep their own base, unscaled.
			globalParams = c.Raw("rope_parameters")
		}
	}
	if global, err = ropeConfig(c, full, globalParams, globalScaling, c.Float("rope_theta", 1e6)); err != nil {
		return nil, nil, err
	}
	local, err = ropeConfig(c, sliding, localParams, nil, c.Float("rope_local_base_freq", 1e4))
	return global, local, err
}

// ropeConfig builds a rotary parameter object from a decoded dict (may be
// nil), updated with scaling (may be nil), with rope_theta defaulting to theta.
func ropeConfig(c *arch.Config, layerType string, params, scaling any, theta float64) (*arch.Config, error) {
	m := map[string]any{"rope_type": "default", "rope_theta": theta}
	for _, src := range []any{params, scaling} {
		if src == nil {
			continue
		}
		d, ok := src.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("rotary parameters for %s: want an object, got %v", layerType, src)
		}
		for k, v := range d {
			if v != nil {
				m[k] = v
			}
		}
		if t, ok := d["type"]; ok && d["rope_type"] == nil {
			m["rope_type"] = t
		}
	}
	return arch.NewConfig(c.Source+":rope:"+layerType, m), nil
}
