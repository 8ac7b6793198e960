package tokenizer

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
)

const testdataDir = "../testdata/tokenizer"

func readGz(t testing.TB, name string) []byte {
	t.Helper()
	data, err := readMaybeGzip(filepath.Join(testdataDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var (
	tokMu    sync.Mutex
	tokCache = map[string]*Tokenizer{}
)

type variant struct {
	Name     string                     `json:"name"`
	Base     string                     `json:"base"`
	Override map[string]json.RawMessage `json:"override"`
	Extra    []json.RawMessage          `json:"extra_added_tokens"`
}

var topCache = map[string][]byte{}

// baseTopJSON is the base file without its (large) model (cached; called
// with tokMu held).
func baseTopJSON(t testing.TB, name string) []byte {
	if d, ok := topCache[name]; ok {
		return d
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(baseJSON(t, name), &obj); err != nil {
		t.Fatal(err)
	}
	delete(obj, "model")
	data, _ := json.Marshal(obj)
	topCache[name] = data
	return data
}

func baseJSON(t testing.TB, name string) []byte {
	if name == "gpt2" {
		j, err := gpt2TokenizerJSON(readGz(t, "gpt2-encoder.json.gz"), readGz(t, "gpt2-vocab.bpe.gz"))
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	return readGz(t, name+".json.gz")
}

// loadTok loads a test tokenizer by golden name (cached across tests).
func loadTok(t testing.TB, name string) *Tokenizer {
	t.Helper()
	tokMu.Lock()
	defer tokMu.Unlock()
	if tk, ok := tokCache[name]; ok {
		return tk
	}
	var tk *Tokenizer
	var err error
	switch name {
	case "gpt2":
		tk, err = FromGPT2Files(filepath.Join(testdataDir, "gpt2-encoder.json.gz"), filepath.Join(testdataDir, "gpt2-vocab.bpe.gz"))
	case "llama2", "llama3", "qwen3", "gemma3":
		tk, err = FromFile(filepath.Join(testdataDir, name+".json.gz"))
	default:
		var vs []variant
		if err := json.Unmarshal(readGz(t, "variants.json"), &vs); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, v := range vs {
			if v.Name != name {
				continue
			}
			found = true
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(baseTopJSON(t, v.Base), &obj); err != nil {
				t.Fatal(err)
			}
			for k, val := range v.Override {
				obj[k] = val
			}
			if len(v.Extra) > 0 {
				var at []json.RawMessage
				_ = json.Unmarshal(obj["added_tokens"], &at)
				at = append(at, v.Extra...)
				obj["added_tokens"], _ = json.Marshal(at)
			}
			if _, own := v.Override["model"]; own {
				data, _ := json.Marshal(obj)
				tk, err = FromJSON(data)
				break
			}
			// Share the base file's model (parsed once) between its variants.
			tokMu.Unlock()
			base := loadTok(t, v.Base)
			tokMu.Lock()
			obj["model"] = json.RawMessage(`null`)
			data, _ := json.Marshal(obj)
			tk, err = fromJSON(data, base.model)
		}
		if !found {
			t.Fatalf("no variant %q", name)
		}
	}
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	tokCache[name] = tk
	return tk
}

type goldenCase struct {
	Class      string `json:"class"`
	Text       string `json:"text"`
	Bytes      []int  `json:"bytes"`
	IDs        []int  `json:"ids"`
	IDsSpecial []int  `json:"ids_special"`
	Decode     string `json:"decode"`
	DecodeSkip string `json:"decode_skip"`
}

func loadGolden(t testing.TB, name string) []goldenCase {
	var g struct {
		Cases []goldenCase `json:"cases"`
	}
	if err := json.Unmarshal(readGz(t, "golden/"+name+".json.gz"), &g); err != nil {
		t.Fatal(err)
	}
	return g.Cases
}

func (c goldenCase) input() string {
	if c.Bytes != nil {
		b := make([]byte, len(c.Bytes))
		for i, v := range c.Bytes {
			b[i] = byte(v)
		}
		return string(b)
	}
	return c.Text
}

func firstDiff(a, b []int) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference at %d: got %d, want %d (got %v, want %v)", i, a[i], b[i], clip(a), clip(b))
		}
	}
	return fmt.Sprintf("lengths differ: got %d ids, want %d (got %v, want %v)", len(a), len(b), clip(a), clip(b))
}

func clip(a []int) []int {
	if len(a) > 24 {
		return a[:24]
	}
	return a
}

func equalIDs(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func quote(s string) string {
	if len(s) > 120 {
		return fmt.Sprintf("%q...(%d bytes)", s[:120], len(s))
	}
	return fmt.Sprintf("%q", s)
}

var goldenNames = []string{"gpt2", "llama2", "llama3", "qwen3", "gemma3",
	"llama2-metaspace-first", "llama2-metaspace-always", "gpt2-prefix-nfkc", "llama3-template", "gpt2-digits-split",
	"llama3-o200k-pattern", "qwen3-deepseek-splits", "gpt2-split-behaviors", "gpt2-split-invert", "gpt2-bert-like", "llama2-truncate-pad", "gpt2-truncate-left", "gpt2-neox-like", "llama2-phi3-like", "tiny-bpe-prefix", "tiny-bpe-suffix", "tiny-wordpiece", "tiny-wordlevel"}

// TestGolden compares ids and decodes with HF tokenizers' on the corpus.
func TestGolden(t *testing.T) {
	for _, name := range goldenNames {
		t.Run(name, func(t *testing.T) {
			if testing.Short() && name == "gemma3" {
				t.Skip("gemma3 is large")
			}
			tk := loadTok(t, name)
			cases := loadGolden(t, name)
			type stat struct{ pass, n int }
			stats := map[string]*stat{}
			for _, c := range cases {
				st := stats[c.Class]
				if st == nil {
					st = &stat{}
					stats[c.Class] = st
				}
				st.n++
				in := c.input()
				ok := true
				if got := tk.Encode(in, false); !equalIDs(got, c.IDs) {
					t.Errorf("%s/%s: Encode(%s, false): %s", name, c.Class, quote(c.Text), firstDiff(got, c.IDs))
					ok = false
				}
				if got := tk.Encode(in, true); !equalIDs(got, c.IDsSpecial) {
					t.Errorf("%s/%s: Encode(%s, true): %s", name, c.Class, quote(c.Text), firstDiff(got, c.IDsSpecial))
					ok = false
				}
				if got := tk.Decode(c.IDsSpecial, false); got != c.Decode {
					t.Errorf("%s/%s: Decode(ids of %s, false) = %s, want %s", name, c.Class, quote(c.Text), quote(got), quote(c.Decode))
					ok = false
				}
				if got := tk.Decode(c.IDsSpecial, true); got != c.DecodeSkip {
					t.Errorf("%s/%s: Decode(ids of %s, true) = %s, want %s", name, c.Class, quote(c.Text), quote(got), quote(c.DecodeSkip))
					ok = false
				}
				if ok {
					st.pass++
				}
			}
			classes := make([]string, 0, len(stats))
			for k := range stats {
				classes = append(classes, k)
			}
			sort.Strings(classes)
			for _, k := range classes {
				t.Logf("%-22s %-13s %3d/%3d", name, k, stats[k].pass, stats[k].n)
			}
		})
	}
}
