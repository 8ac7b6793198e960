package tokenizer

import (
	"testing"
	"unicode/utf8"
)

// FuzzEncode checks that Encode never panics, that it produces valid ids,
// and that byte-level tokenizers round-trip any valid UTF-8 input.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "Hello world", "  \n\t ", "I'm 12345 😀 你好", "\xff\xfe", "<|endoftext|>x", "a\u0301", "<s></s><unk>"} {
		f.Add([]byte(s))
	}
	gpt2 := loadTok(f, "gpt2")
	llama2 := loadTok(f, "llama2")
	l2c, err := FromLlama2C(tok512, 0)
	if err != nil {
		f.Fatal(err)
	}
	o200k := loadTok(f, "llama3-o200k-pattern") // the regex engine
	bert := loadTok(f, "tiny-wordpiece")
	spm, err := FromGGUF(ggufFromTok512(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := string(data)
		for _, tk := range []*Tokenizer{gpt2, llama2, l2c, o200k, bert, spm} {
			ids := tk.Encode(s, true)
			for _, id := range ids {
				if id < 0 || id >= tk.VocabSize() {
					t.Fatalf("Encode(%q): id %d out of range", s, id)
				}
			}
			out := tk.Decode(ids, false)
			if !utf8.ValidString(out) {
				t.Fatalf("Decode(Encode(%q)) is not valid UTF-8: %q", s, out)
			}
			_ = tk.TokenString(len(ids))
		}
		if utf8.ValidString(s) {
			if got := gpt2.Decode(gpt2.Encode(s, false), false); got != s {
				t.Fatalf("gpt2 round trip of %q = %q", s, got)
			}
		}
	})
}
