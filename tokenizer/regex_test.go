package tokenizer

import (
	"math/rand"
	"strings"
	"testing"
)

// TestRegexEngineAgreesWithHandWritten runs the generic engine on the
// patterns that have hand-written matchers and compares the splits.
func TestRegexEngineAgreesWithHandWritten(t *testing.T) {
	var inputs []string
	for _, name := range []string{"llama3", "gpt2"} {
		for _, c := range loadGolden(t, name) {
			inputs = append(inputs, ValidUTF8(c.input()))
		}
	}
	rng := rand.New(rand.NewSource(1))
	alphabet := []string{" ", " ", "\t", "\n", "\r", "\u00a0", "a", "Z", "'", "s", "t", "re", "LL", "1", "23", "٣", "½", ".", "!", "\u0301", "你", "😀", "_", "ſ"}
	for range 3000 {
		var b strings.Builder
		for range 1 + rng.Intn(16) {
			b.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		inputs = append(inputs, b.String())
	}
	for _, pat := range []string{gpt2Pattern, llama3Pattern, qwen2Pattern} {
		hand, err := regexMatcher(pat)
		if err != nil {
			t.Fatal(err)
		}
		gen, err := compileRegex(pat)
		if err != nil {
			t.Fatalf("compile %q: %v", pat, err)
		}
		for _, s := range inputs {
			a := splitSpans(s, hand, bIsolated, false, nil)
			b := splitSpans(s, gen, bIsolated, false, nil)
			if len(a) != len(b) {
				t.Fatalf("pattern %q on %q: hand %v, engine %v", pat, s, a, b)
			}
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("pattern %q on %q: hand %v, engine %v", pat, s, a, b)
				}
			}
		}
	}
}

func TestRegexEngine(t *testing.T) {
	cases := []struct {
		pat, in string
		want    []string
	}{
		{`\p{N}{1,3}`, "12345x6", []string{"123", "45", "6"}},
		{`[一-龥]+`, "ab中文cd", []string{"中文"}},
		{`(?i:abc)`, "xABCabc", []string{"ABC", "abc"}},
		{`a+?b`, "aaab", []string{"aaab"}},
		{`\s+(?=x)`, "a  x  y", []string{"  "}},
		{`[\p{Lu}\p{Lt}]+[\p{Ll}]*`, "HelloWORLDfoo", []string{"Hello", "WORLDfoo"}},
		{`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t)?`, " HelloWorld's", []string{" Hello", "World's"}},
		{`\d+|[a-c]`, "xa12b", []string{"a", "12", "b"}},
	}
	for _, c := range cases {
		m, err := compileRegex(c.pat)
		if err != nil {
			t.Fatalf("%q: %v", c.pat, err)
		}
		var got []string
		for pos := 0; ; {
			a, b, ok := m.find(c.in, pos)
			if !ok {
				break
			}
			got = append(got, c.in[a:b])
			pos = b
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%q on %q: got %q, want %q", c.pat, c.in, got, c.want)
		}
	}
	for _, bad := range []string{`(?<=a)b`, `(a)\1`, `[a-`, `(ab`, `a{2`, `\p{Nope}`} {
		if _, err := compileRegex(bad); err == nil && bad != `a{2` {
			t.Errorf("compileRegex(%q) succeeded", bad)
		}
	}
}
