package tokenizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
)

// FromLlama2C reads a llama2.c tokenizer.bin. vocabSize is the model's
// vocabulary size (the file does not store it); 0 reads every entry.
func FromLlama2C(path string, vocabSize int) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := FromLlama2CBytes(data, vocabSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// FromLlama2CBytes is FromLlama2C on the file's bytes. The format: int32
// max_token_length, then per token: float32 score, int32 length, bytes.
// Encoding follows llama2.c's run.c: a dummy " " piece first (for non-empty
// text), one piece per UTF-8 character with byte fallback (id = byte+3), then
// repeated merging of the adjacent pair whose concatenation is in the
// vocabulary with the highest score (leftmost on ties). BOS is 1, EOS is 2.
func FromLlama2CBytes(data []byte, vocabSize int) (*Tokenizer, error) {
	if len(data) < 4 {
		return nil, errors.New("llama2.c tokenizer: file too short for max_token_length")
	}
	if vocabSize < 0 {
		return nil, fmt.Errorf("llama2.c tokenizer: negative vocabSize %d", vocabSize)
	}
	m := &llama2cModel{lookup: map[string]int{}}
	off := 4
	for i := 0; vocabSize == 0 || i < vocabSize; i++ {
		if off == len(data) && vocabSize == 0 {
			break
		}
		if off+8 > len(data) {
			return nil, fmt.Errorf("llama2.c tokenizer: token %d: truncated header at byte %d", i, off)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
		n := int(int32(binary.LittleEndian.Uint32(data[off+4:])))
		off += 8
		if n < 0 || off+n > len(data) {
			return nil, fmt.Errorf("llama2.c tokenizer: token %d: bad length %d at byte %d", i, n, off-4)
		}
		s := string(data[off : off+n])
		off += n
		m.vocab = append(m.vocab, s)
		m.scores = append(m.scores, score)
		if _, dup := m.lookup[s]; !dup {
			m.lookup[s] = i
		}
	}
	if len(m.vocab) < 3 {
		return nil, fmt.Errorf("llama2.c tokenizer: %d tokens, want at least 3 (unk, bos, eos)", len(m.vocab))
	}
	return &Tokenizer{custom: m, bos: 1, eos: 2, vocabN: len(m.vocab)}, nil
}

type llama2cModel struct {
	vocab  []string
	scores []float32
	lookup map[string]int
}

func (m *llama2cModel) tokenToID(s string) (int, bool) { id, ok := m.lookup[s]; return id, ok }

func (m *llama2cModel) encode(text string, addSpecial bool) []int {
	var ids []int
	if addSpecial {
		ids = append(ids, 1)
	}
	if text == "" {
		return ids
	}
	start := len(ids)
	if id, ok := m.lookup[" "]; ok {
		ids = append(ids, id)
	}
	for i := 0; i < len(text); {
		_, n := runeAt(text, i)
		if id, ok := m.lookup[text[i:i+n]]; ok {
			ids = append(ids, id)
		} else {
			for k := i; k < i+n; k++ {
				if id := int(text[k]) + 3; id < len(m.vocab) {
					ids = append(ids, id)
				}
			}
		}
		i += n
	}
	syms := ids[start:]
	merged := scoreMerge(syms, func(a, b int) (int, float32, bool) {
		id, ok := m.lookup[m.vocab[a]+m.vocab[b]]
		if !ok {
			return 0, 0, false
		}
		return id, m.scores[id], true
	})
	return append(ids[:start], merged...)
}

// scoreMerge repeatedly replaces the adjacent pair with the highest score
// (leftmost on ties, scores above -1e10 only) by its merged token, as run.c
// does, with a heap instead of run.c's quadratic scan.
func scoreMerge(ids []int, pair func(a, b int) (id int, score float32, ok bool)) []int {
	n := len(ids)
	if n < 2 {
		return ids
	}
	type sym struct {
		id         int
		prev, next int
		alive      bool
	}
	syms := make([]sym, n)
	for i, id := range ids {
		syms[i] = sym{id, i - 1, i + 1, true}
	}
	syms[n-1].next = -1
	var h scoreHeap
	const floor = float32(-1e10)
	try := func(l int) {
		if l < 0 || syms[l].next < 0 {
			return
		}
		r := syms[l].next
		id, sc, ok := pair(syms[l].id, syms[r].id)
		if ok && sc > floor {
			h.push(scoreItem{sc, l, r, syms[l].id, syms[r].id, id})
		}
	}
	for i := 0; i+1 < n; i++ {
		try(i)
	}
	for len(h) > 0 {
		it := h.pop()
		l, r := it.left, it.right
		if !syms[l].alive || !syms[r].alive || syms[l].next != r || syms[l].id != it.a || syms[r].id != it.b {
			continue
		}
		syms[l].id = it.id
		syms[r].alive = false
		syms[l].next = syms[r].next
		if syms[l].next >= 0 {
			syms[syms[l].next].prev = l
		}
		try(syms[l].prev)
		try(l)
	}
	out := ids[:0]
	for i := 0; i >= 0; i = syms[i].next {
		out = append(out, syms[i].id)
	}
	return out
}

type scoreItem struct {
	score       float32
	left, right int
	a, b        int // the pair's ids when pushed (stale check)
	id          int
}

// before orders by score descending, then leftmost.
func (x scoreItem) before(y scoreItem) bool {
	return x.score > y.score || (x.score == y.score && x.left < y.left)
}

type scoreHeap []scoreItem

func (h *scoreHeap) push(x scoreItem) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s[i].before(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *scoreHeap) pop() scoreItem {
	s := *h
	top := s[0]
	s[0] = s[len(s)-1]
	s = s[:len(s)-1]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		c := l
		if r := l + 1; r < len(s) && s[r].before(s[l]) {
			c = r
		}
		if !s[c].before(s[i]) {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	*h = s
	return top
}

func (m *llama2cModel) decode(ids []int, skipSpecial bool) string {
	var b []byte
	prev := 1 // like SentencePiece, the first piece loses its leading space
	for _, id := range ids {
		if id < 0 || id >= len(m.vocab) {
			continue
		}
		if skipSpecial && (id == 1 || id == 2) {
			prev = id
			continue
		}
		p := m.vocab[id]
		if prev == 1 && strings.HasPrefix(p, " ") {
			p = p[1:]
		}
		if v, ok := byteTokenValue(p); ok {
			b = append(b, v)
		} else {
			b = append(b, p...)
		}
		prev = id
	}
	return string(lossyUTF8(nil, b))
}

func (m *llama2cModel) tokenString(id int) string {
	if id < 0 || id >= len(m.vocab) {
		return ""
	}
	p := m.vocab[id]
	if v, ok := byteTokenValue(p); ok {
		return displayBytes([]byte{v})
	}
	return p
}
