package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
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
// CLI, the web UI and the databases they read: see DisplayToken. An id the
// model cannot spell (no tokenizer, outside the vocabulary) shows as
// UnknownToken(id).
func (m *Model) TokenText(id int32) string {
	if m.Tokenizer != nil {
		if s := m.Tokenizer.TokenString(int(id)); s != "" {
			return DisplayToken(s)
		}
	}
	return UnknownToken(id)
}

// UnknownToken is how a token id without text is shown: "#ID", the form in
// which the CLI and the API also accept a token by id.
func UnknownToken(id int32) string { return "#" + strconv.Itoa(int(id)) }

// DisplayToken renders a token's text on one line: newline as ↵, tab as ⇥
// and every other control byte as <0xNN>. It takes raw text and the
// tokenizer's <0xNN> byte escapes alike, so stored token text written by
// either renders the same; other text is kept as is.
func DisplayToken(s string) string {
	if !needsDisplay(s) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); {
		n := 1
		switch c := s[i]; {
		case c == '\n':
			sb.WriteString("↵")
		case c == '\t':
			sb.WriteString("⇥")
		case strings.HasPrefix(s[i:], "<0x0A>"):
			sb.WriteString("↵")
			n = len("<0x0A>")
		case strings.HasPrefix(s[i:], "<0x09>"):
			sb.WriteString("⇥")
			n = len("<0x09>")
		case c < 0x20 || c == 0x7F:
			fmt.Fprintf(&sb, "<0x%02X>", c)
		default:
			_, n = utf8.DecodeRuneInString(s[i:])
			sb.WriteString(s[i : i+n])
		}
		i += n
	}
	return sb.String()
}

// needsDisplay reports whether s holds a control byte or a newline or tab
// escape, so that plain tokens (nearly all) are returned without copying.
func needsDisplay(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7F {
			return true
		}
	}
	return strings.Contains(s, "<0x0A>") || strings.Contains(s, "<0x09>")
}
