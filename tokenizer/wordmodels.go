package tokenizer

import (
	"fmt"
	"unicode/utf8"
)

// wordPieceModel is HF's WordPiece: greedy longest-match-first subwords,
// continuations prefixed (##), the whole word as unk when any part fails or
// when it is longer than maxChars characters.
type wordPieceModel struct {
	vocabIndex
	unk      int
	prefix   string
	maxChars int
}

// wordLevelModel maps each pre-token to its id, or to unk.
type wordLevelModel struct {
	vocabIndex
	unk int // -1: unknown words are dropped
}

type vocabIndex struct {
	vocab  map[string]int
	vocabR []string
}

func newVocabIndex(vocab map[string]int) (vocabIndex, error) {
	maxID := -1
	for tok, id := range vocab {
		if id < 0 {
			return vocabIndex{}, fmt.Errorf("model.vocab: negative id %d for %q", id, tok)
		}
		maxID = max(maxID, id)
	}
	r := make([]string, maxID+1)
	for tok, id := range vocab {
		r[id] = tok
	}
	return vocabIndex{vocab, r}, nil
}

func (v vocabIndex) idToToken(id int) (string, bool) {
	if id < 0 || id >= len(v.vocabR) {
		return "", false
	}
	s := v.vocabR[id]
	if s == "" {
		got, ok := v.vocab[""]
		return "", ok && got == id
	}
	return s, true
}

func (v vocabIndex) tokenToID(s string) (int, bool) { id, ok := v.vocab[s]; return id, ok }
func (v vocabIndex) size() int                      { return len(v.vocabR) }

func (m *wordPieceModel) encode(w string, out []int) []int {
	if w == "" {
		return out
	}
	if utf8.RuneCountInString(w) > m.maxChars {
		return append(out, m.unk)
	}
	n := len(out)
	buf := make([]byte, 0, len(m.prefix)+len(w))
	for start := 0; start < len(w); {
		end := len(w)
		found := -1
		for start < end {
			sub := w[start:end]
			if start > 0 {
				buf = append(append(buf[:0], m.prefix...), sub...)
				sub = string(buf)
			}
			if id, ok := m.vocab[sub]; ok {
				found = id
				break
			}
			_, sz := utf8.DecodeLastRuneInString(w[start:end])
			end -= sz
		}
		if found < 0 {
			return append(out[:n], m.unk)
		}
		out = append(out, found)
		start = end
	}
	return out
}

func (m *wordLevelModel) encode(w string, out []int) []int {
	if id, ok := m.vocab[w]; ok {
		return append(out, id)
	}
	if m.unk >= 0 {
		return append(out, m.unk)
	}
	return out
}

func parseWordModel(field, typ string, o rawObj) (model, error) {
	if !o.has("vocab") {
		return nil, fmt.Errorf("%s.vocab: missing", field)
	}
	vocab, err := fastVocab(o["vocab"])
	if err != nil {
		return nil, fmt.Errorf("%s.vocab: want an object of token -> id", field)
	}
	vi, err := newVocabIndex(vocab)
	if err != nil {
		return nil, err
	}
	unkName := "[UNK]"
	if typ == "WordLevel" {
		unkName = "<unk>"
	}
	if o.has("unk_token") {
		if unkName, err = o.str(field, "unk_token"); err != nil {
			return nil, err
		}
	}
	unk, ok := vocab[unkName]
	if typ == "WordLevel" {
		if !ok {
			unk = -1
		}
		return &wordLevelModel{vi, unk}, nil
	}
	if !ok {
		return nil, fmt.Errorf("%s.unk_token: %q is not in the vocabulary", field, unkName)
	}
	m := &wordPieceModel{vocabIndex: vi, unk: unk, prefix: "##", maxChars: 100}
	if o.has("continuing_subword_prefix") {
		if m.prefix, err = o.str(field, "continuing_subword_prefix"); err != nil {
			return nil, err
		}
	}
	if m.maxChars, err = o.integer(field, "max_input_chars_per_word", 100); err != nil {
		return nil, err
	}
	return m, nil
}
