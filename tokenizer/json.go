package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// FromFile reads a tokenizer.json (or a gzipped .json.gz).
func FromFile(path string) (*Tokenizer, error) {
	data, err := readMaybeGzip(path)
	if err != nil {
		return nil, err
	}
	t, err := FromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func readMaybeGzip(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		data, err = io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return data, nil
}

type rawObj map[string]json.RawMessage

func (o rawObj) typ() string {
	var s string
	_ = json.Unmarshal(o["type"], &s)
	return s
}

func (o rawObj) has(k string) bool {
	v, ok := o[k]
	return ok && string(v) != "null"
}

func (o rawObj) str(field, k string) (string, error) {
	var s string
	if !o.has(k) {
		return "", nil
	}
	if err := json.Unmarshal(o[k], &s); err != nil {
		return "", fmt.Errorf("%s.%s: want a string: %v", field, k, err)
	}
	return s, nil
}

func (o rawObj) boolean(field, k string, def bool) (bool, error) {
	if !o.has(k) {
		return def, nil
	}
	var b bool
	if err := json.Unmarshal(o[k], &b); err != nil {
		return false, fmt.Errorf("%s.%s: want a boolean: %v", field, k, err)
	}
	return b, nil
}

func (o rawObj) integer(field, k string, def int) (int, error) {
	if !o.has(k) {
		return def, nil
	}
	var n int
	if err := json.Unmarshal(o[k], &n); err != nil {
		return 0, fmt.Errorf("%s.%s: want an integer: %v", field, k, err)
	}
	return n, nil
}

func (o rawObj) list(field, k string) ([]rawObj, error) {
	var l []rawObj
	if !o.has(k) {
		return nil, fmt.Errorf("%s.%s: missing", field, k)
	}
	if err := json.Unmarshal(o[k], &l); err != nil {
		return nil, fmt.Errorf("%s.%s: want a list of objects: %v", field, k, err)
	}
	return l, nil
}

func parseObj(field string, raw json.RawMessage) (rawObj, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var o rawObj
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("%s: want an object: %v", field, err)
	}
	if !o.has("type") {
		return nil, fmt.Errorf("%s.type: missing", field)
	}
	return o, nil
}

// FromJSON parses the contents of a Hugging Face tokenizer.json.
func FromJSON(data []byte) (*Tokenizer, error) { return fromJSON(data, nil) }

// fromJSON is FromJSON with an already built model (tests share one model
// between variants of a file); m nil parses "model".
func fromJSON(data []byte, m model) (*Tokenizer, error) {
	var top struct {
		AddedTokens   []AddedToken    `json:"added_tokens"`
		Normalizer    json.RawMessage `json:"normalizer"`
		PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
		PostProcessor json.RawMessage `json:"post_processor"`
		Truncation    json.RawMessage `json:"truncation"`
		Padding       json.RawMessage `json:"padding"`
		Decoder       json.RawMessage `json:"decoder"`
		Model         json.RawMessage `json:"model"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if m == nil && (len(top.Model) == 0 || string(top.Model) == "null") {
		return nil, errors.New("model: missing")
	}
	t := &Tokenizer{bos: -1, eos: -1}
	var err error
	if t.norm, err = parseNormalizer("normalizer", top.Normalizer); err != nil {
		return nil, err
	}
	if t.pre, err = parsePreTokenizer("pre_tokenizer", top.PreTokenizer); err != nil {
		return nil, err
	}
	if t.model = m; m == nil {
		if t.model, err = parseModel("model", top.Model); err != nil {
			return nil, err
		}
	}
	if t.dec, err = parseDecoder("decoder", top.Decoder); err != nil {
		return nil, err
	}
	for i, at := range top.AddedTokens {
		if at.Content == "" {
			return nil, fmt.Errorf("added_tokens[%d].content: empty", i)
		}
		if at.ID < 0 {
			return nil, fmt.Errorf("added_tokens[%d].id: negative", i)
		}
	}
	t.added = newAddedVocab(assignAddedIDs(top.AddedTokens, t.model), t.norm)
	t.vocabN = t.model.size()
	for _, at := range top.AddedTokens {
		t.vocabN = max(t.vocabN, at.ID+1)
	}
	var bosName, eosName string
	if t.post, bosName, eosName, err = t.parsePost("post_processor", top.PostProcessor); err != nil {
		return nil, err
	}
	if t.trunc, err = parseTruncation(top.Truncation); err != nil {
		return nil, err
	}
	if t.pad, err = parsePadding(top.Padding); err != nil {
		return nil, err
	}
	t.byteLevelDisplay = usesByteLevel(t.dec)
	t.bos, t.eos = -1, -1
	if bosName != "" {
		t.bos, _ = t.TokenID(bosName)
	}
	if eosName != "" {
		t.eos, _ = t.TokenID(eosName)
	}
	if t.bos < 0 {
		t.bos = t.firstKnown("<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>")
	}
	if t.eos < 0 {
		t.eos = t.firstKnown("</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>", "<|im_end|>")
	}
	return t, nil
}

func (t *Tokenizer) firstKnown(names ...string) int {
	for _, n := range names {
		if id, ok := t.TokenID(n); ok {
			return id
		}
	}
	return -1
}

func usesByteLevel(d decoder) bool {
	switch d := d.(type) {
	case byteLevelDecoder:
		return true
	case seqDecoder:
		for _, x := range d {
			if usesByteLevel(x) {
				return true
			}
		}
	}
	return false
}

// pattern is {"String": "..."} or {"Regex": "..."}.
func parsePattern(field string, raw json.RawMessage) (lit string, m matcher, err error) {
	var p struct {
		String *string
		Regex  *string
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", nil, fmt.Errorf("%s: want {\"String\"|\"Regex\": ...}: %v", field, err)
	}
	switch {
	case p.String != nil:
		return *p.String, stringMatcher{*p.String}, nil
	case p.Regex != nil:
		m, err := regexMatcher(*p.Regex)
		if err != nil {
			return "", nil, fmt.Errorf("%s.Regex: %w", field, err)
		}
		return "", m, nil
	}
	return "", nil, fmt.Errorf("%s: want String or Regex", field)
}

func parseNormalizer(field string, raw json.RawMessage) (normalizer, error) {
	o, err := parseObj(field, raw)
	if o == nil || err != nil {
		return nil, err
	}
	switch typ := o.typ(); typ {
	case "Sequence":
		l, err := o.list(field, "normalizers")
		if err != nil {
			return nil, err
		}
		var q seqNormalizer
		for i, sub := range l {
			b, _ := json.Marshal(sub)
			n, err := parseNormalizer(fmt.Sprintf("%s.normalizers[%d]", field, i), b)
			if err != nil {
				return nil, err
			}
			if n != nil {
				q = append(q, n)
			}
		}
		return q, nil
	case "Prepend":
		p, err := o.str(field, "prepend")
		return prependNormalizer{p}, err
	case "Replace":
		with, err := o.str(field, "content")
		if err != nil {
			return nil, err
		}
		if !o.has("pattern") {
			return nil, fmt.Errorf("%s.pattern: missing", field)
		}
		lit, m, err := parsePattern(field+".pattern", o["pattern"])
		if err != nil {
			return nil, err
		}
		if sm, ok := m.(stringMatcher); ok {
			return replaceNormalizer{sm.lit, with}, nil
		}
		_ = lit
		return regexReplaceNormalizer{m, with}, nil
	case "NFC":
		return unicodeNormalizer{norm.NFC}, nil
	case "NFD":
		return unicodeNormalizer{norm.NFD}, nil
	case "NFKC":
		return unicodeNormalizer{norm.NFKC}, nil
	case "NFKD":
		return unicodeNormalizer{norm.NFKD}, nil
	case "Lowercase":
		return lowercaseNormalizer{}, nil
	case "Strip":
		l, err := o.boolean(field, "strip_left", true)
		if err != nil {
			return nil, err
		}
		r, err := o.boolean(field, "strip_right", true)
		return stripNormalizer{l, r}, err
	case "StripAccents":
		return stripAccentsNormalizer{}, nil
	case "BertNormalizer":
		var n bertNormalizer
		if n.clean, err = o.boolean(field, "clean_text", true); err != nil {
			return nil, err
		}
		if n.chinese, err = o.boolean(field, "handle_chinese_chars", true); err != nil {
			return nil, err
		}
		if n.lower, err = o.boolean(field, "lowercase", true); err != nil {
			return nil, err
		}
		n.stripAccents = n.lower
		if o.has("strip_accents") {
			if n.stripAccents, err = o.boolean(field, "strip_accents", n.lower); err != nil {
				return nil, err
			}
		}
		return n, nil
	default:
		return nil, fmt.Errorf("%s.type: unsupported normalizer %q", field, typ)
	}
}

func parsePrependScheme(field string, o rawObj) (int, error) {
	if o.has("prepend_scheme") {
		s, err := o.str(field, "prepend_scheme")
		if err != nil {
			return 0, err
		}
		switch s {
		case "always":
			return 0, nil
		case "first":
			return 1, nil
		case "never":
			return 2, nil
		}
		return 0, fmt.Errorf("%s.prepend_scheme: unknown value %q", field, s)
	}
	add, err := o.boolean(field, "add_prefix_space", true)
	if !add {
		return 2, err
	}
	return 0, err
}

func parseReplacement(field string, o rawObj) (string, error) {
	r, err := o.str(field, "replacement")
	if err != nil {
		return "", err
	}
	if r == "" {
		if o.has("str_rep") {
			return o.str(field, "str_rep")
		}
		return "▁", nil
	}
	return r, nil
}

func parsePreTokenizer(field string, raw json.RawMessage) (preTokenizer, error) {
	o, err := parseObj(field, raw)
	if o == nil || err != nil {
		return nil, err
	}
	switch typ := o.typ(); typ {
	case "Sequence":
		l, err := o.list(field, "pretokenizers")
		if err != nil {
			return nil, err
		}
		var q seqPreTokenizer
		for i, sub := range l {
			b, _ := json.Marshal(sub)
			p, err := parsePreTokenizer(fmt.Sprintf("%s.pretokenizers[%d]", field, i), b)
			if err != nil {
				return nil, err
			}
			if p != nil {
				q = append(q, p)
			}
		}
		return q, nil
	case "ByteLevel":
		var p byteLevelPre
		if p.addPrefixSpace, err = o.boolean(field, "add_prefix_space", true); err != nil {
			return nil, err
		}
		if p.useRegex, err = o.boolean(field, "use_regex", true); err != nil {
			return nil, err
		}
		return p, nil
	case "Split":
		if !o.has("pattern") {
			return nil, fmt.Errorf("%s.pattern: missing", field)
		}
		_, m, err := parsePattern(field+".pattern", o["pattern"])
		if err != nil {
			return nil, err
		}
		bs, err := o.str(field, "behavior")
		if err != nil {
			return nil, err
		}
		beh, err := parseBehavior(bs)
		if err != nil {
			return nil, fmt.Errorf("%s.behavior: %w", field, err)
		}
		inv, err := o.boolean(field, "invert", false)
		return splitPreTokenizer{m, beh, inv}, err
	case "Metaspace":
		var p metaspacePre
		if p.repl, err = parseReplacement(field, o); err != nil {
			return nil, err
		}
		if p.prepend, err = parsePrependScheme(field, o); err != nil {
			return nil, err
		}
		p.split, err = o.boolean(field, "split", true)
		return p, err
	case "Digits":
		ind, err := o.boolean(field, "individual_digits", false)
		if ind {
			return splitPreTokenizer{funcMatcher{f: isN, single: true}, bIsolated, false}, err
		}
		return splitPreTokenizer{funcMatcher{f: isN}, bIsolated, false}, err
	case "WhitespaceSplit":
		return splitPreTokenizer{funcMatcher{f: isS}, bRemoved, false}, nil
	case "Whitespace":
		// \w+|[^\w\s]+, keeping the matches.
		return seqPreTokenizer{splitPreTokenizer{funcMatcher{f: isS}, bRemoved, false},
			splitPreTokenizer{funcMatcher{f: isWordChar}, bIsolated, false}}, nil
	case "Punctuation":
		bs := "Isolated"
		if o.has("behavior") {
			if bs, err = o.str(field, "behavior"); err != nil {
				return nil, err
			}
		}
		beh, err := parseBehavior(bs)
		if err != nil {
			return nil, fmt.Errorf("%s.behavior: %w", field, err)
		}
		return splitPreTokenizer{funcMatcher{f: isPunct, single: true}, beh, false}, nil
	case "BertPreTokenizer":
		return seqPreTokenizer{splitPreTokenizer{funcMatcher{f: isS}, bRemoved, false},
			splitPreTokenizer{funcMatcher{f: isPunct, single: true}, bIsolated, false}}, nil
	default:
		return nil, fmt.Errorf("%s.type: unsupported pre-tokenizer %q", field, typ)
	}
}

func parseModel(field string, raw json.RawMessage) (model, error) {
	o, err := splitObject(raw)
	if err != nil {
		o = nil
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, fmt.Errorf("%s: want an object: %v", field, err)
		}
	}
	typ := o.typ()
	if typ == "" && o.has("merges") {
		typ = "BPE"
	}
	switch typ {
	case "BPE":
	case "WordPiece", "WordLevel":
		return parseWordModel(field, typ, o)
	case "":
		return nil, fmt.Errorf("%s.type: missing", field)
	default:
		return nil, fmt.Errorf("%s.type: unsupported model %q", field, typ)
	}
	if !o.has("vocab") {
		return nil, fmt.Errorf("%s.vocab: missing", field)
	}
	vocab, err := fastVocab(o["vocab"])
	if err != nil {
		if err := json.Unmarshal(o["vocab"], &vocab); err != nil {
			return nil, fmt.Errorf("%s.vocab: want an object of token -> id: %v", field, err)
		}
	}
	merges, err := parseMerges(field+".merges", o["merges"])
	if err != nil {
		return nil, err
	}
	if o.has("dropout") {
		var d float64
		if err := json.Unmarshal(o["dropout"], &d); err != nil {
			return nil, fmt.Errorf("%s.dropout: want a number: %v", field, err)
		}
		if d != 0 {
			return nil, fmt.Errorf("%s.dropout: %v is not supported (BPE dropout is random; use null)", field, d)
		}
	}
	unk, err := o.str(field, "unk_token")
	if err != nil {
		return nil, err
	}
	prefix, err := o.str(field, "continuing_subword_prefix")
	if err != nil {
		return nil, err
	}
	suffix, err := o.str(field, "end_of_word_suffix")
	if err != nil {
		return nil, err
	}
	fuse, err := o.boolean(field, "fuse_unk", false)
	if err != nil {
		return nil, err
	}
	bf, err := o.boolean(field, "byte_fallback", false)
	if err != nil {
		return nil, err
	}
	ign, err := o.boolean(field, "ignore_merges", false)
	if err != nil {
		return nil, err
	}
	m, err := newBPE(vocab, merges, unk, prefix, suffix, fuse, bf, ign)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// parseMerges accepts ["a b", ...] and [["a","b"], ...].
func parseMerges(field string, raw json.RawMessage) ([][2]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if out, _, err := fastMerges(raw); err == nil {
		return out, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		out := make([][2]string, len(strs))
		for i, s := range strs {
			a, b, ok := strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("%s[%d]: %q is not \"left right\"", field, i, s)
			}
			out[i] = [2]string{a, b}
		}
		return out, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("%s: want a list of \"a b\" strings or [a, b] pairs: %v", field, err)
	}
	out := make([][2]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("%s[%d]: want 2 strings, have %d", field, i, len(p))
		}
		out[i] = [2]string{p[0], p[1]}
	}
	return out, nil
}

func parseDecoder(field string, raw json.RawMessage) (decoder, error) {
	o, err := parseObj(field, raw)
	if o == nil || err != nil {
		return nil, err
	}
	switch typ := o.typ(); typ {
	case "Sequence":
		l, err := o.list(field, "decoders")
		if err != nil {
			return nil, err
		}
		var q seqDecoder
		for i, sub := range l {
			b, _ := json.Marshal(sub)
			d, err := parseDecoder(fmt.Sprintf("%s.decoders[%d]", field, i), b)
			if err != nil {
				return nil, err
			}
			if d != nil {
				q = append(q, d)
			}
		}
		return q, nil
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "Metaspace":
		var d metaspaceDecoder
		if d.repl, err = parseReplacement(field, o); err != nil {
			return nil, err
		}
		d.prepend, err = parsePrependScheme(field, o)
		return d, err
	case "ByteFallback":
		return byteFallbackDecoder{}, nil
	case "Fuse":
		return fuseDecoder{}, nil
	case "Strip":
		c, err := o.str(field, "content")
		if err != nil {
			return nil, err
		}
		if len([]rune(c)) != 1 {
			return nil, fmt.Errorf("%s.content: want one character, have %q", field, c)
		}
		var d stripDecoder
		d.content = []rune(c)[0]
		if d.start, err = o.integer(field, "start", 0); err != nil {
			return nil, err
		}
		d.stop, err = o.integer(field, "stop", 0)
		return d, err
	case "Replace":
		n, err := parseNormalizer(field, raw)
		if err != nil {
			return nil, err
		}
		return replaceDecoder{n}, nil
	case "WordPiece":
		p, err := o.str(field, "prefix")
		if err != nil {
			return nil, err
		}
		if !o.has("prefix") {
			p = "##"
		}
		c, err := o.boolean(field, "cleanup", true)
		return wordPieceDecoder{p, c}, err
	case "BPEDecoder":
		s, err := o.str(field, "suffix")
		if !o.has("suffix") {
			s = "</w>"
		}
		return bpeDecoder{s}, err
	default:
		return nil, fmt.Errorf("%s.type: unsupported decoder %q", field, typ)
	}
}

// parsePost returns the post-processor and the names of the BOS/EOS-like
// special tokens its template adds.
func (t *Tokenizer) parsePost(field string, raw json.RawMessage) (postProcessor, string, string, error) {
	o, err := parseObj(field, raw)
	if o == nil || err != nil {
		return nil, "", "", err
	}
	switch typ := o.typ(); typ {
	case "ByteLevel":
		return nil, "", "", nil
	case "Sequence":
		l, err := o.list(field, "processors")
		if err != nil {
			return nil, "", "", err
		}
		var post postProcessor
		var bos, eos string
		for i, sub := range l {
			b, _ := json.Marshal(sub)
			p, b1, e1, err := t.parsePost(fmt.Sprintf("%s.processors[%d]", field, i), b)
			if err != nil {
				return nil, "", "", err
			}
			if p != nil {
				if post != nil {
					post = chainPost{post, p}
				} else {
					post = p
				}
			}
			if b1 != "" {
				bos = b1
			}
			if e1 != "" {
				eos = e1
			}
		}
		return post, bos, eos, nil
	case "RobertaProcessing", "BertProcessing":
		var sep, cls []json.RawMessage
		if err := json.Unmarshal(o["sep"], &sep); err != nil || len(sep) != 2 {
			return nil, "", "", fmt.Errorf("%s.sep: want [token, id]", field)
		}
		if err := json.Unmarshal(o["cls"], &cls); err != nil || len(cls) != 2 {
			return nil, "", "", fmt.Errorf("%s.cls: want [token, id]", field)
		}
		var sepName, clsName string
		var sepID, clsID int
		if json.Unmarshal(sep[0], &sepName) != nil || json.Unmarshal(sep[1], &sepID) != nil {
			return nil, "", "", fmt.Errorf("%s.sep: want [token, id]", field)
		}
		if json.Unmarshal(cls[0], &clsName) != nil || json.Unmarshal(cls[1], &clsID) != nil {
			return nil, "", "", fmt.Errorf("%s.cls: want [token, id]", field)
		}
		return templatePost{[]int{clsID}, []int{sepID}}, clsName, sepName, nil
	case "TemplateProcessing":
		var tp struct {
			Single []struct {
				SpecialToken *struct{ ID string } `json:"SpecialToken"`
				Sequence     *struct{ ID string } `json:"Sequence"`
			} `json:"single"`
			SpecialTokens map[string]struct {
				ID  string `json:"id"`
				IDs []int  `json:"ids"`
			} `json:"special_tokens"`
		}
		if err := json.Unmarshal(raw, &tp); err != nil {
			return nil, "", "", fmt.Errorf("%s: %v", field, err)
		}
		var p templatePost
		var bos, eos string
		seen := false
		for i, it := range tp.Single {
			switch {
			case it.Sequence != nil:
				if seen {
					return nil, "", "", fmt.Errorf("%s.single[%d]: more than one sequence in a single template", field, i)
				}
				seen = true
			case it.SpecialToken != nil:
				st, ok := tp.SpecialTokens[it.SpecialToken.ID]
				if !ok {
					return nil, "", "", fmt.Errorf("%s.special_tokens: missing %q", field, it.SpecialToken.ID)
				}
				if seen {
					p.after = append(p.after, st.IDs...)
					eos = it.SpecialToken.ID
				} else {
					p.before = append(p.before, st.IDs...)
					if bos == "" {
						bos = it.SpecialToken.ID
					}
				}
			default:
				return nil, "", "", fmt.Errorf("%s.single[%d]: want SpecialToken or Sequence", field, i)
			}
		}
		return p, bos, eos, nil
	default:
		return nil, "", "", fmt.Errorf("%s.type: unsupported post-processor %q", field, typ)
	}
}

type chainPost struct{ a, b postProcessor }

func (c chainPost) process(ids []int) []int { return c.b.process(c.a.process(ids)) }

// assignAddedIDs gives added tokens the ids HF's AddedVocabulary gives them
// when it loads a tokenizer.json: the ids written in the file are not used.
// A token whose content is already known (model vocabulary or an earlier
// added token) takes that id; any other takes the next free id after the
// model's vocabulary and the added ids so far.
func assignAddedIDs(toks []AddedToken, m model) []AddedToken {
	out := make([]AddedToken, 0, len(toks))
	byContent := map[string]int{}
	maxID := -1
	vsize := m.size()
	if b, ok := m.(*bpeModel); ok {
		vsize = len(b.vocab)
	}
	for _, t := range toks {
		if id, ok := byContent[t.Content]; ok {
			t.ID = id
		} else if id, ok := m.tokenToID(t.Content); ok {
			t.ID = id
		} else if maxID < 0 {
			t.ID = vsize
		} else if maxID >= vsize || vsize == 0 {
			t.ID = maxID + 1
		} else {
			t.ID = vsize
		}
		if _, ok := byContent[t.Content]; ok {
			// The same content twice: HF keeps one entry.
			for i := range out {
				if out[i].Content == t.Content {
					out[i] = t
				}
			}
			continue
		}
		byContent[t.Content] = t.ID
		maxID = max(maxID, t.ID)
		out = append(out, t)
	}
	return out
}

func parseTruncation(raw json.RawMessage) (*truncation, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var tr struct {
		Direction string `json:"direction"`
		MaxLength *int   `json:"max_length"`
	}
	if err := json.Unmarshal(raw, &tr); err != nil {
		return nil, fmt.Errorf("truncation: %v", err)
	}
	if tr.MaxLength == nil || *tr.MaxLength < 0 {
		return nil, fmt.Errorf("truncation.max_length: missing or negative")
	}
	switch tr.Direction {
	case "", "Right":
		return &truncation{maxLength: *tr.MaxLength}, nil
	case "Left":
		return &truncation{maxLength: *tr.MaxLength, left: true}, nil
	}
	return nil, fmt.Errorf("truncation.direction: unknown value %q", tr.Direction)
}

func parsePadding(raw json.RawMessage) (*padding, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var pd struct {
		Strategy  json.RawMessage `json:"strategy"`
		Direction string          `json:"direction"`
		PadToMult *int            `json:"pad_to_multiple_of"`
		PadID     int             `json:"pad_id"`
	}
	if err := json.Unmarshal(raw, &pd); err != nil {
		return nil, fmt.Errorf("padding: %v", err)
	}
	p := &padding{id: pd.PadID}
	if pd.PadToMult != nil {
		p.multiple = *pd.PadToMult
	}
	var fixed struct{ Fixed *int }
	var name string
	switch {
	case json.Unmarshal(pd.Strategy, &name) == nil && name == "BatchLongest":
	case json.Unmarshal(pd.Strategy, &fixed) == nil && fixed.Fixed != nil:
		p.fixed = *fixed.Fixed
	default:
		return nil, fmt.Errorf("padding.strategy: want \"BatchLongest\" or {\"Fixed\": n}, have %s", pd.Strategy)
	}
	switch pd.Direction {
	case "", "Right":
	case "Left":
		p.left = true
	default:
		return nil, fmt.Errorf("padding.direction: unknown value %q", pd.Direction)
	}
	return p, nil
}
