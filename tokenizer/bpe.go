package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// bpeModel is HF tokenizers' BPE model.
type bpeModel struct {
	vocab        map[string]int
	vocabR       []string // id -> token ("" where absent)
	merges       map[uint64]mergeRule
	unkID        int // -1 if none
	prefix       string
	suffix       string
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	byteIDs      [256]int // id of <0xXX>, -1 if absent

	// spaceSplit: long SentencePiece-style words (no pre-tokenizer, spaces
	// as ▁) are cut before each ▁ run whose preceding character X is itself a
	// token and appears before ▁ in no token ("X▁"): no merge can then cross
	// the cut, so encoding (and caching) the parts gives identical ids.
	spaceSplit bool
	spaceBad   map[rune]bool

	mu    sync.Mutex
	cache map[string][]int
}

type mergeRule struct {
	rank  int32
	newID int32
}

const bpeCacheMax = 1 << 16

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func newBPE(vocab map[string]int, merges [][2]string, unk, prefix, suffix string, fuseUnk, byteFallback, ignoreMerges bool) (*bpeModel, error) {
	m := &bpeModel{vocab: vocab, prefix: prefix, suffix: suffix, fuseUnk: fuseUnk,
		byteFallback: byteFallback, ignoreMerges: ignoreMerges, unkID: -1,
		cache: make(map[string][]int)}
	maxID := -1
	for _, id := range vocab {
		if id < 0 {
			return nil, fmt.Errorf("model.vocab: negative id %d", id)
		}
		maxID = max(maxID, id)
	}
	m.vocabR = make([]string, maxID+1)
	for tok, id := range vocab {
		m.vocabR[id] = tok
	}
	if unk != "" {
		id, ok := vocab[unk]
		if !ok {
			return nil, fmt.Errorf("model.unk_token: %q is not in the vocabulary", unk)
		}
		m.unkID = id
	}
	for b := 0; b < 256; b++ {
		m.byteIDs[b] = -1
		if id, ok := vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteIDs[b] = id
		}
	}
	if _, ok := vocab["▁"]; ok && prefix == "" && suffix == "" {
		m.spaceSplit = true
		m.spaceBad = map[rune]bool{}
		for tok := range vocab {
			for i := 1; i < len(tok); i++ {
				if strings.HasPrefix(tok[i:], "▁") && !strings.HasSuffix(tok[:i], "▁") {
					r, _ := utf8.DecodeLastRuneInString(tok[:i])
					m.spaceBad[r] = true
				}
			}
		}
	}
	m.merges = make(map[uint64]mergeRule, len(merges))
	for i, mg := range merges {
		a, ok1 := vocab[mg[0]]
		b, ok2 := vocab[mg[1]]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("model.merges[%d]: token %q or %q is not in the vocabulary", i, mg[0], mg[1])
		}
		// HF drops len(prefix) bytes from the right token unconditionally.
		right := mg[1]
		if len(prefix) > 0 {
			if len(right) < len(prefix) || (len(right) > len(prefix) && !utf8.RuneStart(right[len(prefix)])) {
				return nil, fmt.Errorf("model.merges[%d]: %q is shorter than continuing_subword_prefix %q", i, right, prefix)
			}
			right = right[len(prefix):]
		}
		nid, ok := vocab[mg[0]+right]
		if !ok {
			return nil, fmt.Errorf("model.merges[%d]: merged token %q is not in the vocabulary", i, mg[0]+right)
		}
		m.merges[pairKey(a, b)] = mergeRule{int32(i), int32(nid)}
	}
	return m, nil
}

func (m *bpeModel) idToToken(id int) (string, bool) {
	if id < 0 || id >= len(m.vocabR) {
		return "", false
	}
	s := m.vocabR[id]
	if s == "" {
		_, ok := m.vocab[""]
		return "", ok && m.vocab[""] == id
	}
	return s, true
}

func (m *bpeModel) tokenToID(s string) (int, bool) { id, ok := m.vocab[s]; return id, ok }
func (m *bpeModel) size() int                      { return len(m.vocabR) }

// encode appends the ids of one pre-tokenized word.
func (m *bpeModel) encode(w string, out []int) []int {
	if w == "" {
		return out
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[w]; ok {
			return append(out, id)
		}
	}
	if m.spaceSplit && len(w) > 16 {
		// Cut before each ▁ run that follows another character.
		start := 0
		for i := 1; i < len(w); i++ {
			if w[i] != 0xE2 || !strings.HasPrefix(w[i:], "▁") || strings.HasSuffix(w[:i], "▁") {
				continue
			}
			r, n := utf8.DecodeLastRuneInString(w[:i])
			if m.spaceBad[r] {
				continue
			}
			if _, ok := m.vocab[w[i-n:i]]; !ok {
				continue
			}
			out = m.encodeCached(w[start:i], out)
			start = i
		}
		return m.encodeCached(w[start:], out)
	}
	return m.encodeCached(w, out)
}

func (m *bpeModel) encodeCached(w string, out []int) []int {
	m.mu.Lock()
	ids, ok := m.cache[w]
	m.mu.Unlock()
	if ok {
		return append(out, ids...)
	}
	n := len(out)
	out = m.mergeWord(w, out)
	if len(w) < 256 {
		ids := append([]int(nil), out[n:]...)
		key := strings.Clone(w)
		m.mu.Lock()
		if len(m.cache) >= bpeCacheMax {
			clear(m.cache)
		}
		m.cache[key] = ids
		m.mu.Unlock()
	}
	return out
}

type bpeSym struct {
	id         int
	prev, next int
	alive      bool
}

type bpeMerge struct {
	rank int32
	pos  int32
	id   int32
}

func (a bpeMerge) less(b bpeMerge) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos)
}

type mergeHeap []bpeMerge

func (h *mergeHeap) push(x bpeMerge) {
	*h = append(*h, x)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].less(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *mergeHeap) pop() bpeMerge {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		c := l
		if r := l + 1; r < len(s) && s[r].less(s[l]) {
			c = r
		}
		if !s[c].less(s[i]) {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	*h = s
	return top
}

var bpeScratch = sync.Pool{New: func() any { return &bpeWork{} }}

type bpeWork struct {
	syms []bpeSym
	heap mergeHeap
	buf  []byte
}

func (m *bpeModel) mergeWord(w string, out []int) []int {
	wk := bpeScratch.Get().(*bpeWork)
	defer bpeScratch.Put(wk)
	syms := wk.syms[:0]
	add := func(id int) {
		syms = append(syms, bpeSym{id: id, alive: true})
	}
	unkPending := false
	for i := 0; i < len(w); {
		_, n := utf8.DecodeRuneInString(w[i:])
		s := w[i : i+n]
		if (m.prefix != "" && i > 0) || (m.suffix != "" && i+n == len(w)) {
			b := wk.buf[:0]
			if i > 0 {
				b = append(b, m.prefix...)
			}
			b = append(b, s...)
			if i+n == len(w) {
				b = append(b, m.suffix...)
			}
			wk.buf = b
			s = string(b)
		}
		i += n
		if id, ok := m.vocab[s]; ok {
			if unkPending {
				add(m.unkID)
				unkPending = false
			}
			add(id)
			continue
		}
		if m.byteFallback {
			all := true
			for k := 0; k < len(s); k++ {
				if m.byteIDs[s[k]] < 0 {
					all = false
					break
				}
			}
			if all {
				for k := 0; k < len(s); k++ {
					add(m.byteIDs[s[k]])
				}
				continue
			}
		}
		if m.unkID >= 0 {
			if unkPending && !m.fuseUnk {
				add(m.unkID)
			}
			unkPending = true
		}
	}
	if unkPending {
		add(m.unkID)
	}
	for k := range syms {
		syms[k].prev = k - 1
		syms[k].next = k + 1
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}
	h := wk.heap[:0]
	for k := 0; k+1 < len(syms); k++ {
		if r, ok := m.merges[pairKey(syms[k].id, syms[k+1].id)]; ok {
			h.push(bpeMerge{r.rank, int32(k), r.newID})
		}
	}
	for len(h) > 0 {
		top := h.pop()
		p := int(top.pos)
		s := &syms[p]
		if !s.alive || s.next < 0 {
			continue
		}
		nx := s.next
		r, ok := m.merges[pairKey(s.id, syms[nx].id)]
		if !ok || r.newID != top.id {
			continue
		}
		s.id = int(top.id)
		syms[nx].alive = false
		s.next = syms[nx].next
		if s.next >= 0 {
			syms[s.next].prev = p
		}
		if s.prev >= 0 {
			if r, ok := m.merges[pairKey(syms[s.prev].id, s.id)]; ok {
				h.push(bpeMerge{r.rank, int32(s.prev), r.newID})
			}
		}
		if s.next >= 0 {
			if r, ok := m.merges[pairKey(s.id, syms[s.next].id)]; ok {
				h.push(bpeMerge{r.rank, int32(p), r.newID})
			}
		}
	}
	for k := 0; k >= 0 && k < len(syms); k = syms[k].next {
		out = append(out, syms[k].id)
	}
	wk.syms, wk.heap = syms, h
	return out
}
