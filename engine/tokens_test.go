package engine_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/engine"
)

// vocabTokenizer spells ids from a fixed vocabulary, as tokenizer does:
// "" for an id it does not have.
type vocabTokenizer []string

func (v vocabTokenizer) Encode(string, bool) []int { return nil }
func (v vocabTokenizer) Decode([]int, bool) string { return "" }
func (v vocabTokenizer) BOS() int                  { return -1 }
func (v vocabTokenizer) EOS() int                  { return -1 }
func (v vocabTokenizer) TokenString(id int) string {
	if id < 0 || id >= len(v) {
		return ""
	}
	return v[id]
}

// TestTokenText: one rendering of control bytes, and one fallback for ids
// the model cannot spell, with or without a tokenizer.
func TestTokenText(t *testing.T) {
	m, err := engine.LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	vocab := vocabTokenizer{"<unk>", " Once", "\n", "<0x0A>", "\t", "<0x07>", "\x01"}
	bare := &engine.Model{Name: "bare"}
	stub := &engine.Model{Name: "stub", Tokenizer: vocab}
	for _, tc := range []struct {
		name string
		m    *engine.Model
		id   int32
		want string
	}{
		{"word", stub, 1, " Once"},
		{"raw newline", stub, 2, "↵"},
		{"newline byte token", stub, 3, "↵"},
		{"tab", stub, 4, "⇥"},
		{"bell byte token", stub, 5, "<0x07>"},
		{"raw control byte", stub, 6, "<0x01>"},
		{"outside the vocabulary", stub, 7, "#7"},
		{"negative", stub, -1, "#-1"},
		{"no tokenizer", bare, 3, "#3"},
		{"stories260K newline", m, 13, "↵"}, // llama2.c vocabularies keep byte tokens at 3+byte
		{"stories260K outside the vocabulary", m, 512, "#512"},
	} {
		if got := tc.m.TokenText(tc.id); got != tc.want {
			t.Errorf("%s: TokenText(%d) = %q, want %q", tc.name, tc.id, got, tc.want)
		}
	}
}

func TestEncode(t *testing.T) {
	m, err := engine.LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	plain, err := m.Encode("Once upon a time", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bos  bool
		want []int32
	}{
		{false, plain},
		{true, append([]int32{m.BOS()}, plain...)},
	} {
		got, err := m.Encode("Once upon a time", tc.bos)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Encode(bos=%v) = %v, want %v", tc.bos, got, tc.want)
		}
	}
	// The ids are the tokenizer's, converted once.
	raw := m.Tokenizer.Encode("Once upon a time", false)
	if len(raw) != len(plain) || len(plain) == 0 || m.BOS() < 0 {
		t.Fatalf("%d ids from the tokenizer, %d from Encode, BOS %d", len(raw), len(plain), m.BOS())
	}
	for i := range raw {
		if int32(raw[i]) != plain[i] {
			t.Fatalf("id %d: tokenizer %d, Encode %d", i, raw[i], plain[i])
		}
	}
	withBOS, _ := m.Encode("Once upon a time", true)
	for _, tc := range []struct {
		ids         []int32
		skipSpecial bool
		want        string
	}{
		{plain, false, m.Tokenizer.Decode(raw, false)},
		{withBOS, true, m.Tokenizer.Decode(raw, false)},
		{withBOS, false, m.Tokenizer.Decode(append([]int{int(m.BOS())}, raw...), false)},
	} {
		got, err := m.Decode(tc.ids, tc.skipSpecial)
		if err != nil || got != tc.want {
			t.Errorf("Decode(%v, %v) = %q, %v; want %q", tc.ids, tc.skipSpecial, got, err, tc.want)
		}
	}
	if text, _ := m.Decode(plain, true); strings.TrimSpace(text) != "Once upon a time" {
		t.Errorf("Encode then Decode gives %q", text)
	}
	if got := m.TokenText(plain[0]); strings.TrimSpace(got) != "Once" {
		t.Errorf("first token shows as %q", got)
	}
	bare := &engine.Model{Name: "bare"}
	if _, err := bare.Encode("Once", true); !errors.Is(err, engine.ErrNoTokenizer) || !strings.Contains(err.Error(), "no tokenizer") {
		t.Errorf("Encode without a tokenizer: %v", err)
	}
	if _, err := bare.Decode([]int32{1}, true); !errors.Is(err, engine.ErrNoTokenizer) {
		t.Errorf("Decode without a tokenizer: %v", err)
	}
	if bare.BOS() != -1 {
		t.Errorf("BOS without a tokenizer = %d, want -1", bare.BOS())
	}
}

// TestTokenID: vocabulary entries are found by their text as spelled or as
// shown, before any encoding.
func TestTokenID(t *testing.T) {
	m, err := engine.LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		id   int32
		ok   bool
	}{
		{" Tim", 326, true}, {"↵", 13, true}, {"<0x0A>", 13, true}, {" no such token", 0, false},
	} {
		id, ok := m.TokenID(tc.text)
		if ok != tc.ok || (ok && id != tc.id) {
			t.Errorf("TokenID(%q) = %d, %v; want %d, %v", tc.text, id, ok, tc.id, tc.ok)
		}
		if ok && m.TokenText(id) != tc.text && tc.text != "<0x0A>" {
			t.Errorf("TokenText(%d) = %q, want %q", id, m.TokenText(id), tc.text)
		}
	}
}
