package engine

import (
	"fmt"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/assets"
	"github.com/glia-dev/glia/format/llama2c"
)

// LoadDefault loads the embedded stories260K model and its tokenizer.
func LoadDefault() (*Model, error) {
	ck, err := llama2c.OpenBytes("stories260K.bin", assets.Stories260KBin)
	if err != nil {
		return nil, fmt.Errorf("engine: embedded model: %w", err)
	}
	m, err := FromSource(assets.Stories260KName, arch.NewConfig("stories260K.bin", ck.Config()), ck)
	if err != nil {
		return nil, err
	}
	m.Tokenizer, err = embeddedTokenizer(ck.Params().VocabSize)
	return m, err
}
