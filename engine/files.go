package engine

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/format/llama2c"
)

// loadFile opens a single-file checkpoint by its extension.
func loadFile(path string) (*Model, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".gguf":
		return loadGGUF(path)
	case ".bin":
		ck, err := llama2c.Open(path)
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		defer ck.Close()
		return FromSource(path, arch.NewConfig(path, ck.Config()), ck)
	}
	return nil, fmt.Errorf("engine: %s: unknown model file type (want a Hugging Face directory, .gguf, or a llama2.c .bin)", path)
}

func loadGGUF(path string) (*Model, error) {
	return nil, fmt.Errorf("engine: %s: GGUF not wired yet", path) // TODO(lead)
}

func dirTokenizer(dir string) (Tokenizer, error) { return nil, nil } // TODO(lead)

func embeddedTokenizer(vocab int) (Tokenizer, error) { return nil, nil } // TODO(lead)
