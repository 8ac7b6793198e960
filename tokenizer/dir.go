package tokenizer

import (
	"encoding/json"
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
			t, err := FromFile(filepath.Join(dir, name))
			if err == nil {
				t.applyTokenizerConfig(dir)
			}
			return t, err
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

// applyTokenizerConfig takes bos_token / eos_token from the directory's
// tokenizer_config.json when it names tokens the tokenizer knows.
func (t *Tokenizer) applyTokenizerConfig(dir string) {
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return
	}
	var cfg map[string]json.RawMessage
	if json.Unmarshal(data, &cfg) != nil {
		return
	}
	name := func(k string) string {
		var s string
		if json.Unmarshal(cfg[k], &s) == nil {
			return s
		}
		var o struct{ Content string }
		if json.Unmarshal(cfg[k], &o) == nil {
			return o.Content
		}
		return ""
	}
	if id, ok := t.TokenID(name("bos_token")); ok && name("bos_token") != "" {
		t.bos = id
	}
	if id, ok := t.TokenID(name("eos_token")); ok && name("eos_token") != "" {
		t.eos = id
	}
}
