package train

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/glia-dev/glia/format/safetensors"
)

// WriteModelDir writes a Hugging Face model directory that engine.Load and
// transformers read: config.json, model.safetensors (float32, the family's
// tensor names; a tied unembedding is not stored twice),
// generation_config.json, and tokenizer.json when tokenizerJSON (the
// file's contents) is not empty. Each file is replaced atomically.
func WriteModelDir(dir string, config map[string]any, weights []safetensors.Tensor, tokenizerJSON []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, safetensors.SingleFile), func(w io.Writer) error {
		_, err := safetensors.WriteTo(w, weights, map[string]string{"format": "pt"})
		return err
	}); err != nil {
		return err
	}
	gen := map[string]any{"_from_model_config": true}
	for _, k := range []string{"bos_token_id", "eos_token_id"} {
		if v, ok := config[k]; ok && v != nil {
			gen[k] = v
		}
	}
	for name, v := range map[string]any{"config.json": config, "generation_config.json": gen} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("train: %s: %w", name, err)
		}
		if err := writeFileAtomic(filepath.Join(dir, name), append(b, '\n')); err != nil {
			return err
		}
	}
	if len(tokenizerJSON) > 0 {
		if err := writeFileAtomic(filepath.Join(dir, "tokenizer.json"), tokenizerJSON); err != nil {
			return err
		}
	}
	return nil
}
