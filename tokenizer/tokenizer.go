// Package tokenizer implements the tokenizers that transformer models ship
// with, in pure Go: Hugging Face tokenizer.json files (byte-level BPE and
// SentencePiece-style BPE), GPT-2's vocab.json + merges.txt, llama2.c's
// tokenizer.bin and GGUF-embedded vocabularies. Encode produces the same ids
// as Hugging Face's Rust tokenizers library.
package tokenizer

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// model turns one pre-tokenized word into ids.
type model interface {
	encode(word string, out []int) []int
	idToToken(id int) (string, bool)
	tokenToID(s string) (int, bool)
	size() int
}

// Tokenizer encodes text to token ids and decodes ids back to text. It is
// safe for concurrent use.
type Tokenizer struct {
	model  model
	norm   normalizer
	pre    preTokenizer
	post   postProcessor
	trunc  *truncation // tokenizer.json "truncation", nil when off
	pad    *padding    // tokenizer.json "padding", nil when off
	dec    decoder
	added  *addedVocab
	bos    int
	eos    int
	vocabN int

	// custom replaces the whole pipeline (llama2.c and GGUF SPM encoders).
	custom interface {
		encode(text string, addSpecial bool) []int
		decode(ids []int, skipSpecial bool) string
		tokenString(id int) string
	}
	byteLevelDisplay bool
}

var workPool = sync.Pool{New: func() any { return &work{} }}

// Encode returns the token ids of text. With addSpecial the post-processor's
// template (e.g. BOS) is applied. Invalid UTF-8 is first decoded the way
// JavaScript's TextDecoder does: each maximal ill-formed subsequence becomes
// one U+FFFD.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int {
	text = ValidUTF8(text)
	if t.custom != nil {
		return t.custom.encode(text, addSpecial)
	}
	w := workPool.Get().(*work)
	defer workPool.Put(w)
	w.reset()
	ids := make([]int, 0, len(text)/3+4)
	t.added.split(text, t.added.raw, func(seg string, off, id int) {
		if id >= 0 {
			ids = append(ids, id)
			return
		}
		ns := seg
		if t.norm != nil {
			ns = t.norm.normalize(seg)
		}
		t.added.split(ns, t.added.norm, func(seg2 string, off2, id2 int) {
			if id2 >= 0 {
				ids = append(ids, id2)
				return
			}
			w.a = append(w.a[:0], piece{seg2, off == 0 && off2 == 0})
			pieces := w.a
			if t.pre != nil {
				w.b = t.pre.pre(w.a, w.b[:0], w)
				pieces = w.b
			}
			for _, p := range pieces {
				ids = t.model.encode(p.s, ids)
			}
		})
	})
	if t.trunc != nil {
		ids = t.trunc.apply(ids, t.addedCount(addSpecial))
	}
	if addSpecial && t.post != nil {
		ids = t.post.process(ids)
	}
	if t.pad != nil {
		ids = t.pad.apply(ids)
	}
	if cap(w.block) > 1<<20 {
		w.block = nil
	}
	return ids
}

// Decode turns ids back into text. skipSpecial drops special tokens (BOS,
// EOS, ...). Unknown ids are skipped.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) string {
	if t.custom != nil {
		return t.custom.decode(ids, skipSpecial)
	}
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if k, ok := t.added.byID[id]; ok {
			at := &t.added.tokens[k]
			if skipSpecial && at.Special {
				continue
			}
			toks = append(toks, at.Content)
			continue
		}
		if s, ok := t.model.idToToken(id); ok {
			toks = append(toks, s)
		}
	}
	if t.dec == nil {
		return strings.Join(toks, " ")
	}
	return strings.Join(t.dec.decodeChain(toks), "")
}

// TokenString is the display form of one token for UIs: its text with
// byte-level and SentencePiece markers undone. Bytes that cannot stand alone
// as text are shown as <0xNN>.
func (t *Tokenizer) TokenString(id int) string {
	if t.custom != nil {
		return t.custom.tokenString(id)
	}
	if k, ok := t.added.byID[id]; ok {
		return t.added.tokens[k].Content
	}
	s, ok := t.model.idToToken(id)
	if !ok {
		return ""
	}
	if t.byteLevelDisplay {
		b := make([]byte, 0, len(s))
		for _, r := range s {
			c, ok := runeToByte[r]
			if !ok {
				return s
			}
			b = append(b, c)
		}
		return displayBytes(b)
	}
	if b, ok := byteTokenValue(s); ok {
		return displayBytes([]byte{b})
	}
	return strings.ReplaceAll(s, "▁", " ")
}

// displayBytes renders b as text, with <0xNN> for bytes that are not part of
// a valid UTF-8 sequence and for ASCII control characters (so a newline token
// shows as <0x0A> and cannot break a UI's layout).
func displayBytes(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if (r == utf8.RuneError && n <= 1) || r < 0x20 || r == 0x7F {
			sb.WriteString("<0x")
			sb.WriteByte("0123456789ABCDEF"[b[i]>>4])
			sb.WriteByte("0123456789ABCDEF"[b[i]&15])
			sb.WriteByte('>')
			i++
			continue
		}
		sb.Write(b[i : i+n])
		i += n
	}
	return sb.String()
}

// VocabSize is the number of ids, added tokens included.
func (t *Tokenizer) VocabSize() int { return t.vocabN }

// BOS is the beginning-of-sequence id, or -1.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS is the end-of-sequence id, or -1.
func (t *Tokenizer) EOS() int { return t.eos }

// TokenID returns the id of a token string (added tokens included).
func (t *Tokenizer) TokenID(tok string) (int, bool) {
	if t.added != nil {
		for _, at := range t.added.tokens {
			if at.Content == tok {
				return at.ID, true
			}
		}
	}
	if t.model != nil {
		return t.model.tokenToID(tok)
	}
	if c, ok := t.custom.(interface{ tokenToID(string) (int, bool) }); ok {
		return c.tokenToID(tok)
	}
	return -1, false
}

// addedCount is how many ids the post-processor adds to one sequence.
func (t *Tokenizer) addedCount(addSpecial bool) int {
	if !addSpecial || t.post == nil {
		return 0
	}
	return len(t.post.process(nil))
}

// truncation is tokenizer.json's "truncation" for a single sequence: like HF,
// the text's ids are cut so that, with the special tokens the post-processor
// adds, at most maxLength remain.
type truncation struct {
	maxLength int
	left      bool
}

func (tr *truncation) apply(ids []int, added int) []int {
	keep := max(tr.maxLength-added, 0)
	if len(ids) <= keep {
		return ids
	}
	if tr.left {
		return ids[len(ids)-keep:]
	}
	return ids[:keep]
}

// padding is tokenizer.json's "padding": a Fixed length (or, for one
// sequence, BatchLongest, which changes nothing) rounded up to a multiple.
type padding struct {
	fixed    int // 0: BatchLongest
	multiple int
	id       int
	left     bool
}

func (p *padding) apply(ids []int) []int {
	target := len(ids)
	if p.fixed > 0 {
		target = p.fixed
	}
	if p.multiple > 0 && target%p.multiple != 0 {
		target += p.multiple - target%p.multiple
	}
	if len(ids) >= target {
		return ids
	}
	out := make([]int, 0, target)
	if p.left {
		for range target - len(ids) {
			out = append(out, p.id)
		}
		return append(out, ids...)
	}
	out = append(out, ids...)
	for len(out) < target {
		out = append(out, p.id)
	}
	return out
}
