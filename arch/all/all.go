// Package all registers every model family glia supports.
package all

import (
	_ "github.com/glia-dev/glia/arch/cnn"
	_ "github.com/glia-dev/glia/arch/gemma"
	_ "github.com/glia-dev/glia/arch/gpt2"
	_ "github.com/glia-dev/glia/arch/llama"
	_ "github.com/glia-dev/glia/arch/neox"
	_ "github.com/glia-dev/glia/arch/olmo2"
	_ "github.com/glia-dev/glia/arch/onnx"
	_ "github.com/glia-dev/glia/arch/phi3"
	_ "github.com/glia-dev/glia/arch/vit"
)
