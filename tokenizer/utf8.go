package tokenizer

import (
	"unicode/utf8"
)

// ValidUTF8 returns s unchanged when it is valid UTF-8. Otherwise it replaces
// each maximal subpart of an ill-formed sequence with one U+FFFD, the way the
// WHATWG Encoding standard's UTF-8 decoder (JavaScript's TextDecoder) and
// Rust's String::from_utf8_lossy do. Go's strings.ToValidUTF8 differs: it
// collapses whole runs of bad bytes into a single replacement.
func ValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string(lossyUTF8(nil, []byte(s)))
}

// lossyUTF8 appends the WHATWG decoding of b to dst.
func lossyUTF8(dst, b []byte) []byte {
	const repl = "\uFFFD"
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			dst = append(dst, c)
			i++
			continue
		}
		var need int
		lo, hi := byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c >= 0xE0 && c <= 0xEF:
			need = 2
			if c == 0xE0 {
				lo = 0xA0
			} else if c == 0xED {
				hi = 0x9F
			}
		case c >= 0xF0 && c <= 0xF4:
			need = 3
			if c == 0xF0 {
				lo = 0x90
			} else if c == 0xF4 {
				hi = 0x8F
			}
		default:
			dst = append(dst, repl...)
			i++
			continue
		}
		j := i + 1
		ok := true
		for k := 0; k < need; k++ {
			if j >= len(b) {
				ok = false
				break
			}
			d := b[j]
			if k == 0 {
				if d < lo || d > hi {
					ok = false
					break
				}
			} else if d < 0x80 || d > 0xBF {
				ok = false
				break
			}
			j++
		}
		if ok {
			dst = append(dst, b[i:j]...)
		} else {
			dst = append(dst, repl...)
		}
		i = j
	}
	return dst
}
