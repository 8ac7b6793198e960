package tokenizer

import "testing"

func TestDisplay(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hello", "hello"},
		{" the", " the"},
		{"\n", "↵"},
		{"<0x0A>", "↵"},
		{"\n\n", "↵↵"},
		{"<0x0A><0x0A>", "↵↵"},
		{"\t", "⇥"},
		{"<0x09>", "⇥"},
		{"a\tb\nc", "a⇥b↵c"},
		{"\r", "<0x0D>"},
		{"<0x0D>", "<0x0D>"}, // the tokenizer's escape of other control bytes is kept
		{"\x00\x1b\x7f", "<0x00><0x1B><0x7F>"},
		{"<0xE2>", "<0xE2>"}, // a lone byte of a longer UTF-8 sequence
		{"é↵", "é↵"},
		{"<0x0", "<0x0"},
	} {
		if got := Display(tc.in); got != tc.want {
			t.Errorf("Display(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
