package tokenizer

import "testing"

func TestTokenString(t *testing.T) {
	cases := []struct {
		tok  string
		id   int
		want string
	}{
		{"gpt2", 995, " world"}, // Ġworld
		{"gpt2", 198, "<0x0A>"}, // Ċ
		{"gpt2", 50256, "<|endoftext|>"},
		{"gpt2", 8582, "<0xF0><0x9F>"}, // ðŁ: the first half of an emoji
		{"llama2", 22557, " Hello"},
		{"llama2", 13, "<0x0A>"},
		{"llama2", 1, "<s>"},
		{"llama3", 128000, "<|begin_of_text|>"},
		{"gemma3", 2, "<bos>"},
	}
	for _, c := range cases {
		if got := loadTok(t, c.tok).TokenString(c.id); got != c.want {
			t.Errorf("%s TokenString(%d) = %q, want %q", c.tok, c.id, got, c.want)
		}
	}
	l2c, err := FromLlama2C(tok512, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := l2c.TokenString(13); got != "<0x0A>" {
		t.Errorf("llama2.c TokenString(13) = %q", got)
	}
	if got := l2c.TokenString(403); got != " Once" {
		t.Errorf("llama2.c TokenString(403) = %q", got)
	}
	if got := loadTok(t, "gpt2").TokenString(-1); got != "" {
		t.Errorf("TokenString(-1) = %q", got)
	}
}
