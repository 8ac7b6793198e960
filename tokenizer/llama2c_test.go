package tokenizer

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/glia-dev/glia/assets"
)

const tok512 = "../assets/models/stories260K/tok512.bin"

func TestLlama2CEncode(t *testing.T) {
	tk, err := FromLlama2C(tok512, 512)
	if err != nil {
		t.Fatal(err)
	}
	if tk.VocabSize() != 512 || tk.BOS() != 1 || tk.EOS() != 2 {
		t.Fatalf("VocabSize %d BOS %d EOS %d", tk.VocabSize(), tk.BOS(), tk.EOS())
	}
	want := []int{1, 403, 407, 261, 378, 432, 383, 286}
	if got := tk.Encode("Once upon a time, there was", true); !equalIDs(got, want) {
		t.Errorf("Encode: %s", firstDiff(got, want))
	}
	if got := tk.Encode("Once upon a time, there was", false); !equalIDs(got, want[1:]) {
		t.Errorf("Encode without BOS: %s", firstDiff(got, want[1:]))
	}
	if got := tk.Encode("", true); !equalIDs(got, []int{1}) {
		t.Errorf("Encode(\"\") = %v", got)
	}
	// The embedded copy reads the same.
	tb, err := FromLlama2CBytes(assets.Stories260KTokenizer, 512)
	if err != nil {
		t.Fatal(err)
	}
	if got := tb.Encode("Once upon a time, there was", true); !equalIDs(got, want) {
		t.Errorf("FromLlama2CBytes: %s", firstDiff(got, want))
	}
}

// TestLlama2CGreedy decodes run.c's greedy generation back to its stdout.
func TestLlama2CGreedy(t *testing.T) {
	tk, err := FromLlama2C(tok512, 512)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		IDs []int `json:"token_ids"`
	}
	data, err := os.ReadFile("../testdata/stories260K/expected/greedy_token_ids.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile("../testdata/stories260K/expected/run_c_greedy.txt")
	if err != nil {
		t.Fatal(err)
	}
	_, stdout, ok := strings.Cut(string(out), "# --- stdout ---\n")
	if !ok {
		t.Fatal("no stdout marker")
	}
	want := strings.TrimSuffix(stdout, "\n")
	if got := tk.Decode(ref.IDs[1:], false); got != want {
		t.Errorf("Decode(ids[1:]) =\n%q\nwant\n%q", got, want)
	}
	if got := tk.Decode(ref.IDs, true); got != want {
		t.Errorf("Decode(ids, skipSpecial) =\n%q\nwant\n%q", got, want)
	}
	// Re-encoding the text gives back ids that decode to it.
	if got := tk.Decode(tk.Encode(want, true), true); got != want {
		t.Errorf("round trip =\n%q", got)
	}
	if id, ok := tk.TokenID(" Once"); !ok || id != 403 {
		t.Errorf("TokenID(\" Once\") = %d, %v", id, ok)
	}
	if s := tk.TokenString(13); s != "<0x0A>" && s != "\n" {
		t.Errorf("TokenString(13) = %q", s)
	}
}

// ggufFromTok512 builds the GGUF vocabulary llama.cpp's converter writes for
// tok512.bin: ▁ for spaces, byte/control/unknown token types.
func ggufFromTok512(t testing.TB) GGUFVocab {
	tk, err := FromLlama2C(tok512, 512)
	if err != nil {
		t.Fatal(err)
	}
	m := tk.custom.(*llama2cModel)
	v := GGUFVocab{Model: "llama", BOS: 1, EOS: 2, UNK: 0, PAD: -1, AddBOS: true, AddSpacePrefix: true}
	for i, p := range m.vocab {
		typ := int32(ggufNormal)
		switch {
		case i == 0:
			typ, p = ggufUnknown, "<unk>"
		case i == 1:
			typ, p = ggufControl, "<s>"
		case i == 2:
			typ, p = ggufControl, "</s>"
		case i < 259:
			typ = ggufByte
		}
		v.Tokens = append(v.Tokens, strings.ReplaceAll(p, " ", "▁"))
		v.Scores = append(v.Scores, m.scores[i])
		v.Types = append(v.Types, typ)
	}
	return v
}

var storyStrings = []string{
	"Once upon a time, there was",
	"Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
	"Lily's mom said, \"Lily, let's go to the park.\"",
	"The cat sat on the mat.\nThe dog ran.",
	"  two spaces and 123 numbers",
	"emoji 😀 and 你好 and café",
	"a",
	" ",
}

// TestGGUFSPM checks llama.cpp-style SPM encoding against run.c's on the
// stories vocabulary.
func TestGGUFSPM(t *testing.T) {
	ref, err := FromLlama2C(tok512, 512)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := FromGGUF(ggufFromTok512(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range storyStrings {
		want := ref.Encode(s, true)
		if got := tk.Encode(s, true); !equalIDs(got, want) {
			t.Errorf("Encode(%q): %s", s, firstDiff(got, want))
		}
		if got := tk.Decode(tk.Encode(s, true), true); got != s && !(s == " " && got == "") {
			t.Errorf("Decode(Encode(%q)) = %q", s, got)
		}
	}
	// Control tokens inside text are matched; with llama.cpp, the text after
	// one gets the space prefix again.
	got := tk.Encode("<s>Once", false)
	want := append([]int{1}, ref.Encode("Once", false)...)
	if !equalIDs(got, want) {
		t.Errorf("Encode(<s>Once): %s", firstDiff(got, want))
	}
	if tk.BOS() != 1 || tk.EOS() != 2 || tk.VocabSize() != 512 {
		t.Errorf("BOS %d EOS %d VocabSize %d", tk.BOS(), tk.EOS(), tk.VocabSize())
	}
}

// TestGGUFBPE builds a "gpt2" GGUF vocabulary from GPT-2's files and checks
// it against the golden ids.
func TestGGUFBPE(t *testing.T) {
	ref := loadTok(t, "gpt2")
	bm := ref.model.(*bpeModel)
	v := GGUFVocab{Model: "gpt2", Pre: "gpt-2", BOS: 50256, EOS: 50256, UNK: -1, PAD: -1}
	for i, s := range bm.vocabR {
		v.Tokens = append(v.Tokens, s)
		typ := int32(ggufNormal)
		if s == "<|endoftext|>" {
			typ = ggufControl
		}
		v.Types = append(v.Types, typ)
		_ = i
	}
	for _, l := range strings.Split(string(readGz(t, "gpt2-vocab.bpe.gz")), "\n")[1:] {
		if l != "" {
			v.Merges = append(v.Merges, l)
		}
	}
	tk, err := FromGGUF(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range loadGolden(t, "gpt2") {
		if got := tk.Encode(c.input(), false); !equalIDs(got, c.IDs) {
			t.Errorf("Encode(%s): %s", quote(c.Text), firstDiff(got, c.IDs))
		}
	}
	if _, err := FromGGUF(GGUFVocab{Model: "gpt2", Pre: "nonesuch", Tokens: []string{"a"}}); err == nil || !strings.Contains(err.Error(), "tokenizer.ggml.pre") {
		t.Errorf("unknown pre: err = %v", err)
	}
	if _, err := FromGGUF(GGUFVocab{Model: "t5", Tokens: []string{"a"}}); err == nil || !strings.Contains(err.Error(), "tokenizer.ggml.model") {
		t.Errorf("unknown model: err = %v", err)
	}
}
