package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
)

// FromGPT2Files reads GPT-2's vocabulary: vocab.json (or encoder.json) and
// merges.txt (or vocab.bpe). Either may be gzipped. The result is the
// tokenizer HF builds for GPT-2: byte-level BPE with the GPT-2 split pattern,
// no prefix space, and <|endoftext|> as a special token when present.
func FromGPT2Files(vocabJSON, mergesTXT string) (*Tokenizer, error) {
	v, err := readMaybeGzip(vocabJSON)
	if err != nil {
		return nil, err
	}
	m, err := readMaybeGzip(mergesTXT)
	if err != nil {
		return nil, err
	}
	j, err := gpt2TokenizerJSON(v, m)
	if err != nil {
		return nil, err
	}
	return FromJSON(j)
}

// gpt2TokenizerJSON assembles a tokenizer.json from vocab.json + merges.txt.
func gpt2TokenizerJSON(vocabJSON, mergesTXT []byte) ([]byte, error) {
	var vocab map[string]int
	if err := json.Unmarshal(vocabJSON, &vocab); err != nil {
		return nil, fmt.Errorf("vocab.json: want an object of token -> id: %v", err)
	}
	var merges []string
	for i, l := range strings.Split(string(mergesTXT), "\n") {
		l = strings.TrimRight(l, "\r")
		if (i == 0 && strings.HasPrefix(l, "#version")) || strings.TrimSpace(l) == "" {
			continue
		}
		if strings.Count(l, " ") != 1 {
			return nil, fmt.Errorf("merges.txt line %d: %q is not \"left right\"", i+1, l)
		}
		merges = append(merges, l)
	}
	added := []AddedToken{}
	if id, ok := vocab["<|endoftext|>"]; ok {
		added = append(added, AddedToken{ID: id, Content: "<|endoftext|>", Special: true})
	}
	return json.Marshal(map[string]any{
		"version":        "1.0",
		"added_tokens":   added,
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": merges},
	})
}
