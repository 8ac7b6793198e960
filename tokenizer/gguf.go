package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
)

// GGUFVocab is the tokenizer a GGUF file embeds in its tokenizer.ggml.*
// keys (it has the same fields as format/gguf's Vocab, so one converts to the
// other).
type GGUFVocab struct {
	Model          string // tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE)
	Pre            string // tokenizer.ggml.pre
	Tokens         []string
	Scores         []float32
	Types          []int32 // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
	Merges         []string
	BOS, EOS       int // -1 if absent
	UNK, PAD       int // -1 if absent
	AddBOS, AddEOS bool
	AddSpacePrefix bool
}

const (
	ggufNormal      = 1
	ggufUnknown     = 2
	ggufControl     = 3
	ggufUserDefined = 4
	ggufUnused      = 5
	ggufByte        = 6
)

// FromGGUF builds a tokenizer from a GGUF vocabulary. "llama" vocabularies
// encode like llama.cpp's SentencePiece tokenizer (score-ordered merges, byte
// fallback to <0xNN>, spaces as ▁, optional space prefix); "gpt2" ones are
// byte-level BPE with the split pattern that tokenizer.ggml.pre names.
// Control, unknown and user-defined tokens are matched inside text.
func FromGGUF(v GGUFVocab) (*Tokenizer, error) {
	n := len(v.Tokens)
	if n == 0 {
		return nil, fmt.Errorf("tokenizer.ggml.tokens: empty")
	}
	if v.Scores != nil && len(v.Scores) != n {
		return nil, fmt.Errorf("tokenizer.ggml.scores: %d scores for %d tokens", len(v.Scores), n)
	}
	if v.Types != nil && len(v.Types) != n {
		return nil, fmt.Errorf("tokenizer.ggml.token_type: %d types for %d tokens", len(v.Types), n)
	}
	for _, x := range []struct {
		name string
		id   int
	}{{"bos_token_id", v.BOS}, {"eos_token_id", v.EOS}, {"unknown_token_id", v.UNK}, {"padding_token_id", v.PAD}} {
		if x.id >= n {
			return nil, fmt.Errorf("tokenizer.ggml.%s: %d out of range (%d tokens)", x.name, x.id, n)
		}
	}
	typ := func(i int) int32 {
		if v.Types == nil {
			return ggufNormal
		}
		return v.Types[i]
	}
	switch v.Model {
	case "llama":
		return ggufSPM(v, typ)
	case "gpt2":
		return ggufBPE(v, typ)
	}
	return nil, fmt.Errorf("tokenizer.ggml.model: unsupported tokenizer model %q (want \"llama\" or \"gpt2\")", v.Model)
}

func ggufBPE(v GGUFVocab, typ func(int) int32) (*Tokenizer, error) {
	var pat string
	switch v.Pre {
	case "", "default", "gpt-2", "gpt2":
		pat = ""
	case "llama3", "llama-bpe", "llama-v3", "smaug-bpe":
		pat = llama3Pattern
	case "qwen2", "deepseek-r1-qwen":
		pat = qwen2Pattern
	default:
		return nil, fmt.Errorf("tokenizer.ggml.pre: unsupported pre-tokenizer %q", v.Pre)
	}
	vocab := make(map[string]int, len(v.Tokens))
	added := []AddedToken{}
	for i, tok := range v.Tokens {
		if _, dup := vocab[tok]; !dup {
			vocab[tok] = i
		}
		switch typ(i) {
		case ggufControl, ggufUnknown:
			added = append(added, AddedToken{ID: i, Content: tok, Special: true})
		case ggufUserDefined:
			added = append(added, AddedToken{ID: i, Content: tok})
		}
	}
	pre := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	if pat != "" {
		pre = map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": pat}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}}
	}
	j := map[string]any{
		"added_tokens":  added,
		"pre_tokenizer": pre,
		"decoder":       map[string]any{"type": "ByteLevel"},
		"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": v.Merges,
			"ignore_merges": pat == llama3Pattern},
	}
	data, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	t, err := FromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("gguf vocabulary: %w", err)
	}
	var p templatePost
	if v.AddBOS && v.BOS >= 0 {
		p.before = []int{v.BOS}
	}
	if v.AddEOS && v.EOS >= 0 {
		p.after = []int{v.EOS}
	}
	t.post = p
	t.bos, t.eos = v.BOS, v.EOS
	return t, nil
}

// spmModel is llama.cpp's SentencePiece tokenizer (llm_tokenizer_spm).
type spmModel struct {
	v       GGUFVocab
	lookup  map[string]int
	byteIDs [256]int
	special *addedVocab
	typ     func(int) int32
}

func ggufSPM(v GGUFVocab, typ func(int) int32) (*Tokenizer, error) {
	m := &spmModel{v: v, lookup: make(map[string]int, len(v.Tokens)), typ: typ}
	var sp []AddedToken
	for i, tok := range v.Tokens {
		m.lookup[tok] = i // llama.cpp: the last duplicate wins
		switch typ(i) {
		case ggufControl, ggufUnknown, ggufUserDefined:
			if tok != "" {
				sp = append(sp, AddedToken{ID: i, Content: tok, Special: typ(i) != ggufUserDefined})
			}
		}
	}
	for b := range 256 {
		m.byteIDs[b] = -1
		if id, ok := m.lookup[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteIDs[b] = id
		}
	}
	m.special = newAddedVocab(sp, nil)
	return &Tokenizer{custom: m, bos: v.BOS, eos: v.EOS, vocabN: len(v.Tokens)}, nil
}

func (m *spmModel) tokenToID(s string) (int, bool) { id, ok := m.lookup[s]; return id, ok }

func (m *spmModel) score(id int) float32 {
	if m.v.Scores == nil {
		return 0
	}
	return m.v.Scores[id]
}

func (m *spmModel) encode(text string, addSpecial bool) []int {
	var ids []int
	if addSpecial && m.v.AddBOS && m.v.BOS >= 0 {
		ids = append(ids, m.v.BOS)
	}
	prevSpecial := true
	m.special.split(text, m.special.raw, func(seg string, _ int, id int) {
		if id >= 0 {
			ids = append(ids, id)
			prevSpecial = true
			return
		}
		if m.v.AddSpacePrefix && prevSpecial {
			seg = " " + seg
		}
		prevSpecial = false
		ids = m.encodeText(strings.ReplaceAll(seg, " ", "▁"), ids)
	})
	if addSpecial && m.v.AddEOS && m.v.EOS >= 0 {
		ids = append(ids, m.v.EOS)
	}
	return ids
}

// encodeText merges characters into the highest-scoring tokens, then splits
// whatever is not a token into bytes.
func (m *spmModel) encodeText(text string, out []int) []int {
	type sym struct {
		start, n   int
		prev, next int
	}
	var syms []sym
	for i := 0; i < len(text); {
		_, n := runeAt(text, i)
		syms = append(syms, sym{i, n, len(syms) - 1, len(syms) + 1})
		i += n
	}
	if len(syms) == 0 {
		return out
	}
	syms[len(syms)-1].next = -1
	var h scoreHeap
	try := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		s := text[syms[l].start : syms[l].start+syms[l].n+syms[r].n]
		id, ok := m.lookup[s]
		if !ok {
			return
		}
		h.push(scoreItem{score: m.score(id), left: l, right: r, a: syms[l].n + syms[r].n})
	}
	for i := 1; i < len(syms); i++ {
		try(i-1, i)
	}
	for len(h) > 0 {
		it := h.pop()
		l, r := &syms[it.left], &syms[it.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != it.a {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = it.left
		}
		try(l.prev, it.left)
		try(it.left, l.next)
	}
	for i := 0; i >= 0; i = syms[i].next {
		s := text[syms[i].start : syms[i].start+syms[i].n]
		if id, ok := m.lookup[s]; ok {
			out = append(out, id)
			continue
		}
		for k := 0; k < len(s); k++ {
			if id := m.byteIDs[s[k]]; id >= 0 {
				out = append(out, id)
			} else if m.v.UNK >= 0 {
				out = append(out, m.v.UNK)
			}
		}
	}
	return out
}

func (m *spmModel) piece(id int) (string, bool) {
	if id < 0 || id >= len(m.v.Tokens) {
		return "", false
	}
	return m.v.Tokens[id], true
}

func (m *spmModel) decode(ids []int, skipSpecial bool) string {
	var b []byte
	first := true
	for _, id := range ids {
		p, ok := m.piece(id)
		if !ok {
			continue
		}
		switch m.typ(id) {
		case ggufControl, ggufUnknown:
			if skipSpecial {
				continue
			}
			b = append(b, p...)
			continue
		case ggufByte, ggufNormal:
			// Without token types every token reads as normal: <0xNN> still
			// means a byte.
			if v, ok := byteTokenValue(p); ok && (m.typ(id) == ggufByte || m.v.Types == nil) {
				b = append(b, v)
				first = false
				continue
			}
		}
		p = strings.ReplaceAll(p, "▁", " ")
		if first && m.v.AddSpacePrefix && strings.HasPrefix(p, " ") {
			p = p[1:]
		}
		first = false
		b = append(b, p...)
	}
	return string(lossyUTF8(nil, b))
}

func (m *spmModel) tokenString(id int) string {
	p, ok := m.piece(id)
	if !ok {
		return ""
	}
	if v, ok := byteTokenValue(p); ok {
		return displayBytes([]byte{v})
	}
	return strings.ReplaceAll(p, "▁", " ")
}
