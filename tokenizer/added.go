package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// AddedToken is one entry of tokenizer.json's added_tokens (read here,
// written by the tokenizers glia trains or builds).
type AddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// trie matches added tokens leftmost-longest, like the aho-corasick
// MatchKind::LeftmostLongest automaton HF builds.
type trie struct {
	nodes []trieNode
	first [256]bool
}

type trieNode struct {
	next map[byte]int32
	tok  int32 // index into the token list, -1 if none
}

func newTrie() *trie { return &trie{nodes: []trieNode{{tok: -1}}} }

func (t *trie) add(s string, tok int) {
	if s == "" {
		return
	}
	t.first[s[0]] = true
	n := 0
	for i := 0; i < len(s); i++ {
		nx, ok := t.nodes[n].next[s[i]]
		if !ok {
			if t.nodes[n].next == nil {
				t.nodes[n].next = map[byte]int32{}
			}
			t.nodes = append(t.nodes, trieNode{tok: -1})
			nx = int32(len(t.nodes) - 1)
			t.nodes[n].next[s[i]] = nx
		}
		n = int(nx)
	}
	if t.nodes[n].tok < 0 { // first definition wins for duplicate contents
		t.nodes[n].tok = int32(tok)
	}
}

func (t *trie) empty() bool { return len(t.nodes) == 1 }

// longestAt returns the longest token matching at s[i:].
func (t *trie) longestAt(s string, i int) (tok, end int) {
	tok, end = -1, -1
	n := 0
	for j := i; j < len(s); j++ {
		nx, ok := t.nodes[n].next[s[j]]
		if !ok {
			break
		}
		n = int(nx)
		if k := t.nodes[n].tok; k >= 0 {
			tok, end = int(k), j+1
		}
	}
	return
}

type addedVocab struct {
	tokens []AddedToken
	byID   map[int]int // id -> index in tokens
	raw    *trie       // normalized == false
	norm   *trie       // normalized == true (contents normalized)
}

func newAddedVocab(toks []AddedToken, n normalizer) *addedVocab {
	v := &addedVocab{tokens: toks, byID: map[int]int{}, raw: newTrie(), norm: newTrie()}
	for i, t := range toks {
		v.byID[t.ID] = i
		if t.Normalized {
			// HF matches (and decodes) a normalized token by its normalized form.
			if n != nil {
				v.tokens[i].Content = n.normalize(t.Content)
			}
			v.norm.add(v.tokens[i].Content, i)
		} else {
			v.raw.add(t.Content, i)
		}
	}
	return v
}

// split cuts s at the added tokens of tr and calls f for each piece in order:
// text pieces with tok == -1 and matched tokens with their id. off is the byte
// offset of s's piece in s.
func (v *addedVocab) split(s string, tr *trie, f func(seg string, off int, id int)) {
	if tr.empty() {
		if s != "" {
			f(s, 0, -1)
		}
		return
	}
	startOff := 0
	for i := 0; i < len(s); {
		if !tr.first[s[i]] {
			i++
			continue
		}
		k, end := tr.longestAt(s, i)
		if k < 0 {
			i++
			continue
		}
		t := &v.tokens[k]
		start, stop := i, end
		i = end // matches never overlap, even discarded ones
		if t.SingleWord {
			startSpace := start == 0
			if !startSpace {
				r, _ := utf8.DecodeLastRuneInString(s[:start])
				startSpace = !isWordChar(r)
			}
			stopSpace := stop == len(s)
			if !stopSpace {
				r, _ := utf8.DecodeRuneInString(s[stop:])
				stopSpace = !isWordChar(r)
			}
			if !startSpace || !stopSpace {
				continue
			}
		}
		if t.LStrip {
			ns := start
			for ns > 0 {
				r, n := utf8.DecodeLastRuneInString(s[:ns])
				if !unicode.IsSpace(r) {
					break
				}
				ns -= n
			}
			start = max(ns, startOff)
		}
		if t.RStrip {
			for stop < len(s) {
				r, n := utf8.DecodeRuneInString(s[stop:])
				if !unicode.IsSpace(r) {
					break
				}
				stop += n
			}
		}
		if startOff < start {
			f(s[startOff:start], startOff, -1)
		}
		f(s[start:stop], start, t.ID)
		startOff = stop
	}
	if startOff < len(s) {
		f(s[startOff:], startOff, -1)
	}
}
