package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/text/unicode/norm"
)

// piece is one pre-token: a string plus whether it starts at offset 0 of the
// original input (Metaspace's prepend_scheme "first" needs this).
type piece struct {
	s     string
	start bool
}

// work is per-Encode scratch space.
type work struct {
	arena []byte // backing store for strings built during one Encode
	block []byte // the arena's current allocation
	a, b  []piece
	stage [][]piece // intermediate results of pre-tokenizer sequences
	depth int
	spans []span
}

// seal returns the bytes appended to the arena since n as a string. Strings
// handed out stay valid for the rest of the Encode call: the arena only grows
// (a reallocation leaves the old array to the strings that point into it).
func (w *work) seal(n int) string {
	if len(w.arena) == n {
		return ""
	}
	b := w.arena[n:len(w.arena):len(w.arena)]
	w.arena = w.arena[len(w.arena):]
	return unsafe.String(&b[0], len(b))
}

// reserve makes room for need more bytes without moving handed-out ones.
func (w *work) reserve(need int) {
	if cap(w.arena)-len(w.arena) < need {
		w.block = make([]byte, 0, max(1<<16, need))
		w.arena = w.block
	}
}

// reset makes the arena reusable; call it only when no string from the
// previous Encode is still in use.
func (w *work) reset() {
	if w.block == nil {
		w.block = make([]byte, 0, 1<<16)
	}
	w.arena = w.block[:0]
}

func (w *work) byteLevel(s string) string {
	w.reserve(2 * len(s))
	n := len(w.arena)
	w.arena = appendByteLevel(w.arena, s)
	return w.seal(n)
}

func (w *work) concat(a, b string) string {
	w.reserve(len(a) + len(b))
	n := len(w.arena)
	w.arena = append(append(w.arena, a...), b...)
	return w.seal(n)
}

// ---- normalizers ----

type normalizer interface {
	normalize(s string) string
}

type seqNormalizer []normalizer

func (q seqNormalizer) normalize(s string) string {
	for _, n := range q {
		s = n.normalize(s)
	}
	return s
}

type prependNormalizer struct{ p string }

func (n prependNormalizer) normalize(s string) string {
	if s == "" {
		return s
	}
	return n.p + s
}

type replaceNormalizer struct {
	pat  string // literal
	with string
}

func (n replaceNormalizer) normalize(s string) string {
	if n.pat == "" {
		return s
	}
	return strings.ReplaceAll(s, n.pat, n.with)
}

type regexReplaceNormalizer struct {
	m    matcher
	with string
}

func (n regexReplaceNormalizer) normalize(s string) string {
	var b strings.Builder
	prev := 0
	for pos := 0; pos < len(s); {
		a, e, ok := n.m.find(s, pos)
		if !ok {
			break
		}
		if e == a {
			_, k := runeAt(s, a)
			pos = a + k
			continue
		}
		b.WriteString(s[prev:a])
		b.WriteString(n.with)
		prev, pos = e, e
	}
	if prev == 0 {
		return s
	}
	b.WriteString(s[prev:])
	return b.String()
}

type unicodeNormalizer struct{ f norm.Form }

// normalize applies the form, except that code points HF's older tables do
// not know (hfNormOpaque) are kept as they are and act as starters: the text
// between them is normalized piece by piece.
func (n unicodeNormalizer) normalize(s string) string {
	var b strings.Builder
	start, found := 0, false
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, sz := utf8.DecodeRuneInString(s[i:])
		if r >= 0x300 && unicode.Is(hfNormOpaque, r) {
			if !found {
				found = true
				b.Grow(len(s))
			}
			b.WriteString(n.f.String(s[start:i]))
			b.WriteString(s[i : i+sz])
			start = i + sz
		}
		i += sz
	}
	if !found {
		return n.f.String(s)
	}
	b.WriteString(n.f.String(s[start:]))
	return b.String()
}

type lowercaseNormalizer struct{}

// normalize lowercases each character the way Rust's char::to_lowercase does
// (HF maps character by character: no final-sigma rule): Go's mapping plus
// the code points where Rust differs (hfLower: İ, newer Unicode).
func (lowercaseNormalizer) normalize(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if m, ok := hfLower[r]; ok {
			b.WriteString(m)
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

type stripNormalizer struct{ left, right bool }

func (n stripNormalizer) normalize(s string) string {
	if n.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if n.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}

type stripAccentsNormalizer struct{}

func (stripAccentsNormalizer) normalize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 0x300 && unicode.IsMark(r) && !unicode.Is(hfNotMark, r) {
			return -1
		}
		return r
	}, s)
}

// bertNormalizer is HF's BertNormalizer.
type bertNormalizer struct {
	clean, chinese, stripAccents, lower bool
}

func isChinese(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

func (n bertNormalizer) normalize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if n.clean {
			// HF drops NUL, U+FFFD and "other" characters (Cc, Cf, Co; not
			// unassigned ones) except \t \n \r.
			if r == 0 || r == 0xFFFD || (r != '\t' && r != '\n' && r != '\r' && unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co)) {
				continue
			}
			if r == '\t' || r == '\n' || r == '\r' || unicode.IsSpace(r) {
				r = ' '
			}
		}
		if n.chinese && isChinese(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	if n.stripAccents {
		// Unlike the StripAccents normalizer, BertNormalizer drops only Mn.
		out = strings.Map(func(r rune) rune {
			if r >= 0x300 && unicode.Is(unicode.Mn, r) && !unicode.Is(hfNotMark, r) {
				return -1
			}
			return r
		}, unicodeNormalizer{norm.NFD}.normalize(out))
	}
	if n.lower {
		out = lowercaseNormalizer{}.normalize(out)
	}
	return out
}

// ---- pre-tokenizers ----

type preTokenizer interface {
	// pre splits and transforms in, appending the result to out.
	pre(in []piece, out []piece, w *work) []piece
}

type seqPreTokenizer []preTokenizer

func (q seqPreTokenizer) pre(in, out []piece, w *work) []piece {
	if len(q) == 0 {
		return append(out, in...)
	}
	cur := in
	for k, p := range q {
		if k == len(q)-1 {
			return p.pre(cur, out, w)
		}
		// Two buffers per nesting depth, alternating, so that a stage never
		// writes into the buffer it reads.
		d := 2*w.depth + k%2
		for len(w.stage) <= d {
			w.stage = append(w.stage, nil)
		}
		w.depth++
		next := p.pre(cur, w.stage[d][:0], w)
		w.depth--
		w.stage[d] = next
		cur = next
	}
	return out
}

// splitPieces splits each piece with m, keeping the start flag on the first.
func splitPieces(in, out []piece, w *work, m matcher, beh splitBehavior, invert bool) []piece {
	for _, p := range in {
		w.spans = splitSpans(p.s, m, beh, invert, w.spans)
		for _, sp := range w.spans {
			out = append(out, piece{p.s[sp.a:sp.b], p.start && sp.a == 0})
		}
	}
	return out
}

type splitPreTokenizer struct {
	m      matcher
	beh    splitBehavior
	invert bool
}

func (p splitPreTokenizer) pre(in, out []piece, w *work) []piece {
	return splitPieces(in, out, w, p.m, p.beh, p.invert)
}

// byteLevel is the ByteLevel pre-tokenizer: optional prefix space, the GPT-2
// split, then every byte mapped to its printable stand-in rune.
type byteLevelPre struct {
	addPrefixSpace bool
	useRegex       bool
}

var (
	byteToRune [256]rune
	byteToStr  [256]string
	runeToByte = map[rune]byte{}
)

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
			r = rune(256 + n)
			n++
		}
		byteToRune[b] = r
		byteToStr[b] = string(r)
		runeToByte[r] = byte(b)
	}
}

func appendByteLevel(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = append(dst, byteToStr[s[i]]...)
	}
	return dst
}

func (p byteLevelPre) pre(in, out []piece, w *work) []piece {
	for _, pc := range in {
		s := pc.s
		if s == "" {
			continue
		}
		if p.addPrefixSpace && s[0] != ' ' {
			s = w.concat(" ", s)
		}
		if !p.useRegex {
			out = append(out, piece{w.byteLevel(s), pc.start})
			continue
		}
		for i := 0; i < len(s); {
			e := gpt2At(s, i)
			out = append(out, piece{w.byteLevel(s[i:e]), pc.start && i == 0})
			i = e
		}
	}
	return out
}

type metaspacePre struct {
	repl    string
	prepend int // 0 always, 1 first, 2 never
	split   bool
}

func (p metaspacePre) pre(in, out []piece, w *work) []piece {
	for _, pc := range in {
		s := strings.ReplaceAll(pc.s, " ", p.repl)
		if s != "" && !strings.HasPrefix(s, p.repl) && (p.prepend == 0 || (p.prepend == 1 && pc.start)) {
			s = p.repl + s
		}
		if !p.split {
			if s != "" {
				out = append(out, piece{s, pc.start})
			}
			continue
		}
		w.spans = splitSpans(s, stringMatcher{p.repl}, bMergedWithNext, false, w.spans)
		for _, sp := range w.spans {
			out = append(out, piece{s[sp.a:sp.b], pc.start && sp.a == 0})
		}
	}
	return out
}

// ---- decoders ----

type decoder interface {
	decodeChain(toks []string) []string
}

type seqDecoder []decoder

func (q seqDecoder) decodeChain(t []string) []string {
	for _, d := range q {
		t = d.decodeChain(t)
	}
	return t
}

type byteLevelDecoder struct{}

func (byteLevelDecoder) decodeChain(toks []string) []string {
	var b []byte
	for _, t := range toks {
		n := len(b)
		ok := true
		for _, r := range t {
			c, in := runeToByte[r]
			if !in {
				ok = false
				break
			}
			b = append(b, c)
		}
		if !ok {
			b = append(b[:n], t...)
		}
	}
	return []string{string(lossyUTF8(nil, b))}
}

type metaspaceDecoder struct {
	repl    string
	prepend int
}

func (d metaspaceDecoder) decodeChain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		if i == 0 && d.prepend != 2 {
			out[i] = strings.ReplaceAll(t, d.repl, "")
		} else {
			out[i] = strings.ReplaceAll(t, d.repl, " ")
		}
	}
	return out
}

// byteTokenValue parses "<0xAB>".
func byteTokenValue(t string) (byte, bool) {
	if len(t) != 6 || t[:3] != "<0x" || t[5] != '>' {
		return 0, false
	}
	h := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		}
		return 0, false
	}
	hi, ok1 := h(t[3])
	lo, ok2 := h(t[4])
	return hi<<4 | lo, ok1 && ok2
}

type byteFallbackDecoder struct{}

func (byteFallbackDecoder) decodeChain(toks []string) []string {
	out := make([]string, 0, len(toks))
	var bytes []byte
	flush := func() {
		if len(bytes) == 0 {
			return
		}
		if utf8.Valid(bytes) {
			out = append(out, string(bytes))
		} else {
			for range bytes {
				out = append(out, "\uFFFD")
			}
		}
		bytes = bytes[:0]
	}
	for _, t := range toks {
		if b, ok := byteTokenValue(t); ok {
			bytes = append(bytes, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

type fuseDecoder struct{}

func (fuseDecoder) decodeChain(toks []string) []string { return []string{strings.Join(toks, "")} }

type stripDecoder struct {
	content     rune
	start, stop int
}

func (d stripDecoder) decodeChain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		rs := []rune(t)
		a := 0
		for k := 0; k < d.start && k < len(rs); k++ {
			if rs[k] != d.content {
				break
			}
			a = k + 1
		}
		b := len(rs)
		for k := 0; k < d.stop; k++ {
			idx := len(rs) - k - 1
			if idx < 0 || rs[idx] != d.content {
				break
			}
			b = idx
		}
		if b < a {
			b = a
		}
		out[i] = string(rs[a:b])
	}
	return out
}

type replaceDecoder struct{ n normalizer }

func (d replaceDecoder) decodeChain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = d.n.normalize(t)
	}
	return out
}

type wordPieceDecoder struct {
	prefix  string
	cleanup bool
}

func (d wordPieceDecoder) decodeChain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		if i != 0 {
			if strings.HasPrefix(t, d.prefix) {
				t = t[len(d.prefix):]
			} else {
				t = " " + t
			}
		}
		if d.cleanup {
			t = cleanupTokenization(t)
		}
		out[i] = t
	}
	return out
}

func cleanupTokenization(s string) string {
	r := strings.NewReplacer(" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'", " n't", "n't", " 'm", "'m", " 's", "'s", " 've", "'ve", " 're", "'re")
	return r.Replace(s)
}

type bpeDecoder struct{ suffix string }

func (d bpeDecoder) decodeChain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		repl := " "
		if i == len(toks)-1 {
			repl = ""
		}
		out[i] = strings.ReplaceAll(t, d.suffix, repl)
	}
	return out
}

// ---- post-processors ----

type postProcessor interface {
	process(ids []int) []int
}

// templatePost is TemplateProcessing's single template (and the Roberta and
// Bert processors, which are fixed templates).
type templatePost struct {
	before, after []int
}

func (p templatePost) process(ids []int) []int {
	out := make([]int, 0, len(ids)+len(p.before)+len(p.after))
	out = append(out, p.before...)
	out = append(out, ids...)
	return append(out, p.after...)
}
