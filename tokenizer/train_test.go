package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/glia-dev/glia/corpus"
)

// trainedFixture is the committed file glia trained; regenerate it with the
// command in testdata/tokenizer/README.md and its golden with
// tools/tokref/trained.mjs.
const trainedFixture = "trained-bpe400"

var trainedCorpus = []string{"../assets/corpus/stories.txt.gz", "../testdata/tokenizer/corpus.json"}

func trainFiles(t *testing.T, paths []string, opt TrainOptions) []byte {
	t.Helper()
	shards, err := corpus.Resolve(paths)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewBPETrainer(opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.AddShards(shards, corpus.Options{DocSep: "<|endoftext|>"}); err != nil {
		t.Fatal(err)
	}
	j, _, err := tr.Train()
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func trainDocs(t *testing.T, docs []string, opt TrainOptions) []byte {
	t.Helper()
	tr, err := NewBPETrainer(opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		tr.Add(d)
	}
	j, _, err := tr.Train()
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// rawMerges reads a trained file's merges back as raw byte pairs.
func rawMerges(t *testing.T, j []byte) [][2]string {
	t.Helper()
	var f struct {
		Model struct {
			Merges []string `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(j, &f); err != nil {
		t.Fatal(err)
	}
	raw := func(name string) string {
		var b []byte
		for _, r := range name {
			c, ok := runeToByte[r]
			if !ok {
				t.Fatalf("merge token %q holds %q, not a byte-level name", name, r)
			}
			b = append(b, c)
		}
		return string(b)
	}
	var res [][2]string
	for _, m := range f.Model.Merges {
		l, r, _ := strings.Cut(m, " ")
		res = append(res, [2]string{raw(l), raw(r)})
	}
	return res
}

// TestTrainFixtureReproduces: training on the fixture's corpus gives the
// committed file byte for byte, whatever the order the documents come in.
func TestTrainFixtureReproduces(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(testdataDir, trainedFixture+".json"))
	if err != nil {
		t.Fatal(err)
	}
	opt := TrainOptions{Vocab: 400, Special: []string{"<|endoftext|>"}}
	if got := trainFiles(t, trainedCorpus, opt); !bytes.Equal(got, want) {
		t.Fatalf("training on %v does not reproduce %s.json (%d bytes, want %d)", trainedCorpus, trainedFixture, len(got), len(want))
	}
	rev := slices.Clone(trainedCorpus)
	slices.Reverse(rev)
	if got := trainFiles(t, rev, opt); !bytes.Equal(got, want) {
		t.Fatalf("training on %v (reversed) gives another file", rev)
	}
}

// TestTrainedGolden: glia's encoding of the file it trained equals Hugging
// Face tokenizers' (golden written by tools/tokref/trained.mjs).
func TestTrainedGolden(t *testing.T) {
	tk, err := FromFile(filepath.Join(testdataDir, trainedFixture+".json"))
	if err != nil {
		t.Fatal(err)
	}
	cases := loadGolden(t, trainedFixture)
	if len(cases) < 400 {
		t.Fatalf("golden holds %d cases, want the gpt2 golden's strings (400+)", len(cases))
	}
	pass := 0
	for _, c := range cases {
		in := c.input()
		ok := true
		if got := tk.Encode(in, false); !equalIDs(got, c.IDs) {
			t.Errorf("%s: Encode(%s, false): %s", c.Class, quote(c.Text), firstDiff(got, c.IDs))
			ok = false
		}
		if got := tk.Encode(in, true); !equalIDs(got, c.IDsSpecial) {
			t.Errorf("%s: Encode(%s, true): %s", c.Class, quote(c.Text), firstDiff(got, c.IDsSpecial))
			ok = false
		}
		if got := tk.Decode(c.IDsSpecial, false); got != c.Decode {
			t.Errorf("%s: Decode(ids of %s) = %s, want %s", c.Class, quote(c.Text), quote(got), quote(c.Decode))
			ok = false
		}
		if got := tk.Decode(c.IDsSpecial, true); got != c.DecodeSkip {
			t.Errorf("%s: Decode(ids of %s, skip special) = %s, want %s", c.Class, quote(c.Text), quote(got), quote(c.DecodeSkip))
			ok = false
		}
		if ok {
			pass++
		}
		// Byte-level BPE loses nothing: every valid string comes back.
		if utf8.ValidString(in) {
			if got := tk.Decode(tk.Encode(in, false), false); got != in {
				t.Errorf("%s: round trip of %s gives %s", c.Class, quote(in), quote(got))
			}
		}
	}
	t.Logf("%d/%d cases agree with HF tokenizers", pass, len(cases))
}

// naiveMerges is BPE training written the slow, obvious way: recount every
// pair before each merge.
func naiveMerges(docs []string, n, minFreq int) [][2]string {
	words := map[string]int{}
	for _, d := range docs {
		for i := 0; i < len(d); {
			e := gpt2At(d, i)
			words[d[i:e]]++
			i = e
		}
	}
	type word struct {
		syms []string
		n    int
	}
	var ws []word
	for w, c := range words {
		var s []string
		for i := 0; i < len(w); i++ {
			s = append(s, w[i:i+1])
		}
		ws = append(ws, word{s, c})
	}
	var res [][2]string
	for len(res) < n {
		counts := map[[2]string]int{}
		for _, w := range ws {
			for i := 0; i+1 < len(w.syms); i++ {
				counts[[2]string{w.syms[i], w.syms[i+1]}] += w.n
			}
		}
		var best [2]string
		bc := 0
		for p, c := range counts {
			if c > bc || c == bc && (p[0] < best[0] || p[0] == best[0] && p[1] < best[1]) {
				best, bc = p, c
			}
		}
		if bc < minFreq {
			break
		}
		res = append(res, best)
		for k, w := range ws {
			var out []string
			for i := 0; i < len(w.syms); i++ {
				if i+1 < len(w.syms) && w.syms[i] == best[0] && w.syms[i+1] == best[1] {
					out = append(out, best[0]+best[1])
					i++
				} else {
					out = append(out, w.syms[i])
				}
			}
			ws[k].syms = out
		}
	}
	return res
}

// TestTrainMerges: the merges are the most frequent pairs, on hand-made
// corpora whose answer is worked out in the comments and on real text
// against naiveMerges.
func TestTrainMerges(t *testing.T) {
	stories, err := readMaybeGzip("../assets/corpus/stories.txt.gz")
	if err != nil {
		t.Fatal(err)
	}
	story := strings.Split(string(stories), "<|endoftext|>")
	tests := []struct {
		name    string
		docs    []string
		vocab   int
		minFreq int
		want    [][2]string // nil: naiveMerges's answer
	}{
		// aa occurs 4 times; then aa+a and a+b both twice, and "a" sorts
		// before "aa"; then aa+ab twice (Wikipedia's ZabdZabac example).
		{"aaabdaaabac", []string{"aaabdaaabac"}, 259, 1, [][2]string{{"a", "a"}, {"a", "b"}, {"aa", "ab"}}},
		// Pieces "ab", " ab", " ab", " cd". Ties at count 1 go to the raw
		// bytes: " " (0x20) sorts before "c", though its name "Ġ" sorts after.
		{"spaces", []string{"ab ab ab cd"}, 300, 1, [][2]string{{"a", "b"}, {" ", "ab"}, {" ", "c"}, {" c", "d"}}},
		{"min frequency", []string{"ab ab ab cd"}, 300, 2, [][2]string{{"a", "b"}, {" ", "ab"}}},
		// Pieces never span GPT-2's split points: letters, digits, punctuation.
		{"no merge across pieces", []string{"a1!a1!a1!"}, 300, 1, [][2]string{}},
		{"stories", story, 256 + 200, 2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := trainDocs(t, tc.docs, TrainOptions{Vocab: tc.vocab, MinFrequency: tc.minFreq})
			want := tc.want
			if want == nil {
				want = naiveMerges(tc.docs, tc.vocab-256, tc.minFreq)
				if len(want) < 100 {
					t.Fatalf("naive training learned only %d merges", len(want))
				}
			}
			if got := rawMerges(t, j); !slices.Equal(got, want) {
				t.Errorf("merges %q\nwant %q", got, want)
			}
		})
	}
}

// TestTrainVocabLayout: special tokens take ids 0.., the 256 byte tokens
// follow in GPT-2's order, and special tokens never take part in merges.
func TestTrainVocabLayout(t *testing.T) {
	j := trainDocs(t, []string{"xy<|endoftext|>xy<|endoftext|>xy<|pad|>z"}, TrainOptions{Vocab: 300, Special: []string{"<|endoftext|>", "<|pad|>"}, MinFrequency: 1})
	tk, err := FromJSON(j)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tok string
		id  int
	}{{"<|endoftext|>", 0}, {"<|pad|>", 1}, {"!", 2}, {"~", 2 + '~' - '!'}, {"Ā", 2 + 188}, {"xy", 258}} {
		if id, ok := tk.TokenID(tc.tok); !ok || id != tc.id {
			t.Errorf("TokenID(%q) = %d, %v; want %d", tc.tok, id, ok, tc.id)
		}
	}
	if got := rawMerges(t, j); !slices.Equal(got, [][2]string{{"x", "y"}}) {
		t.Errorf("merges %q, want only x+y (special tokens cut the text)", got)
	}
	if got := tk.Encode("xy<|pad|>", false); !slices.Equal(got, []int{258, 1}) {
		t.Errorf("Encode = %v, want [258 1]", got)
	}
}

func TestTrainErrors(t *testing.T) {
	tests := []struct {
		name  string
		opt   TrainOptions
		docs  []string
		where string
	}{
		{"vocab too small", TrainOptions{Vocab: 256, Special: []string{"<s>"}}, nil, "vocab"},
		{"repeated special", TrainOptions{Vocab: 300, Special: []string{"<s>", "<s>"}}, nil, "special tokens"},
		{"empty special", TrainOptions{Vocab: 300, Special: []string{""}}, nil, "special tokens"},
		{"negative min frequency", TrainOptions{Vocab: 300, MinFrequency: -1}, nil, "min frequency"},
		{"no text", TrainOptions{Vocab: 300}, []string{""}, "corpus"},
		{"special clashes with a byte token", TrainOptions{Vocab: 300, Special: []string{"a"}}, []string{"abc"}, "special tokens"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := NewBPETrainer(tc.opt)
			if err == nil {
				for _, d := range tc.docs {
					tr.Add(d)
				}
				_, _, err = tr.Train()
			}
			var te *TrainError
			if !errors.As(err, &te) || te.Where != tc.where {
				t.Fatalf("err = %v, want a *TrainError about %s", err, tc.where)
			}
		})
	}
}
