package engine

import (
	"errors"
	"fmt"

	"github.com/glia-dev/glia/tokenizer"
)

// ErrNoTokenizer is returned by Encode for a model loaded without a
// tokenizer; callers that can take token ids instead say so.
var ErrNoTokenizer = errors.New("no tokenizer")

// Encode tokenizes text. bos adds the tokenizer's special tokens (the BOS
// that starts a prompt); corpora pack their own BOS at document starts and
// pass false.
//
// The tokenizer speaks []int; the engine runs []int32. Encode and Decode
// are the one place that converts.
func (m *Model) Encode(text string, bos bool) ([]int32, error) {
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("engine: %s has %w", m.Name, ErrNoTokenizer)
	}
	ids := m.Tokenizer.Encode(text, bos)
	out := make([]int32, len(ids))
	for i, v := range ids {
		out[i] = int32(v)
	}
	return out, nil
}

// Decode turns ids back into text; skipSpecial drops special tokens (BOS,
// EOS, ...).
func (m *Model) Decode(ids []int32, skipSpecial bool) (string, error) {
	if m.Tokenizer == nil {
		return "", fmt.Errorf("engine: %s has %w", m.Name, ErrNoTokenizer)
	}
	in := make([]int, len(ids))
	for i, v := range ids {
		in[i] = int(v)
	}
	return m.Tokenizer.Decode(in, skipSpecial), nil
}

// BOS is the tokenizer's beginning-of-sequence id, -1 without one (or
// without a tokenizer).
func (m *Model) BOS() int32 {
	if m.Tokenizer == nil {
		return -1
	}
	return int32(m.Tokenizer.BOS())
}

// TokenText is the display form of one token for people, the same in the
// CLI, the web UI and the databases they read: see tokenizer.Display. An id the
// model cannot spell (no tokenizer, outside the vocabulary) shows as
// tokenizer.Unknown(id).
func (m *Model) TokenText(id int32) string {
	if m.Tokenizer != nil {
		if s := m.Tokenizer.TokenString(int(id)); s != "" {
			return tokenizer.Display(s)
		}
	}
	return tokenizer.Unknown(id)
}

// TokenID finds the vocabulary entry whose text is s, as the tokenizer
// spells it (TokenString) or as TokenText shows it: " she" is one token even
// where encoding " she" as text gives two (SentencePiece adds a space).
// Special tokens count; the lowest id wins when two entries share a text.
func (m *Model) TokenID(s string) (int32, bool) {
	m.vocabOnce.Do(func() {
		m.vocab = map[string]int32{}
		if m.Tokenizer == nil {
			return
		}
		for id := m.Dims().Vocab - 1; id >= 0; id-- {
			if t := m.Tokenizer.TokenString(id); t != "" {
				m.vocab[t] = int32(id)
				m.vocab[tokenizer.Display(t)] = int32(id)
			}
		}
	})
	id, ok := m.vocab[s]
	return id, ok
}
