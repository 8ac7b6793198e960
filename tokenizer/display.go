package tokenizer

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Unknown is how a token id without text is shown: "#ID", the form in
// which the CLI and the API also accept a token by id.
func Unknown(id int32) string { return "#" + strconv.Itoa(int(id)) }

// Display renders a token's text on one line: newline as ↵, tab as ⇥
// and every other control byte as <0xNN>. It takes raw text and the
// tokenizer's <0xNN> byte escapes alike, so stored token text written by
// either renders the same; other text is kept as is.
func Display(s string) string {
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
