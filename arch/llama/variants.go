package llama

import "github.com/glia-dev/glia/arch"

// Mistral, Qwen2 and Qwen3 are Llama with the options below; see Options.
func init() {
	arch.Register("mistral", func(c *arch.Config) (arch.Family, error) {
		// Mistral's sliding_window, when set, applies to every layer.
		w := c.Int("sliding_window", 0)
		return New(c, Options{Window: func(int) int { return w }})
	})
	arch.Register("qwen2", func(c *arch.Config) (arch.Family, error) {
		return New(c, Options{QKVBias: true, Window: layerWindows(c)})
	})
	arch.Register("qwen3", func(c *arch.Config) (arch.Family, error) {
		return New(c, Options{QKNorm: true, Window: layerWindows(c)})
	})
}

// layerWindows reads Qwen's per-layer attention type: layer_types when the
// config lists it, else use_sliding_window from max_window_layers on.
func layerWindows(c *arch.Config) func(int) int {
	w := c.Int("sliding_window", 0)
	types := c.Strings("layer_types")
	use := c.Bool("use_sliding_window", false)
	from := c.Int("max_window_layers", 0)
	return func(l int) int {
		if w <= 0 {
			return 0
		}
		if types != nil {
			if l < len(types) && types[l] == "sliding_attention" {
				return w
			}
			return 0
		}
		if use && l >= from {
			return w
		}
		return 0
	}
}
