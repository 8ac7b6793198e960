package engine_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/glia-dev/glia/engine"
)

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestStoriesLogits compares the embedded model with the PyTorch reference
// of llama2.c's forward pass.
func TestStoriesLogits(t *testing.T) {
	var ref struct {
		TokenIDs []int32     `json:"token_ids"`
		Logits   [][]float32 `json:"logits"`
	}
	readJSON(t, "../testdata/stories260K/expected/logits_first8.json", &ref)
	m, err := engine.LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run(engine.Request{IDs: [][]int32{ref.TokenIDs}})
	if err != nil {
		t.Fatal(err)
	}
	var want []float32
	for _, row := range ref.Logits {
		want = append(want, row...)
	}
	d, at := maxDiff(res.Logits.Data, want)
	t.Logf("stories260K logits maxdiff %.2g", d)
	if d > tolerance {
		t.Fatalf("maxdiff %.3g at %d", d, at)
	}
}

// TestStoriesGreedy reproduces run.c's 256 greedy tokens from BOS.
func TestStoriesGreedy(t *testing.T) {
	var ref struct {
		TokenIDs []int32 `json:"token_ids"`
	}
	readJSON(t, "../testdata/stories260K/expected/greedy_token_ids.json", &ref)
	m, err := engine.LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	n := len(ref.TokenIDs) - 1
	if testing.Short() {
		n = 64
	}
	got, err := m.Generate(ref.TokenIDs[:1], engine.GenerateOptions{MaxNew: n})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if got[i] != ref.TokenIDs[i+1] {
			t.Fatalf("token %d: got %d want %d (got %v)", i, got[i], ref.TokenIDs[i+1], got[:i+1])
		}
	}
}

// TestGGUFMatchesBin loads the same model from GGUF and checks logits.
func TestGGUFMatchesBin(t *testing.T) {
	bin, err := engine.Load("../assets/models/stories260K/stories260K.bin")
	if err != nil {
		t.Fatal(err)
	}
	gg, err := engine.Load("../assets/models/stories260K/stories260K.gguf")
	if err != nil {
		t.Fatal(err)
	}
	if bin.Tokenizer == nil || gg.Tokenizer == nil {
		t.Fatal("tokenizer not found beside the checkpoint / in the GGUF vocabulary")
	}
	text := "Once upon a time, there was a little girl."
	a, b := bin.Tokenizer.Encode(text, true), gg.Tokenizer.Encode(text, true)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("tokenizers differ: bin %v gguf %v", a, b)
	}
	ids := [][]int32{toInt32(a)}
	ra, err := bin.Run(engine.Request{IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := gg.Run(engine.Request{IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := maxDiff(rb.Logits.Data, ra.Logits.Data); d > 1e-6 {
		t.Fatalf("gguf vs bin logits maxdiff %.3g", d)
	}
}

func toInt32(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}
