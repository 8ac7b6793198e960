// Package intervene is glia's intervention language, with the values it
// needs: per-unit means (of a corpus or an atlas) and steering vectors.
// The experiments built on it are package experiment.
//
// A spec names a hook point, a selection of positions and units, an
// operation and a value:
//
//	blocks.3.mlp.hook_post[:,117]=0
//	blocks.3.mlp.hook_post[:,117]*=4
//	blocks.5.hook_resid_post[-1]+=4*@vec.safetensors:dog
//	blocks.2.attn.hook_z[:,head=7]=mean
//	blocks.0.hook_resid_pre[1,4][0:8]=resample
//
// Parse turns the text into a Spec; Spec.Compile checks it against a model
// and returns an engine.Intervention. The grammar is in docs/interventions.md.
package intervene

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Op is what a spec does to the selected elements.
type Op int

const (
	OpSet   Op = iota // x = v
	OpScale           // x = x·v
	OpAdd             // x = x + v
)

func (o Op) String() string { return [...]string{"=", "*=", "+="}[o] }

// ValueKind says where a spec's value comes from.
type ValueKind int

const (
	ValNumber   ValueKind = iota // a constant
	ValZero                      // 0 (zero ablation)
	ValMean                      // the unit's mean over a reference corpus or an atlas
	ValResample                  // the value the hook takes on another input
	ValVector                    // factor · a tensor read from a safetensors file
)

// Value is the right-hand side of a spec.
type Value struct {
	Kind   ValueKind
	Number float64 // ValNumber; the factor of a ValVector (1 when not written)
	File   string  // ValVector: the .safetensors path
	Tensor string  // ValVector: the tensor name ("" when the file holds one tensor)
}

// Index is one item of a selection: a single index (Start, with Single) or
// a half-open range Start:Stop where either side may be omitted. Negative
// numbers count from the end of the axis.
type Index struct {
	Single            bool
	Start, Stop       int
	HasStart, HasStop bool
}

// Sel selects indices along one axis. The zero Sel selects everything.
type Sel struct {
	Items []Index
}

// All reports whether the selection is the whole axis.
func (s Sel) All() bool { return len(s.Items) == 0 }

// Resolve lists the selected indices of an axis of size n, in order and
// without duplicates, or says which item is out of range.
func (s Sel) Resolve(n int) ([]int, error) {
	if s.All() {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	seen := make([]bool, n)
	for _, it := range s.Items {
		if it.Single {
			i := it.Start
			if i < 0 {
				i += n
			}
			if i < 0 || i >= n {
				return nil, fmt.Errorf("index %d is out of range [0,%d)", it.Start, n)
			}
			seen[i] = true
			continue
		}
		lo, hi := 0, n
		if it.HasStart {
			lo = it.Start
			if lo < 0 {
				lo += n
			}
		}
		if it.HasStop {
			hi = it.Stop
			if hi < 0 {
				hi += n
			}
		}
		if lo < 0 || lo > n || hi < 0 || hi > n {
			return nil, fmt.Errorf("range %s is out of range [0,%d)", it.String(), n)
		}
		for i := lo; i < hi; i++ {
			seen[i] = true
		}
	}
	var out []int
	for i, ok := range seen {
		if ok {
			out = append(out, i)
		}
	}
	return out, nil
}

func (it Index) String() string {
	if it.Single {
		return strconv.Itoa(it.Start)
	}
	var b strings.Builder
	if it.HasStart {
		b.WriteString(strconv.Itoa(it.Start))
	}
	b.WriteByte(':')
	if it.HasStop {
		b.WriteString(strconv.Itoa(it.Stop))
	}
	return b.String()
}

func (s Sel) String() string {
	if s.All() {
		return ":"
	}
	parts := make([]string, len(s.Items))
	for i, it := range s.Items {
		parts[i] = it.String()
	}
	return strings.Join(parts, ",")
}

// Spec is a parsed intervention.
type Spec struct {
	Text  string // as written
	Hook  string
	Pos   Sel // along the position axis
	Units Sel // along the unit axis (heads for [batch,pos,head,d_head] hooks)
	Op    Op
	Value Value
}

// String is the canonical form of the spec (stable: used in graph keys).
func (s *Spec) String() string {
	var v string
	switch s.Value.Kind {
	case ValNumber:
		v = strconv.FormatFloat(s.Value.Number, 'g', -1, 64)
	case ValZero:
		v = "zero"
	case ValMean:
		v = "mean"
	case ValResample:
		v = "resample"
	case ValVector:
		v = "@" + s.Value.File
		if s.Value.Tensor != "" {
			v += ":" + s.Value.Tensor
		}
		if s.Value.Number != 1 {
			v = strconv.FormatFloat(s.Value.Number, 'g', -1, 64) + "*" + v
		}
	}
	return fmt.Sprintf("%s[%s][%s]%s%s", s.Hook, s.Pos, s.Units, s.Op, v)
}

// SyntaxError says where in a spec parsing failed (Col counts bytes from 1).
type SyntaxError struct {
	Spec string
	Col  int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("intervention %q: column %d: %s", e.Spec, e.Col, e.Msg)
}

type parser struct {
	s   string
	i   int
	err *SyntaxError
}

func (p *parser) fail(col int, format string, args ...any) {
	if p.err == nil {
		p.err = &SyntaxError{Spec: p.s, Col: col + 1, Msg: fmt.Sprintf(format, args...)}
	}
}

func (p *parser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// Parse reads one spec: HOOK[positions][units] OP VALUE, or with one
// bracket HOOK[positions,units] (then each part is one index, range or
// parenthesised list).
func Parse(text string) (*Spec, error) {
	p := &parser{s: text}
	s := &Spec{Text: text}
	p.skipSpace()
	start := p.i
	for p.i < len(p.s) && isHookByte(p.s[p.i]) {
		p.i++
	}
	s.Hook = p.s[start:p.i]
	if s.Hook == "" {
		p.fail(p.i, "expected a hook name such as blocks.3.mlp.hook_post")
		return nil, p.err
	}
	if strings.HasPrefix(s.Hook, ".") || strings.HasSuffix(s.Hook, ".") || strings.Contains(s.Hook, "..") {
		p.fail(start, "malformed hook name %q", s.Hook)
		return nil, p.err
	}
	p.skipSpace()
	var groups [][]selItem
	for p.peek() == '[' {
		if len(groups) == 2 {
			p.fail(p.i, "at most two brackets: HOOK[positions][units]")
			return nil, p.err
		}
		g := p.bracket()
		if p.err != nil {
			return nil, p.err
		}
		groups = append(groups, g)
		p.skipSpace()
	}
	switch len(groups) {
	case 1:
		// One bracket: NumPy style, the comma separates axes.
		g := groups[0]
		if len(g) > 2 {
			p.fail(g[2].col, "too many indices in one bracket: write HOOK[pos,units], or lists as HOOK[1,4][units] or HOOK[(1,4),units]")
			return nil, p.err
		}
		s.Pos = p.toSel(g[0], "positions")
		if len(g) == 2 {
			s.Units = p.toSel(g[1], "units")
		}
	case 2:
		s.Pos = p.toSelList(groups[0], "positions")
		s.Units = p.toSelList(groups[1], "units")
	}
	if p.err != nil {
		return nil, p.err
	}
	// Operator.
	opCol := p.i
	switch {
	case strings.HasPrefix(p.s[p.i:], "*="):
		s.Op, p.i = OpScale, p.i+2
	case strings.HasPrefix(p.s[p.i:], "+="):
		s.Op, p.i = OpAdd, p.i+2
	case strings.HasPrefix(p.s[p.i:], "-="):
		s.Op, p.i = OpAdd, p.i+2
		defer func() {
			if s.Value.Kind == ValNumber || s.Value.Kind == ValVector {
				s.Value.Number = -s.Value.Number
			}
		}()
	case strings.HasPrefix(p.s[p.i:], "="):
		s.Op, p.i = OpSet, p.i+1
	default:
		if p.i >= len(p.s) {
			p.fail(p.i, "expected an operator (=, *=, +=, -=) and a value")
		} else {
			p.fail(p.i, "expected an operator (=, *=, +=, -=), found %q", p.s[p.i:p.i+1])
		}
		return nil, p.err
	}
	p.skipSpace()
	valCol := p.i
	p.value(&s.Value)
	if p.err != nil {
		return nil, p.err
	}
	p.skipSpace()
	if p.i < len(p.s) {
		p.fail(p.i, "unexpected %q after the value", p.s[p.i:])
		return nil, p.err
	}
	switch s.Value.Kind {
	case ValZero, ValMean, ValResample:
		if s.Op != OpSet {
			p.fail(opCol, "%s is an ablation: use = (not %s)", valueWord(s.Value.Kind), p.s[opCol:valCol])
		}
	case ValVector:
		if s.Op == OpScale {
			p.fail(opCol, "a vector can be set (=) or added (+=), not multiplied")
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	return s, nil
}

func valueWord(k ValueKind) string {
	return map[ValueKind]string{ValZero: "zero", ValMean: "mean", ValResample: "resample"}[k]
}

func isHookByte(c byte) bool {
	return c == '.' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// selItem is one comma-separated part of a bracket, before it is known
// whether it selects positions or units.
type selItem struct {
	col   int
	named string  // "head" for head=7
	items []Index // one, or several for a parenthesised list
	list  bool
}

// bracket parses [item, item, ...] at p.i.
func (p *parser) bracket() []selItem {
	open := p.i
	p.i++ // '['
	var out []selItem
	for {
		p.skipSpace()
		it := selItem{col: p.i}
		if n := len("head="); strings.HasPrefix(p.s[p.i:], "head=") {
			it.named = "head"
			p.i += n
		}
		if p.peek() == '(' {
			p.i++
			it.list = true
			for {
				p.skipSpace()
				ix, ok := p.index()
				if !ok {
					return nil
				}
				it.items = append(it.items, ix)
				p.skipSpace()
				if p.peek() == ',' {
					p.i++
					continue
				}
				if p.peek() != ')' {
					p.fail(p.i, "expected , or ) in a list")
					return nil
				}
				p.i++
				break
			}
		} else {
			ix, ok := p.index()
			if !ok {
				return nil
			}
			it.items = []Index{ix}
		}
		out = append(out, it)
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.i++
			continue
		case ']':
			p.i++
			return out
		case 0:
			p.fail(open, "unclosed [")
			return nil
		default:
			p.fail(p.i, "unexpected %q in an index (want a number, a:b, :, or a list)", p.s[p.i:p.i+1])
			return nil
		}
	}
}

// index parses N, A:B, :B, A:, or :.
func (p *parser) index() (Index, bool) {
	var ix Index
	n, ok := p.int()
	if p.err != nil {
		return ix, false
	}
	if ok {
		ix.Start, ix.HasStart = n, true
	}
	if p.peek() != ':' {
		if !ok {
			p.fail(p.i, "expected an index (a number, a:b or :)")
			return ix, false
		}
		ix.Single = true
		return ix, true
	}
	p.i++
	if m, ok := p.int(); ok {
		ix.Stop, ix.HasStop = m, true
	}
	return ix, p.err == nil
}

// int parses an optionally signed integer; ok is false when there is none.
func (p *parser) int() (int, bool) {
	start := p.i
	if p.peek() == '-' || p.peek() == '+' {
		p.i++
	}
	d := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if p.i == d {
		if d != start {
			p.fail(start, "expected digits after the sign")
		}
		p.i = start
		return 0, false
	}
	v, err := strconv.Atoi(p.s[start:p.i])
	if err != nil {
		p.fail(start, "index %s is too large", p.s[start:p.i])
		return 0, false
	}
	return v, true
}

func (p *parser) toSel(it selItem, what string) Sel {
	if it.named != "" && what != "units" {
		p.fail(it.col, "%s= selects units; the first index is positions", it.named)
	}
	return selOf(it.items)
}

func (p *parser) toSelList(g []selItem, what string) Sel {
	var items []Index
	for _, it := range g {
		if it.named != "" && what != "units" {
			p.fail(it.col, "%s= selects units; the first bracket is positions", it.named)
		}
		items = append(items, it.items...)
	}
	return selOf(items)
}

// selOf drops a lone ":" so that "all" has one representation.
func selOf(items []Index) Sel {
	for _, it := range items {
		if !it.Single && !it.HasStart && !it.HasStop {
			return Sel{}
		}
	}
	return Sel{Items: items}
}

// value parses a number, zero, mean, resample, or [F*]@file[:tensor].
func (p *parser) value(v *Value) {
	rest := p.s[p.i:]
	word := rest
	if j := strings.IndexAny(word, " \t"); j >= 0 {
		word = word[:j]
	}
	switch word {
	case "zero":
		v.Kind, p.i = ValZero, p.i+len(word)
		return
	case "mean":
		v.Kind, p.i = ValMean, p.i+len(word)
		return
	case "resample":
		v.Kind, p.i = ValResample, p.i+len(word)
		return
	}
	if rest == "" {
		p.fail(p.i, "expected a value: a number, zero, mean, resample or @file.safetensors:tensor")
		return
	}
	factor := 1.0
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		// [F*]@file[:tensor] or -@file
		pre := strings.TrimSpace(rest[:at])
		switch {
		case pre == "":
		case pre == "-":
			factor = -1
		case strings.HasSuffix(pre, "*"):
			num := strings.TrimSpace(strings.TrimSuffix(pre, "*"))
			f, err := strconv.ParseFloat(num, 64)
			if err != nil && !isRangeErr(err) {
				p.fail(p.i, "the factor before @ must be a number followed by *, as in 4*@vec.safetensors:dog")
				return
			}
			if !p.finite(f, num) {
				return
			}
			factor = f
		default:
			p.fail(p.i, "write a factor as F*@file (e.g. 4*@vec.safetensors:dog)")
			return
		}
		ref := strings.TrimSpace(rest[at+1:])
		if ref == "" {
			p.fail(p.i+at+1, "expected a file after @")
			return
		}
		v.Kind, v.Number = ValVector, factor
		v.File = ref
		if c := strings.LastIndexByte(ref, ':'); c >= 0 {
			v.File, v.Tensor = ref[:c], ref[c+1:]
			if v.Tensor == "" {
				p.fail(p.i+at+1+c+1, "expected a tensor name after ':'")
				return
			}
		}
		if v.File == "" {
			p.fail(p.i+at+1, "expected a file after @")
			return
		}
		p.i = len(p.s)
		return
	}
	num := strings.TrimSpace(rest)
	f, err := strconv.ParseFloat(num, 64)
	if err != nil && !isRangeErr(err) {
		p.fail(p.i, "%q is not a value: want a number, zero, mean, resample or @file.safetensors:tensor", num)
		return
	}
	if !p.finite(f, num) {
		return
	}
	v.Kind, v.Number = ValNumber, f
	p.i = len(p.s)
}

// finite checks that a value is a finite float32, the type activations
// have: NaN, ±Inf and numbers beyond ±3.4e38 would make every output NaN
// (and unencodable as JSON).
func (p *parser) finite(f float64, text string) bool {
	if math.IsNaN(f) || math.Abs(f) > math.MaxFloat32 {
		p.fail(p.i, "%s is not a finite float32 (NaN, ±Inf and magnitudes over 3.4e38 are refused)", text)
		return false
	}
	return true
}

func isRangeErr(err error) bool {
	var ne *strconv.NumError
	return errors.As(err, &ne) && ne.Err == strconv.ErrRange
}
