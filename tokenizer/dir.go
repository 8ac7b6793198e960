package tokenizer

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// FromDir finds a model directory's tokenizer: tokenizer.json (or
// tokenizer.json.gz), else vocab.json + merges.txt, else a llama2.c
// tokenizer.bin or tok*.bin. When there is none the error wraps
// os.ErrNotExist.
func FromDir(dir string) (*Tokenizer, error) {
	exists := func(name string) bool {
		st, err := os.Stat(filepath.Join(dir, name))
		return err == nil && !st.IsDir()
	}
	for _, name := range []string{"tokenizer.json", "tokenizer.json.gz"} {
		if exists(name) {
			return FromFile(filepath.Join(dir, name))
		}
	}
	if exists("vocab.json") && exists("merges.txt") {
		return FromGPT2Files(filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt"))
	}
	if exists("tokenizer.bin") {
		return FromLlama2C(filepath.Join(dir, "tokenizer.bin"), 0)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "tok*.bin"))
	sort.Strings(matches)
	for _, p := range matches {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return FromLlama2C(p, 0)
		}
	}
	return nil, fmt.Errorf("%s: no tokenizer.json, vocab.json+merges.txt or tokenizer.bin: %w", dir, os.ErrNotExist)
}
