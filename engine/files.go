package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/assets"
	"github.com/glia-dev/glia/format/gguf"
	"github.com/glia-dev/glia/format/llama2c"
	"github.com/glia-dev/glia/tokenizer"
)

// loadFile opens a single-file checkpoint by its extension.
func loadFile(path string) (*Model, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".gguf":
		return loadGGUF(path)
	case ".bin":
		return loadLlama2C(path)
	case ".onnx":
		return loadONNX(path)
	}
	return nil, fmt.Errorf("engine: %s: unknown model file type (want a Hugging Face directory, a .gguf file, a llama2.c .bin checkpoint or an .onnx image classifier)", path)
}

// loadLlama2C reads a llama2.c checkpoint and the tokenizer.bin (or tok*.bin)
// beside it, if any.
func loadLlama2C(path string) (*Model, error) {
	ck, err := llama2c.Open(path)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	defer ck.Close()
	m, err := FromSource(path, arch.NewConfig(path, ck.Config()), ck)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	cands, _ := filepath.Glob(filepath.Join(dir, "tok*.bin"))
	for _, c := range append([]string{filepath.Join(dir, "tokenizer.bin")}, cands...) {
		if _, err := os.Stat(c); err == nil && c != path {
			tok, err := tokenizer.FromLlama2C(c, ck.Params().VocabSize)
			if err != nil {
				return nil, fmt.Errorf("engine: tokenizer beside %s: %w", path, err)
			}
			m.Tokenizer = tok
			break
		}
	}
	return m, nil
}

// loadGGUF reads a GGUF file: llama-architecture weights, dequantised to
// float32, and the vocabulary it embeds.
func loadGGUF(path string) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	src, cfg, err := f.Llama()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("engine: %w", err)
	}
	defer src.Close() // closes f too
	m, err := FromSource(path, arch.NewConfig(path, cfg), src)
	if err != nil {
		return nil, err
	}
	v, err := f.Vocab()
	if err != nil {
		return nil, fmt.Errorf("engine: %s: vocabulary: %w", path, err)
	}
	if len(v.Tokens) > 0 {
		tok, err := tokenizer.FromGGUF(tokenizer.GGUFVocab(v))
		if err != nil {
			return nil, fmt.Errorf("engine: %s: vocabulary: %w", path, err)
		}
		m.Tokenizer = tok
	}
	return m, nil
}

// dirTokenizer finds a Hugging Face directory's tokenizer; none is not an
// error (token ids still work).
func dirTokenizer(dir string) (Tokenizer, error) {
	tok, err := tokenizer.FromDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return tok, nil
}

func embeddedTokenizer(vocab int) (Tokenizer, error) {
	tok, err := tokenizer.FromLlama2CBytes(assets.Stories260KTokenizer, vocab)
	if err != nil {
		return nil, fmt.Errorf("engine: embedded tokenizer: %w", err)
	}
	return tok, nil
}
