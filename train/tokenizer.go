package train

import (
	"encoding/json"
	"strconv"

	"github.com/glia-dev/glia/tokenizer"
)

// Vocabulary is a task whose token ids have names: it can write a
// tokenizer.json so that a trained model takes text, as every glia command
// that reads prompts or corpora (atlas build, explain, patch, serve) needs.
type Vocabulary interface {
	TokenizerJSON() []byte
}

// TokenizerJSON names the induction task's ids: id 0 is "<bos>", added at
// the start of every encoded text as the task's sequences begin; ids
// 1…vocab-1 are their decimal numbers, separated by white space in text
// ("<bos> 17 4 17").
func (t *Induction) TokenizerJSON() []byte {
	return numberTokenizer(t.VocabSize, map[int]string{0: "<bos>"}, "<bos>")
}

// TokenizerJSON names modular addition's ids: 0…p-1 are the numbers, p is
// "=" ("12 40 =" asks for (12+40) mod p). There is no BOS.
func (t *ModAdd) TokenizerJSON() []byte {
	return numberTokenizer(t.P+1, map[int]string{t.P: "="}, "")
}

// numberTokenizer is a Hugging Face tokenizer.json whose vocabulary is the
// decimal numbers 0…vocab-1 (specials replacing some), pre-split on white
// space. It is a BPE model with ignore_merges and no merges, so a word that
// is a number below vocab is its own id and anything else falls apart into
// digits: the file loads in glia and in transformers alike. Decoding joins
// tokens with spaces, as tokenizers does without a decoder.
func numberTokenizer(vocab int, specials map[int]string, bos string) []byte {
	words := make(map[string]int, vocab)
	var addedTokens []tokenizer.AddedToken
	for id := range vocab {
		if s, ok := specials[id]; ok {
			words[s] = id
			addedTokens = append(addedTokens, tokenizer.AddedToken{ID: id, Content: s, Special: true})
			continue
		}
		words[strconv.Itoa(id)] = id
	}
	var post any
	if bos != "" {
		post = map[string]any{
			"type":           "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": bos, "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"pair":           []any{map[string]any{"SpecialToken": map[string]any{"id": bos, "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}}},
			"special_tokens": map[string]any{bos: map[string]any{"id": bos, "ids": []int{words[bos]}, "tokens": []string{bos}}},
		}
	}
	doc := map[string]any{
		"version":        "1.0",
		"truncation":     nil,
		"padding":        nil,
		"added_tokens":   addedTokens,
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "WhitespaceSplit"},
		"post_processor": post,
		"decoder":        nil,
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil, "end_of_word_suffix": nil,
			"fuse_unk": false, "byte_fallback": false, "ignore_merges": true, "vocab": words, "merges": []string{},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err) // maps of strings and ints always marshal
	}
	return append(b, '\n')
}
