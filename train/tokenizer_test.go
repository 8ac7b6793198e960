package train

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/glia-dev/glia/tokenizer"
)

var update = flag.Bool("update", false, "rewrite the committed known-answer models' tokenizer.json")

// TestTaskTokenizers: the built-in tasks' tokenizers give each number its
// own id (BOS where the task has one), decode back to the text, and are the
// files committed beside the known-answer models (so atlas build, explain
// and patch take text on them).
func TestTaskTokenizers(t *testing.T) {
	modadd, err := NewModAdd(53, 1, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		task      Vocabulary
		dir       string
		text      string
		want      []int
		roundTrip string
	}{
		{"induction", &Induction{Seed: 1, Batch: 64, Seq: 32, VocabSize: 512}, "../testdata/trained/induction",
			"17 4  511\n17", []int{0, 17, 4, 511, 17}, "<bos> 17 4 511 17"},
		// 512 is outside the vocabulary: it falls apart into digits.
		{"induction-oov", &Induction{Seed: 1, Batch: 64, Seq: 32, VocabSize: 512}, "", "512", []int{0, 5, 1, 2}, "<bos> 5 1 2"},
		{"modadd", modadd, "../testdata/trained/modadd53", "12 40 =", []int{12, 40, 53}, "12 40 ="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := tc.task.TokenizerJSON()
			path := filepath.Join(t.TempDir(), "tokenizer.json")
			if err := os.WriteFile(path, js, 0o644); err != nil {
				t.Fatal(err)
			}
			tok, err := tokenizer.FromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Encode(tc.text, true); !slices.Equal(got, tc.want) {
				t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
			}
			if got := tok.Decode(tc.want, false); got != tc.roundTrip {
				t.Errorf("Decode(%v) = %q, want %q", tc.want, got, tc.roundTrip)
			}
			if tc.dir == "" {
				return
			}
			committed := filepath.Join(tc.dir, "tokenizer.json")
			if *update {
				if err := os.WriteFile(committed, js, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			old, err := os.ReadFile(committed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(old, js) {
				t.Errorf("%s differs from the task's tokenizer (go test ./train -run TaskTokenizers -update rewrites it)", committed)
			}
		})
	}
}
