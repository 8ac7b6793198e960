package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A matcher finds the next match of a split pattern at or after pos.
type matcher interface {
	find(s string, pos int) (start, end int, ok bool)
}

// Character classes, with ASCII fast paths. \p{L}, \p{N} and \s follow the
// Unicode tables of Go's unicode package (Oniguruma's \s is White_Space, as is
// unicode.IsSpace).
// Go's tables are Unicode 15.0; hfExtraL/hfExtraN add what HF's newer
// tables know (see unicode_hf.go).
func isL(r rune) bool {
	if r < 0x80 {
		return (r|0x20) >= 'a' && (r|0x20) <= 'z'
	}
	return unicode.IsLetter(r) || (r >= 0x800 && unicode.Is(hfExtraL, r))
}

func isN(r rune) bool {
	if r < 0x80 {
		return r >= '0' && r <= '9'
	}
	return unicode.IsNumber(r) || (r >= 0x800 && unicode.Is(hfExtraN, r))
}

func isS(r rune) bool {
	if r < 0x80 {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return unicode.IsSpace(r)
}

// isP is [^\s\p{L}\p{N}].
func isP(r rune) bool { return !isS(r) && !isL(r) && !isN(r) }

func runeAt(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

func scan(s string, i int, f func(rune) bool) int {
	for i < len(s) {
		r, n := runeAt(s, i)
		if !f(r) {
			break
		}
		i += n
	}
	return i
}

// contraction matches one of 's 't 're 've 'm 'll 'd at s[i:] (s[i] is an apostrophe)
// and returns the match length, or 0.
func contraction(s string, i int, fold bool) int {
	if i+1 >= len(s) {
		return 0
	}
	low := func(b byte) byte {
		if fold && b >= 'A' && b <= 'Z' {
			return b + 32
		}
		return b
	}
	switch low(s[i+1]) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if i+2 < len(s) && low(s[i+2]) == 'e' {
			return 3
		}
	case 'l':
		if i+2 < len(s) && low(s[i+2]) == 'l' {
			return 3
		}
	}
	return 0
}

// wsTail ends a whitespace run s[i:j] the way `\s+(?!\S)|\s+` does.
func wsTail(s string, i, j int) int {
	if j == len(s) {
		return j
	}
	_, n := utf8.DecodeLastRuneInString(s[i:j])
	if j-n > i {
		return j - n
	}
	return j
}

// gpt2Matcher is
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
type gpt2Matcher struct{}

func (gpt2Matcher) find(s string, i int) (int, int, bool) {
	if i >= len(s) {
		return 0, 0, false
	}
	return i, gpt2At(s, i), true
}

func gpt2At(s string, i int) int {
	c, n := runeAt(s, i)
	if c == '\'' {
		if m := contraction(s, i, false); m > 0 {
			return i + m
		}
	}
	if c == ' ' && i+1 < len(s) {
		c2, n2 := runeAt(s, i+1)
		switch {
		case isL(c2):
			return scan(s, i+1+n2, isL)
		case isN(c2):
			return scan(s, i+1+n2, isN)
		case !isS(c2):
			return scan(s, i+1+n2, isP)
		}
	}
	switch {
	case isL(c):
		return scan(s, i+n, isL)
	case isN(c):
		return scan(s, i+n, isN)
	case !isS(c):
		return scan(s, i+n, isP)
	}
	return wsTail(s, i, scan(s, i+n, isS))
}

// tiktokenMatcher is the Llama-3 (maxDigits 3) and Qwen2 (maxDigits 1) pattern
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
type tiktokenMatcher struct{ maxDigits int }

func (m tiktokenMatcher) find(s string, i int) (int, int, bool) {
	if i >= len(s) {
		return 0, 0, false
	}
	return i, m.at(s, i), true
}

func isCRLF(r rune) bool { return r == '\r' || r == '\n' }

func (m tiktokenMatcher) at(s string, i int) int {
	c, n := runeAt(s, i)
	if c == '\'' {
		if k := contraction(s, i, true); k > 0 {
			return i + k
		}
	}
	if isL(c) {
		return scan(s, i+n, isL)
	}
	if !isCRLF(c) && !isN(c) && i+n < len(s) {
		if c2, n2 := runeAt(s, i+n); isL(c2) {
			return scan(s, i+n+n2, isL)
		}
	}
	if isN(c) {
		j := i + n
		for k := 1; k < m.maxDigits && j < len(s); k++ {
			r, rn := runeAt(s, j)
			if !isN(r) {
				break
			}
			j += rn
		}
		return j
	}
	if c == ' ' && i+1 < len(s) {
		if c2, n2 := runeAt(s, i+1); isP(c2) {
			return scan(s, scan(s, i+1+n2, isP), isCRLF)
		}
	}
	if !isS(c) {
		return scan(s, scan(s, i+n, isP), isCRLF)
	}
	j := scan(s, i+n, isS)
	// \s*[\r\n]+ : ends after the last CR/LF of the run.
	for k := j; k > i; {
		r, rn := utf8.DecodeLastRuneInString(s[i:k])
		if isCRLF(r) {
			return k
		}
		k -= rn
	}
	return wsTail(s, i, j)
}

// stringMatcher finds a literal.
type stringMatcher struct{ lit string }

func (m stringMatcher) find(s string, i int) (int, int, bool) {
	if m.lit == "" || i >= len(s) {
		return 0, 0, false
	}
	k := strings.Index(s[i:], m.lit)
	if k < 0 {
		return 0, 0, false
	}
	return i + k, i + k + len(m.lit), true
}

// funcMatcher matches maximal runs (or single runes) of a character class.
type funcMatcher struct {
	f      func(rune) bool
	single bool
}

func (m funcMatcher) find(s string, i int) (int, int, bool) {
	for i < len(s) {
		r, n := runeAt(s, i)
		if m.f(r) {
			if m.single {
				return i, i + n, true
			}
			return i, scan(s, i+n, m.f), true
		}
		i += n
	}
	return 0, 0, false
}

const (
	gpt2Pattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// regexMatcher returns a matcher for a Split pre-tokenizer's Regex pattern.
// The patterns that tokenizer.json files use are matched by hand-written
// code; any other pattern goes to the small backtracking engine.
func regexMatcher(pat string) (matcher, error) {
	switch pat {
	case gpt2Pattern:
		return gpt2Matcher{}, nil
	case llama3Pattern:
		return tiktokenMatcher{maxDigits: 3}, nil
	case qwen2Pattern:
		return tiktokenMatcher{maxDigits: 1}, nil
	case `\s+`:
		return funcMatcher{f: isS}, nil
	case `\p{N}`:
		return funcMatcher{f: isN, single: true}, nil
	case `\p{N}+`:
		return funcMatcher{f: isN}, nil
	case ` `:
		return stringMatcher{lit: " "}, nil
	}
	re, err := compileRegex(pat)
	if err != nil {
		return nil, fmt.Errorf("unsupported regex %q: %w", pat, err)
	}
	return re, nil
}

// splitBehavior is HF's SplitDelimiterBehavior.
type splitBehavior int

const (
	bRemoved splitBehavior = iota
	bIsolated
	bMergedWithPrevious
	bMergedWithNext
	bContiguous
)

func parseBehavior(s string) (splitBehavior, error) {
	switch s {
	case "Removed":
		return bRemoved, nil
	case "Isolated":
		return bIsolated, nil
	case "MergedWithPrevious":
		return bMergedWithPrevious, nil
	case "MergedWithNext":
		return bMergedWithNext, nil
	case "Contiguous":
		return bContiguous, nil
	}
	return 0, fmt.Errorf("unknown split behavior %q", s)
}

type span struct {
	a, b  int
	match bool
}

// splitSpans cuts s at the matches of m with the given behavior and returns
// the non-empty pieces (byte offsets into s), reusing spans.
func splitSpans(s string, m matcher, beh splitBehavior, invert bool, spans []span) []span {
	spans = spans[:0]
	prev := 0
	for pos := 0; pos < len(s); {
		a, b, ok := m.find(s, pos)
		if !ok {
			break
		}
		if b == a { // empty match: skip one rune
			_, n := runeAt(s, a)
			pos = a + n
			continue
		}
		if prev != a {
			spans = append(spans, span{prev, a, invert})
		}
		spans = append(spans, span{a, b, !invert})
		prev, pos = b, b
	}
	if prev != len(s) {
		spans = append(spans, span{prev, len(s), invert})
	}
	out := spans[:0]
	switch beh {
	case bRemoved:
		for _, sp := range spans {
			if !sp.match {
				out = append(out, sp)
			}
		}
	case bIsolated:
		out = spans
	case bMergedWithPrevious, bContiguous:
		prevMatch := false
		for _, sp := range spans {
			merge := (beh == bMergedWithPrevious && sp.match && !prevMatch) ||
				(beh == bContiguous && sp.match == prevMatch)
			if merge && len(out) > 0 {
				out[len(out)-1].b = sp.b
			} else {
				out = append(out, sp)
			}
			prevMatch = sp.match
		}
	case bMergedWithNext:
		// Fold from the right into the tail of the slice, then move to the front.
		prevMatch := false
		k := len(spans)
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.match && !prevMatch && k < len(spans) {
				spans[k].a = sp.a
			} else {
				k--
				spans[k] = sp
			}
			prevMatch = sp.match
		}
		out = append(out, spans[k:]...)
	}
	return out
}

func isWordChar(r rune) bool {
	if r < 0x80 {
		return r == '_' || isL(r) || (r >= '0' && r <= '9')
	}
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Nl, r) ||
		unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Other_Alphabetic, r) || r == 0x200C || r == 0x200D ||
		(r >= 0x800 && (unicode.Is(hfExtraL, r) || unicode.Is(hfExtraN, r)))
}

func isPunct(r rune) bool {
	if r < 0x80 {
		return (r >= '!' && r <= '/') || (r >= ':' && r <= '@') || (r >= '[' && r <= '`') || (r >= '{' && r <= '~')
	}
	return unicode.IsPunct(r)
}
