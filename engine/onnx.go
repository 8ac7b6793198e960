package engine

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/format/onnx"
	"github.com/glia-dev/glia/images"
)

// loadONNX reads an ONNX image classifier (family arch/onnx). Its input
// size is the graph input's when fixed; a graph with dynamic height or
// width (PaddleOCR's) takes it from the preprocessor_config.json beside the
// file, which also says how images are normalised for it.
func loadONNX(path string) (*Model, error) {
	f, err := onnx.Open(path)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	desc, src, err := f.Describe()
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	defer src.Close()
	if len(desc.Inputs) != 1 || len(desc.Inputs[0].Dims) != 4 || len(desc.Outputs) != 1 || len(desc.Outputs[0].Dims) != 2 {
		return nil, fmt.Errorf("engine: %s: not an image classifier: want one input [batch, channels, height, width] and one output [batch, classes]", path)
	}
	in, out := desc.Inputs[0], desc.Outputs[0]
	h, w := in.Dims[2], in.Dims[3]
	if h < 0 || w < 0 {
		pp := filepath.Join(filepath.Dir(path), "preprocessor_config.json")
		if _, err := os.Stat(pp); err != nil {
			return nil, fmt.Errorf("engine: %s: the input %q has dynamic dims %v %v; put a preprocessor_config.json with \"size\": {\"height\", \"width\"} beside the model", path, in.Name, in.Dims, in.Params)
		}
		pre, err := images.ReadPreprocessor(pp)
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		h, w = pre.Height, pre.Width
	}
	if in.Dims[1] < 1 || out.Dims[1] < 1 {
		return nil, fmt.Errorf("engine: %s: the channel count (input dims %v) and the class count (output dims %v) must be fixed", path, in.Dims, out.Dims)
	}
	cfg := arch.NewConfig(path, map[string]any{"model_type": "onnx", "graph": desc,
		"num_channels": in.Dims[1], "image_height": h, "image_width": w, "num_labels": out.Dims[1]})
	if err := cfg.Err(); err != nil {
		return nil, fmt.Errorf("engine: %s: %w", path, err)
	}
	return FromSource(path, cfg, src)
}
