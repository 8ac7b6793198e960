package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTokenizerTrain: the command documented in testdata/tokenizer/README.md
// remakes the committed trained file, and glia tokenize reads what it wrote.
func TestTokenizerTrain(t *testing.T) {
	out := filepath.Join(t.TempDir(), "tokenizer.json")
	stdout, errs, code := runCLI(t, "", "tokenizer", "train", "--vocab", "400", "--special", "<|endoftext|>", "--doc-sep", "<|endoftext|>",
		"--corpus", "../../assets/corpus/stories.txt.gz", "--corpus", "../../testdata/tokenizer/corpus.json", "--out", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var sum struct {
		Out       string `json:"out"`
		Docs      int    `json:"docs"`
		Merges    int    `json:"merges"`
		VocabSize int    `json:"vocab_size"`
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("--json output %q: %v", stdout, err)
	}
	if sum.Out != out || sum.Docs != 33 || sum.VocabSize != 400 || sum.Merges != 400-257 {
		t.Errorf("summary %+v, want 33 docs, 400 tokens, 143 merges", sum)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../testdata/tokenizer/trained-bpe400.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the written file differs from testdata/tokenizer/trained-bpe400.json")
	}
	ids, errs, code := runCLI(t, "Once upon a time<|endoftext|>\n", "tokenize", "--tokenizer", out)
	if code != 0 || !strings.HasSuffix(ids, ",0]\n") {
		t.Fatalf("tokenize: exit %d stdout %q stderr %q", code, ids, errs)
	}
	text, errs, code := runCLI(t, ids, "detokenize", "--tokenizer", out)
	if code != 0 || text != "Once upon a time<|endoftext|>\n" {
		t.Errorf("detokenize: exit %d stdout %q stderr %q", code, text, errs)
	}
}

func TestTokenizerTrainErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no flags", []string{"tokenizer", "train"}, "give --vocab, --corpus and --out"},
		{"vocab too small", []string{"tokenizer", "train", "--vocab", "100", "--corpus", "../../assets/corpus", "--out", filepath.Join(dir, "t.json")}, "vocab: 100 is below 256"},
		{"missing corpus", []string{"tokenizer", "train", "--vocab", "300", "--corpus", filepath.Join(dir, "nope"), "--out", filepath.Join(dir, "t.json")}, "nope"},
		{"unknown sub-command", []string{"tokenizer", "trian"}, "trian"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := runCLI(t, "", tc.args...)
			if code == 0 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want an error naming %q", code, errs, tc.want)
			}
		})
	}
	out, _, code := runCLI(t, "", "tokenizer")
	if code != 0 || !strings.HasPrefix(out, "usage: glia tokenizer train --vocab N") {
		t.Errorf("glia tokenizer: exit %d, stdout %q; want the usage", code, out)
	}
}
