package tokenizer

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A small backtracking regex engine for Split patterns that have no
// hand-written matcher. It covers the Oniguruma syntax tokenizer.json files
// use: alternation, (?:...), (?i:...), capture groups (as plain groups),
// lookahead (?=...) and (?!...), classes with ranges, negation, \p{..} and
// \P{..} (general categories and scripts), \s \S \d \D \w \W, escapes, . ^ $,
// and the quantifiers * + ? {n} {n,} {n,m} with lazy variants. Lookbehind and
// backreferences are rejected with an error.

type reNode interface{}

type (
	reChar struct {
		f func(rune) bool
	}
	reConcat []reNode
	reAlt    []reNode
	reRepeat struct {
		sub      reNode
		min, max int // max < 0: unbounded
		lazy     bool
	}
	reLook struct {
		sub reNode
		neg bool
	}
	reAnchor byte // '^' or '$'
)

type regex struct {
	root reNode
	pat  string
}

func compileRegex(pat string) (matcher, error) {
	p := &reParser{src: pat}
	n, err := p.alt()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.src) {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.src[p.pos], p.pos)
	}
	return &regex{root: n, pat: pat}, nil
}

func (r *regex) find(s string, pos int) (int, int, bool) {
	for start := pos; start < len(s); {
		end := -1
		if matchNode(r.root, s, start, func(j int) bool { end = j; return true }) {
			return start, end, true
		}
		_, n := runeAt(s, start)
		start += n
	}
	return 0, 0, false
}

func matchNode(n reNode, s string, i int, k func(int) bool) bool {
	switch n := n.(type) {
	case reChar:
		if i >= len(s) {
			return false
		}
		r, sz := runeAt(s, i)
		return n.f(r) && k(i+sz)
	case reConcat:
		return matchSeq(n, s, i, k)
	case reAlt:
		for _, a := range n {
			if matchNode(a, s, i, k) {
				return true
			}
		}
		return false
	case *reRepeat:
		if c, ok := n.sub.(reChar); ok {
			return matchCharRepeat(c, n, s, i, k)
		}
		return matchRepeat(n, s, i, 0, k)
	case reLook:
		ok := matchNode(n.sub, s, i, func(int) bool { return true })
		if ok == n.neg {
			return false
		}
		return k(i)
	case reAnchor:
		if n == '^' && (i == 0 || s[i-1] == '\n') || n == '$' && (i == len(s) || s[i] == '\n') {
			return k(i)
		}
		return false
	case nil:
		return k(i)
	}
	return false
}

func matchSeq(q reConcat, s string, i int, k func(int) bool) bool {
	if len(q) == 0 {
		return k(i)
	}
	return matchNode(q[0], s, i, func(j int) bool { return matchSeq(q[1:], s, j, k) })
}

func matchCharRepeat(c reChar, n *reRepeat, s string, i int, k func(int) bool) bool {
	ends := []int{i}
	for j := i; n.max < 0 || len(ends)-1 < n.max; {
		if j >= len(s) {
			break
		}
		r, sz := runeAt(s, j)
		if !c.f(r) {
			break
		}
		j += sz
		ends = append(ends, j)
	}
	if len(ends)-1 < n.min {
		return false
	}
	if n.lazy {
		for c := n.min; c < len(ends); c++ {
			if k(ends[c]) {
				return true
			}
		}
		return false
	}
	for c := len(ends) - 1; c >= n.min; c-- {
		if k(ends[c]) {
			return true
		}
	}
	return false
}

func matchRepeat(n *reRepeat, s string, i, count int, k func(int) bool) bool {
	more := func() bool {
		if n.max >= 0 && count >= n.max {
			return false
		}
		return matchNode(n.sub, s, i, func(j int) bool {
			if j == i && count >= n.min {
				return false // an empty iteration cannot help
			}
			return matchRepeat(n, s, j, count+1, k)
		})
	}
	if n.lazy {
		return (count >= n.min && k(i)) || more()
	}
	return more() || (count >= n.min && k(i))
}

// ---- parser ----

type reParser struct {
	src  string
	pos  int
	fold bool
}

func (p *reParser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *reParser) alt() (reNode, error) {
	var alts reAlt
	for {
		c, err := p.concat()
		if err != nil {
			return nil, err
		}
		alts = append(alts, c)
		if p.peek() != '|' {
			break
		}
		p.pos++
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return alts, nil
}

func (p *reParser) concat() (reNode, error) {
	var q reConcat
	for p.pos < len(p.src) && p.peek() != '|' && p.peek() != ')' {
		a, err := p.atom()
		if err != nil {
			return nil, err
		}
		a, err = p.quant(a)
		if err != nil {
			return nil, err
		}
		q = append(q, a)
	}
	if len(q) == 1 {
		return q[0], nil
	}
	return q, nil
}

func (p *reParser) quant(a reNode) (reNode, error) {
	for {
		min, max := -1, -1
		switch p.peek() {
		case '*':
			min, max = 0, -1
			p.pos++
		case '+':
			min, max = 1, -1
			p.pos++
		case '?':
			min, max = 0, 1
			p.pos++
		case '{':
			end := strings.IndexByte(p.src[p.pos:], '}')
			if end < 0 {
				return a, nil
			}
			body := p.src[p.pos+1 : p.pos+end]
			lo, hi, hasComma := strings.Cut(body, ",")
			var err error
			if min, err = strconv.Atoi(lo); err != nil {
				return nil, fmt.Errorf("bad quantifier {%s} at offset %d", body, p.pos)
			}
			max = min
			if hasComma {
				max = -1
				if hi != "" {
					if max, err = strconv.Atoi(hi); err != nil {
						return nil, fmt.Errorf("bad quantifier {%s} at offset %d", body, p.pos)
					}
				}
			}
			p.pos += end + 1
		default:
			return a, nil
		}
		r := &reRepeat{sub: a, min: min, max: max}
		switch p.peek() {
		case '?':
			r.lazy = true
			p.pos++
		case '+':
			return nil, fmt.Errorf("possessive quantifier at offset %d", p.pos)
		}
		a = r
	}
}

func (p *reParser) atom() (reNode, error) {
	c := p.peek()
	switch c {
	case '(':
		p.pos++
		saved := p.fold
		defer func() { p.fold = saved }()
		var look *reLook
		if strings.HasPrefix(p.src[p.pos:], "?") {
			rest := p.src[p.pos+1:]
			switch {
			case strings.HasPrefix(rest, ":"):
				p.pos += 2
			case strings.HasPrefix(rest, "="):
				p.pos += 2
				look = &reLook{}
			case strings.HasPrefix(rest, "!"):
				p.pos += 2
				look = &reLook{neg: true}
			case strings.HasPrefix(rest, "i:"):
				p.pos += 3
				p.fold = true
			case strings.HasPrefix(rest, "i)"):
				return nil, fmt.Errorf("inline flag (?i) without a group at offset %d", p.pos-1)
			default:
				return nil, fmt.Errorf("unsupported group (?%s at offset %d", rest[:min(len(rest), 2)], p.pos-1)
			}
		}
		n, err := p.alt()
		if err != nil {
			return nil, err
		}
		if p.peek() != ')' {
			return nil, fmt.Errorf("missing ) at offset %d", p.pos)
		}
		p.pos++
		if look != nil {
			look.sub = n
			return *look, nil
		}
		return n, nil
	case '[':
		f, err := p.class()
		if err != nil {
			return nil, err
		}
		return reChar{f}, nil
	case '.':
		p.pos++
		return reChar{func(r rune) bool { return r != '\n' }}, nil
	case '^', '$':
		p.pos++
		return reAnchor(c), nil
	case '\\':
		f, err := p.escape(false)
		if err != nil {
			return nil, err
		}
		return reChar{f}, nil
	case '*', '+', '?', '{':
		return nil, fmt.Errorf("quantifier without operand at offset %d", p.pos)
	}
	r, n := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += n
	return reChar{p.lit(r)}, nil
}

func (p *reParser) lit(r rune) func(rune) bool {
	if p.fold {
		lr := unicode.ToLower(r)
		return func(x rune) bool { return unicode.ToLower(x) == lr }
	}
	return func(x rune) bool { return x == r }
}

// escape parses \x at p.pos; inClass allows class-only escapes.
func (p *reParser) escape(inClass bool) (func(rune) bool, error) {
	p.pos++ // backslash
	if p.pos >= len(p.src) {
		return nil, fmt.Errorf("trailing backslash")
	}
	c := p.src[p.pos]
	p.pos++
	switch c {
	case 's':
		return isS, nil
	case 'S':
		return func(r rune) bool { return !isS(r) }, nil
	case 'd':
		return func(r rune) bool { return unicode.IsDigit(r) }, nil
	case 'D':
		return func(r rune) bool { return !unicode.IsDigit(r) }, nil
	case 'w':
		return isWordChar, nil
	case 'W':
		return func(r rune) bool { return !isWordChar(r) }, nil
	case 'n':
		return p.lit('\n'), nil
	case 'r':
		return p.lit('\r'), nil
	case 't':
		return p.lit('\t'), nil
	case 'f':
		return p.lit('\f'), nil
	case 'v':
		return p.lit('\v'), nil
	case 'p', 'P':
		neg := c == 'P'
		if p.peek() != '{' {
			return nil, fmt.Errorf("\\%c without {name} at offset %d", c, p.pos)
		}
		end := strings.IndexByte(p.src[p.pos:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unterminated \\%c{ at offset %d", c, p.pos)
		}
		name := p.src[p.pos+1 : p.pos+end]
		p.pos += end + 1
		if strings.HasPrefix(name, "^") {
			neg, name = !neg, name[1:]
		}
		f, err := unicodeProperty(name)
		if err != nil {
			return nil, err
		}
		if neg {
			return func(r rune) bool { return !f(r) }, nil
		}
		return f, nil
	case 'u', 'x':
		var hex string
		if p.peek() == '{' {
			end := strings.IndexByte(p.src[p.pos:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unterminated \\%c{ at offset %d", c, p.pos)
			}
			hex = p.src[p.pos+1 : p.pos+end]
			p.pos += end + 1
		} else {
			n := 4
			if c == 'x' {
				n = 2
			}
			if p.pos+n > len(p.src) {
				return nil, fmt.Errorf("short \\%c escape", c)
			}
			hex = p.src[p.pos : p.pos+n]
			p.pos += n
		}
		v, err := strconv.ParseUint(hex, 16, 32)
		if err != nil {
			return nil, fmt.Errorf("bad \\%c escape %q", c, hex)
		}
		return p.lit(rune(v)), nil
	}
	if c >= '0' && c <= '9' || c == 'k' || c == 'g' {
		return nil, fmt.Errorf("backreference \\%c is not supported", c)
	}
	if c == 'b' || c == 'B' || c == 'A' || c == 'z' || c == 'Z' || c == 'G' {
		return nil, fmt.Errorf("assertion \\%c is not supported", c)
	}
	r, n := utf8.DecodeRuneInString(p.src[p.pos-1:])
	p.pos += n - 1
	return p.lit(r), nil
}

func unicodeProperty(name string) (func(rune) bool, error) {
	switch name {
	case "L", "Letter":
		return isL, nil
	case "N", "Number":
		return isN, nil
	case "Lo", "Other_Letter":
		// Letters newer than Go's tables are counted as Lo (most are).
		return func(r rune) bool { return unicode.Is(unicode.Lo, r) || unicode.Is(hfExtraL, r) }, nil
	case "M", "Mark":
		return unicode.IsMark, nil
	case "P", "Punctuation":
		return unicode.IsPunct, nil
	case "S", "Symbol":
		return unicode.IsSymbol, nil
	case "Z", "Separator":
		return func(r rune) bool { return unicode.In(r, unicode.Z) }, nil
	case "C", "Other":
		return func(r rune) bool { return unicode.In(r, unicode.C) }, nil
	}
	if t, ok := unicode.Categories[name]; ok {
		return func(r rune) bool { return unicode.Is(t, r) }, nil
	}
	if t, ok := unicode.Scripts[name]; ok {
		return func(r rune) bool { return unicode.Is(t, r) }, nil
	}
	return nil, fmt.Errorf("unknown Unicode property %q", name)
}

// class parses [...] at p.pos.
func (p *reParser) class() (func(rune) bool, error) {
	start := p.pos
	p.pos++ // [
	neg := false
	if p.peek() == '^' {
		neg = true
		p.pos++
	}
	var fs []func(rune) bool
	first := true
	for {
		if p.pos >= len(p.src) {
			return nil, fmt.Errorf("unterminated class at offset %d", start)
		}
		c := p.src[p.pos]
		if c == ']' && !first {
			p.pos++
			break
		}
		first = false
		if c == '[' {
			if strings.HasPrefix(p.src[p.pos:], "[:") {
				return nil, fmt.Errorf("POSIX class at offset %d is not supported", p.pos)
			}
			f, err := p.class()
			if err != nil {
				return nil, err
			}
			fs = append(fs, f)
			continue
		}
		if c == '&' && strings.HasPrefix(p.src[p.pos:], "&&") {
			return nil, fmt.Errorf("class intersection at offset %d is not supported", p.pos)
		}
		var lo rune
		single := true
		if c == '\\' {
			save := p.pos
			// A single-rune escape can start a range; a class escape cannot.
			f, err := p.escape(true)
			if err != nil {
				return nil, err
			}
			esc := p.src[save+1]
			switch esc {
			case 'n', 'r', 't', 'f', 'v', 'u', 'x':
				lo = map[byte]rune{'n': '\n', 'r': '\r', 't': '\t', 'f': '\f', 'v': '\v'}[esc]
				if esc == 'u' || esc == 'x' {
					// re-decode the code point
					body := p.src[save+2 : p.pos]
					body = strings.Trim(body, "{}")
					v, _ := strconv.ParseUint(body, 16, 32)
					lo = rune(v)
				}
			default:
				if strings.ContainsRune("sSdDwWpP", rune(esc)) {
					fs = append(fs, f)
					single = false
				} else {
					lo, _ = utf8.DecodeRuneInString(p.src[save+1:])
				}
			}
		} else {
			var n int
			lo, n = utf8.DecodeRuneInString(p.src[p.pos:])
			p.pos += n
		}
		if !single {
			continue
		}
		hi := lo
		if p.peek() == '-' && p.pos+1 < len(p.src) && p.src[p.pos+1] != ']' {
			p.pos++
			if p.peek() == '\\' {
				save := p.pos
				if _, err := p.escape(true); err != nil {
					return nil, err
				}
				hi, _ = utf8.DecodeRuneInString(p.src[save+1:])
				switch p.src[save+1] {
				case 'n':
					hi = '\n'
				case 'r':
					hi = '\r'
				case 't':
					hi = '\t'
				case 'u', 'x':
					v, _ := strconv.ParseUint(strings.Trim(p.src[save+2:p.pos], "{}"), 16, 32)
					hi = rune(v)
				}
			} else {
				var n int
				hi, n = utf8.DecodeRuneInString(p.src[p.pos:])
				p.pos += n
			}
			if hi < lo {
				return nil, fmt.Errorf("bad range at offset %d", p.pos)
			}
		}
		l, h := lo, hi
		if p.fold {
			fs = append(fs, func(r rune) bool {
				lr := unicode.ToLower(r)
				ur := unicode.ToUpper(r)
				return (r >= l && r <= h) || (lr >= l && lr <= h) || (ur >= l && ur <= h)
			})
		} else {
			fs = append(fs, func(r rune) bool { return r >= l && r <= h })
		}
	}
	return func(r rune) bool {
		for _, f := range fs {
			if f(r) {
				return !neg
			}
		}
		return neg
	}, nil
}
