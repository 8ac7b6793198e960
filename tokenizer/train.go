package tokenizer

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/glia-dev/glia/corpus"
)

// TrainOptions configure byte-level BPE training (TrainBPE).
type TrainOptions struct {
	// Vocab is the vocabulary size wanted, special tokens and the 256 byte
	// tokens included. Training stops earlier when no pair is frequent enough.
	Vocab int
	// Special tokens, given ids 0.. in order. They are cut out of the corpus
	// text before counting, so no merge learns them or spans them.
	Special []string
	// MinFrequency: a pair seen fewer times than this is never merged (2 when 0).
	MinFrequency int
	// Progress, when set, is called after every merge (merges done, merges
	// wanted at most).
	Progress func(merges, want int)
}

// TrainStats describes a finished training run.
type TrainStats struct {
	Docs      int   `json:"docs"`
	Bytes     int64 `json:"bytes"`
	Words     int   `json:"unique_words"` // distinct pre-tokenized pieces
	Merges    int   `json:"merges"`
	VocabSize int   `json:"vocab_size"`
}

// TrainError is a bad training option or an unreadable corpus.
type TrainError struct {
	Where string // the option or corpus file
	Msg   string
	Err   error
}

func (e *TrainError) Error() string {
	s := "tokenizer train: " + e.Where + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *TrainError) Unwrap() error { return e.Err }

// BPETrainer learns byte-level BPE the way GPT-2's was made: text is split by
// GPT-2's pre-tokenizer pattern, each piece's bytes start as one symbol each
// (the 256 byte tokens, named through GPT-2's byte-to-unicode map), and the
// most frequent adjacent pair across all pieces is merged until the
// vocabulary is full. Ties go to the pair whose left token's bytes sort
// first, then the right token's bytes, so the result depends on the corpus
// only: never on map order or on the order documents were added in.
type BPETrainer struct {
	opt   TrainOptions
	words map[string]int64 // pre-tokenized piece (raw bytes) -> count
	stats TrainStats
}

// NewBPETrainer checks the options.
func NewBPETrainer(opt TrainOptions) (*BPETrainer, error) {
	if opt.MinFrequency == 0 {
		opt.MinFrequency = 2
	}
	seen := map[string]bool{}
	for _, s := range opt.Special {
		if s == "" || seen[s] {
			return nil, &TrainError{Where: "special tokens", Msg: fmt.Sprintf("%q is empty or repeated", s)}
		}
		seen[s] = true
	}
	if min := 256 + len(opt.Special); opt.Vocab < min {
		return nil, &TrainError{Where: "vocab", Msg: fmt.Sprintf("%d is below %d (256 byte tokens + %d special)", opt.Vocab, min, len(opt.Special))}
	}
	if opt.MinFrequency < 1 {
		return nil, &TrainError{Where: "min frequency", Msg: fmt.Sprintf("%d is below 1", opt.MinFrequency)}
	}
	return &BPETrainer{opt: opt, words: map[string]int64{}}, nil
}

// Add counts one document's pieces.
func (t *BPETrainer) Add(doc string) {
	t.stats.Docs++
	t.stats.Bytes += int64(len(doc))
	for doc != "" {
		// Cut at the earliest special token (the longest when two start there).
		cut, sl := len(doc), 0
		for _, s := range t.opt.Special {
			if i := strings.Index(doc[:min(len(doc), cut+len(s))], s); i >= 0 && (i < cut || i == cut && len(s) > sl) {
				cut, sl = i, len(s)
			}
		}
		t.addText(doc[:cut])
		doc = doc[cut+sl:]
	}
}

func (t *BPETrainer) addText(s string) {
	for i := 0; i < len(s); {
		e := gpt2At(s, i)
		t.words[s[i:e]]++
		i = e
	}
}

// AddShards reads every document of the shards.
func (t *BPETrainer) AddShards(shards []corpus.Shard, opt corpus.Options) error {
	for _, sh := range shards {
		for _, f := range sh.Files {
			r, err := f.Open(opt)
			if err != nil {
				return &TrainError{Where: "corpus " + f.Path, Msg: "cannot open", Err: err}
			}
			for {
				doc, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					r.Close()
					return &TrainError{Where: "corpus " + f.Path, Msg: "cannot read", Err: err}
				}
				t.Add(doc)
			}
			r.Close()
		}
	}
	return nil
}

// trainWord is one distinct piece as a sequence of token ids.
type trainWord struct {
	syms []int32
	n    int64
}

type pairCand struct {
	key   uint64
	count int64
}

// pairHeap orders candidates by count, then by the tokens' bytes.
type pairHeap struct {
	c    []pairCand
	toks []string
}

func (h *pairHeap) Len() int { return len(h.c) }
func (h *pairHeap) Less(i, j int) bool {
	a, b := h.c[i], h.c[j]
	if a.count != b.count {
		return a.count > b.count
	}
	if c := strings.Compare(h.toks[a.key>>32], h.toks[b.key>>32]); c != 0 {
		return c < 0
	}
	return h.toks[uint32(a.key)] < h.toks[uint32(b.key)]
}
func (h *pairHeap) Swap(i, j int) { h.c[i], h.c[j] = h.c[j], h.c[i] }
func (h *pairHeap) Push(x any)    { h.c = append(h.c, x.(pairCand)) }
func (h *pairHeap) Pop() any {
	x := h.c[len(h.c)-1]
	h.c = h.c[:len(h.c)-1]
	return x
}

func pk(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// Train learns the merges and returns the tokenizer.json bytes.
func (t *BPETrainer) Train() ([]byte, TrainStats, error) {
	if t.stats.Bytes == 0 {
		return nil, t.stats, &TrainError{Where: "corpus", Msg: "no text to learn from"}
	}
	toks := append([]string(nil), t.opt.Special...) // id -> raw bytes (special tokens: their text)
	ids := map[string]int32{}
	// The byte tokens in the order of their unicode names, as GPT-2's encoder.json has them.
	bs := make([]int, 256)
	for i := range bs {
		bs[i] = i
	}
	sort.Slice(bs, func(i, j int) bool { return byteToRune[bs[i]] < byteToRune[bs[j]] })
	var byteID [256]int32
	for _, b := range bs {
		byteID[b] = int32(len(toks))
		ids[string([]byte{byte(b)})] = int32(len(toks))
		toks = append(toks, string([]byte{byte(b)}))
	}

	// Distinct pieces in byte order, so word indices do not depend on map order.
	keys := make([]string, 0, len(t.words))
	for w := range t.words {
		keys = append(keys, w)
	}
	sort.Strings(keys)
	words := make([]trainWord, len(keys))
	counts := map[uint64]int64{}
	where := map[uint64][]int32{}
	for wi, k := range keys {
		w := trainWord{syms: make([]int32, len(k)), n: t.words[k]}
		for i := 0; i < len(k); i++ {
			w.syms[i] = byteID[k[i]]
		}
		for i := 0; i+1 < len(w.syms); i++ {
			p := pk(w.syms[i], w.syms[i+1])
			counts[p] += w.n
			if l := where[p]; len(l) == 0 || l[len(l)-1] != int32(wi) {
				where[p] = append(l, int32(wi))
			}
		}
		words[wi] = w
	}
	h := &pairHeap{toks: toks}
	for p, c := range counts {
		h.c = append(h.c, pairCand{p, c})
	}
	heap.Init(h)

	want := t.opt.Vocab - len(toks)
	var merges [][2]int32
	merged := map[uint64]bool{}
	changed := map[uint64]int64{} // pair -> its count before this merge
	for len(toks) < t.opt.Vocab && h.Len() > 0 {
		c := heap.Pop(h).(pairCand)
		if cur := counts[c.key]; cur != c.count {
			if cur > 0 { // stale entry: requeue with the live count
				heap.Push(h, pairCand{c.key, cur})
			}
			continue
		}
		if c.count < int64(t.opt.MinFrequency) {
			break
		}
		a, b := int32(c.key>>32), int32(uint32(c.key))
		s := toks[a] + toks[b]
		nid, ok := ids[s]
		if !ok {
			nid = int32(len(toks))
			ids[s] = nid
			toks = append(toks, s)
			h.toks = toks
		}
		// A token string reached twice (say ab+c and a+bc) keeps one id; a
		// pair of it may then come back after its merge was recorded. The
		// first record is the one an encoder applies, so it is not repeated.
		if !merged[c.key] {
			merged[c.key] = true
			merges = append(merges, [2]int32{a, b})
		}
		clear(changed)
		wl := where[c.key]
		delete(where, c.key)
		for _, wi := range wl {
			w := &words[wi]
			if !hasPair(w.syms, a, b) {
				continue
			}
			for i := 0; i+1 < len(w.syms); i++ {
				p := pk(w.syms[i], w.syms[i+1])
				if _, ok := changed[p]; !ok {
					changed[p] = counts[p]
				}
				counts[p] -= w.n
			}
			out := w.syms[:0]
			for i := 0; i < len(w.syms); i++ {
				if i+1 < len(w.syms) && w.syms[i] == a && w.syms[i+1] == b {
					out = append(out, nid)
					i++
				} else {
					out = append(out, w.syms[i])
				}
			}
			w.syms = out
			for i := 0; i+1 < len(w.syms); i++ {
				p := pk(w.syms[i], w.syms[i+1])
				if _, ok := changed[p]; !ok {
					changed[p] = counts[p]
				}
				counts[p] += w.n
				if w.syms[i] == nid || w.syms[i+1] == nid {
					if l := where[p]; len(l) == 0 || l[len(l)-1] != wi {
						where[p] = append(l, wi)
					}
				}
			}
		}
		// Only pairs whose count moved need a fresh heap entry; the old
		// entries of those go stale and are dropped or requeued when popped.
		for p, old := range changed {
			if cur := counts[p]; cur <= 0 {
				delete(counts, p)
			} else if cur != old {
				heap.Push(h, pairCand{p, cur})
			}
		}
		if t.opt.Progress != nil {
			t.opt.Progress(len(merges), want)
		}
	}
	st := t.stats
	st.Words = len(words)
	st.Merges = len(merges)
	st.VocabSize = len(toks)
	j, err := t.json(toks, merges)
	return j, st, err
}

func hasPair(s []int32, a, b int32) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == a && s[i+1] == b {
			return true
		}
	}
	return false
}

// json writes a tokenizer.json shaped like GPT-2's on the Hugging Face hub,
// with the vocabulary in id order and one merge or token per line, so two
// runs on one corpus give identical bytes and diffs stay readable.
func (t *BPETrainer) json(toks []string, merges [][2]int32) ([]byte, error) {
	n := len(t.opt.Special)
	names := make([]string, len(toks))
	seen := map[string]bool{}
	for id, s := range toks {
		if id >= n {
			s = string(appendByteLevel(nil, s))
		}
		if seen[s] {
			// Only a special token can clash: learned names are distinct.
			return nil, &TrainError{Where: "special tokens", Msg: fmt.Sprintf("%q is also a learned or byte token; pick another", s)}
		}
		seen[s] = true
		names[id] = s
	}
	name := func(id int32) string { return names[id] }
	str := func(s string) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		return strings.TrimSuffix(b.String(), "\n")
	}
	var b strings.Builder
	b.WriteString("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [")
	for i, s := range t.opt.Special {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n    {\"id\": %d, \"content\": %s, \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}", i, str(s))
	}
	if n > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("],\n  \"normalizer\": null,\n" +
		"  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},\n" +
		"  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": false, \"use_regex\": true},\n" +
		"  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n" +
		"  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n    \"continuing_subword_prefix\": \"\",\n" +
		"    \"end_of_word_suffix\": \"\",\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n    \"vocab\": {")
	for id := range toks {
		if id > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n      %s: %d", str(name(int32(id))), id)
	}
	b.WriteString("\n    },\n    \"merges\": [")
	for i, m := range merges {
		if i > 0 {
			b.WriteString(",")
		}
		// Byte-level names never hold a space (it is "Ġ"), so "left right" is unambiguous.
		fmt.Fprintf(&b, "\n      %s", str(name(m[0])+" "+name(m[1])))
	}
	b.WriteString("\n    ]\n  }\n}\n")
	return []byte(b.String()), nil
}
