package cli

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/train"
)

// TestTrain: glia train writes a directory that glia run loads, logs JSON
// lines, reports induction scores, and resumes.
func TestTrain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	args := []string{"train", "--attn-only", "--layers", "1", "--d-model", "16", "--heads", "2", "--vocab", "12", "--seq", "8", "--batch", "4",
		"--steps", "4", "--warmup", "1", "--eval-every", "2", "--out", dir, "--json"}
	out, errs, code := runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var last map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
	}
	if last["event"] != "summary" || last["steps"] != 4.0 || last["induction_score"] == nil {
		t.Errorf("last line %v", last)
	}
	for _, f := range []string{"config.json", "model.safetensors", "generation_config.json", "checkpoint.safetensors", trainLogFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if out, errs, code := runCLI(t, "", "run", "--model", dir, "--ids", "0 3 4 5"); code != 0 || out == "" {
		t.Errorf("glia run on the trained model: exit %d: %s", code, errs)
	}
	// A finished run resumes to nothing new; a second fresh run is refused.
	if _, errs, code := runCLI(t, "", append(args, "--resume")...); code != 0 {
		t.Errorf("resume of a finished run: exit %d: %s", code, errs)
	}
	if _, errs, code := runCLI(t, "", args...); code == 0 || !strings.Contains(errs, "already holds a checkpoint") {
		t.Errorf("second run into the same directory: exit %d: %s", code, errs)
	}
}

func TestTrainModAdd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	out, errs, code := runCLI(t, "", "train", "--task", "modadd", "--p", "7", "--layers", "1", "--d-model", "16", "--heads", "2", "--steps", "3", "--out", dir, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var start, last map[string]any
	lines := strings.Split(strings.TrimSpace(out), "\n")
	json.Unmarshal([]byte(lines[0]), &start)
	json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	cfg := start["config"].(map[string]any)
	if cfg["vocab_size"] != 8.0 || cfg["n_positions"] != 3.0 || last["fourier_top5"] == nil {
		t.Errorf("config %v, summary %v", cfg, last)
	}
	// The grokking defaults apply unless given.
	st, err := train.ReadRunState(filepath.Join(dir, train.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	h := st.Run["hyper"].(map[string]any)
	if h["WeightDecay"] != 1.0 || h["Beta2"] != 0.98 || h["DecayAll"] != true || h["MinLRFrac"] != 1.0 || h["Warmup"] != 10.0 {
		t.Errorf("modadd hyper-parameters %v", h)
	}
}

func TestTrainBadInput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--family", "bert"}, `unknown family "bert"`},
		{[]string{"--d-model", "30", "--heads", "4"}, "d_model 30 is not divisible by heads 4"},
		{[]string{"--task", "sorting"}, `unknown --task "sorting"`},
		{[]string{"--corpus", out}, "--corpus needs --tokenizer"},
	} {
		_, errs, code := runCLI(t, "", append([]string{"train", "--out", out, "--steps", "1"}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errs, c.want)
		}
	}
}

// byteTokenizer writes a byte-level BPE tokenizer.json with no merges (one
// token per byte, GPT-2's byte-to-character map) and an end-of-text token.
func byteTokenizer(t *testing.T, path string) {
	t.Helper()
	var bs []int
	for b := '!'; b <= '~'; b++ {
		bs = append(bs, int(b))
	}
	for b := '¡'; b <= '¬'; b++ {
		bs = append(bs, int(b))
	}
	for b := '®'; b <= 'ÿ'; b++ {
		bs = append(bs, int(b))
	}
	chars := map[int]rune{}
	for _, b := range bs {
		chars[b] = rune(b)
	}
	n := 0
	vocab := map[string]int{}
	for b := range 256 {
		c, ok := chars[b]
		if !ok {
			c = rune(256 + n)
			n++
		}
		vocab[string(c)] = b
	}
	vocab["<|endoftext|>"] = 256
	tok := map[string]any{
		"version":        "1.0",
		"added_tokens":   []any{map[string]any{"id": 256, "content": "<|endoftext|>", "special": true, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false}},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": nil,
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model":          map[string]any{"type": "BPE", "vocab": vocab, "merges": []any{}, "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": false},
	}
	b, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTrainCorpus: a llama on a text corpus through the atlas's packing,
// with the tokenizer copied into the model; too small a corpus is refused.
func TestTrainCorpus(t *testing.T) {
	tmp := t.TempDir()
	tok := filepath.Join(tmp, "tokenizer.json")
	byteTokenizer(t, tok)
	text := filepath.Join(tmp, "corpus.txt")
	os.WriteFile(text, []byte(strings.Repeat("the cat sat on the mat. ", 40)), 0o644)
	dir := filepath.Join(tmp, "m")
	args := []string{"train", "--family", "llama", "--layers", "1", "--d-model", "16", "--heads", "2", "--corpus", text, "--tokenizer", tok,
		"--seq", "16", "--batch", "4", "--steps", "3", "--warmup", "1", "--out", dir}
	if _, errs, code := runCLI(t, "", args...); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if out, errs, code := runCLI(t, "", "run", "--model", dir, "--prompt", "the cat"); code != 0 || out == "" {
		t.Errorf("glia run --prompt on the trained model: exit %d: %s", code, errs)
	}
	_, errs, code := runCLI(t, "", append(args[:len(args)-1], filepath.Join(tmp, "m2"), "--batch", "64")...)
	if code == 0 || !strings.Contains(errs, "fewer than one batch of 64") {
		t.Errorf("corpus smaller than a batch: exit %d: %s", code, errs)
	}
}

// TestTrainEvalSets: --eval NAME=PATH reports each named text's loss, and
// the figure is the model's mean next-token cross-entropy on that text
// (recomputed here from the written model's logits).
func TestTrainEvalSets(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "m")
	a, b := filepath.Join(tmp, "a.txt"), filepath.Join(tmp, "b.txt")
	os.WriteFile(a, []byte("1 2 = 3"), 0o644)
	os.WriteFile(b, []byte("4 6 = 3\n"), 0o644)
	out, errs, code := runCLI(t, "", "train", "--task", "modadd", "--p", "7", "--layers", "1", "--d-model", "16", "--heads", "2", "--steps", "3",
		"--eval", "a="+a, "--eval", "b="+b, "--out", dir, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last struct {
		Sets map[string]train.EvalResult `json:"eval_sets"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	m, err := engine.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, ids := range map[string][]int32{"a": {1, 2, 7, 3}, "b": {4, 6, 7, 3}} {
		res, err := m.Run(engine.Request{IDs: [][]int32{ids[:3]}})
		if err != nil {
			t.Fatal(err)
		}
		v := res.Logits.Shape[2]
		var want float64
		for p := range 3 {
			row := res.Logits.Data[p*v : (p+1)*v]
			mx := slices.Max(row)
			var z float64
			for _, x := range row {
				z += math.Exp(float64(x - mx))
			}
			want += (math.Log(z) + float64(mx-row[ids[p+1]])) / 3
		}
		got := last.Sets[name]
		if got.Count != 3 || math.Abs(got.Loss-want) > 1e-5 {
			t.Errorf("eval set %s: %+v, want loss %.6f over 3 positions", name, got, want)
		}
	}
	for _, bad := range []string{"nameonly", "=x", "a=" + filepath.Join(tmp, "missing.txt")} {
		if _, errs, code := runCLI(t, "", "train", "--task", "modadd", "--p", "7", "--steps", "1", "--eval", bad, "--out", filepath.Join(tmp, "bad")); code == 0 || !strings.Contains(errs, "--eval") {
			t.Errorf("--eval %s: exit %d: %s", bad, code, errs)
		}
	}
}
