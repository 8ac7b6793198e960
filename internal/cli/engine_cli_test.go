package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/format/safetensors"
)

// TestGenerateMatchesRunC: the embedded model's greedy text from BOS is
// llama2.c run.c's stdout, byte for byte.
func TestGenerateMatchesRunC(t *testing.T) {
	b, err := os.ReadFile("../../testdata/stories260K/expected/run_c_greedy.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := string(b[strings.Index(string(b), "# --- stdout ---\n")+len("# --- stdout ---\n"):])
	n := "256"
	if testing.Short() {
		n, want = "40", ""
	}
	out, errs, code := runCLI(t, "", "generate", "--ids", "1", "--max-new", n)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if want != "" && out != want {
		t.Fatalf("generate output differs from run.c:\n got %q\nwant %q", out, want)
	}
}

func TestGenerateJSON(t *testing.T) {
	out, errs, code := runCLI(t, "", "generate", "--prompt", "Once upon a time", "--max-new", "5", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var ids []int
	if err := json.Unmarshal([]byte(out), &ids); err != nil || len(ids) != 5 {
		t.Fatalf("want a JSON array of 5 ids, got %q (%v)", out, err)
	}
}

func TestRunTopAndSave(t *testing.T) {
	out, errs, code := runCLI(t, "", "run", "--prompt", "Once upon a time")
	if code != 0 || strings.Count(out, "\n") != 10 || !strings.Contains(out, `","`) {
		t.Fatalf("exit %d, top-10 output %q %s", code, out, errs)
	}
	p := filepath.Join(t.TempDir(), "out.safetensors")
	_, errs, code = runCLI(t, "", "run", "--ids", "1 403 407;1 403 432", "--hook", "blocks.*.mlp.hook_post", "--hook", "blocks.0.hook_resid_pre", "--grad", "1,2,261", "--save", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	f, err := safetensors.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string][]int{"logits": {2, 3, 512}, "blocks.4.mlp.hook_post": {2, 3, 172}, "blocks.0.hook_resid_pre": {2, 3, 64}, "grad:blocks.2.mlp.hook_post": {2, 3, 172}}
	for name, shape := range want {
		got, ok := f.Shape(name)
		if !ok || len(got) != len(shape) || got[0] != shape[0] || got[2] != shape[2] {
			t.Errorf("%s: shape %v, want %v", name, got, shape)
		}
	}
	if n := len(f.Names()); n != 1+6+6 {
		t.Errorf("%d tensors saved, want 13: %v", n, f.Names())
	}
}

func TestRunErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--ids", "1 2;3"}, "equal lengths"},
		{[]string{"run", "--ids", "1 x"}, `"x" is not a token id`},
		{[]string{"run", "--ids", "1 9999"}, "outside the vocabulary"},
		{[]string{"run", "--ids", "1 2", "--hook", "blocks.7.mlp.hook_post"}, "no hook point matches"},
		{[]string{"run", "--ids", "1 2", "--hook", "hook_embed", "--grad", "0,5,1"}, "outside logits"},
		{[]string{"run", "--model", "/nonexistent/model", "--ids", "1"}, "no such file"},
	} {
		_, errs, code := runCLI(t, "", c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want it to mention %q", c.args, code, errs, c.want)
		}
	}
}

func TestInspect(t *testing.T) {
	out, errs, code := runCLI(t, "", "inspect", "--seq", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, w := range []string{"parameters   260032", "blocks.4.mlp.hook_post          [1 3 172]", "blocks.0.attn.hook_pattern      [1 8 3 3]", "ln_final.hook_normalized"} {
		if !strings.Contains(out, w) {
			t.Errorf("inspect output lacks %q:\n%s", w, out)
		}
	}
	out, _, _ = runCLI(t, "", "inspect", "--model", "../../testdata/hf-tiny/gpt2", "--json")
	var v struct {
		Hooks []struct{ Name string } `json:"hooks"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Hooks) == 0 || v.Hooks[1].Name != "hook_pos_embed" {
		t.Fatalf("inspect --json: %v %q", err, out[:min(200, len(out))])
	}
}

// TestHFCacheLookup finds ORG/NAME in a Hugging Face cache layout offline.
func TestHFCacheLookup(t *testing.T) {
	home := t.TempDir()
	snap := filepath.Join(home, "hub", "models--tiny--gpt2", "snapshots", "abc123")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors"} {
		abs, _ := filepath.Abs(filepath.Join("../../testdata/hf-tiny/gpt2", f))
		if err := os.Symlink(abs, filepath.Join(snap, f)); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(home, "hub", "models--tiny--gpt2", "refs"), 0o755)
	os.WriteFile(filepath.Join(home, "hub", "models--tiny--gpt2", "refs", "main"), []byte("abc123"), 0o644)
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	out, errs, code := runCLI(t, "", "run", "--model", "tiny/gpt2", "--ids", "1 2 3", "--json")
	if code != 0 || !strings.Contains(out, "abc123") {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
}

// TestGenerateContextNote: asking for more tokens than the context holds says
// so in one line; the tokens stop at the context.
func TestGenerateContextNote(t *testing.T) {
	out, errs, code := runCLI(t, "", "generate", "--ids", "1", "--max-new", "600", "--json")
	var ids []int
	if err := json.Unmarshal([]byte(out), &ids); code != 0 || err != nil {
		t.Fatalf("exit %d: %v %s", code, err, errs)
	}
	if len(ids) != 511 || !strings.Contains(errs, "context is 512 tokens and the prompt has 1: generating at most 511, not 600") {
		t.Errorf("%d ids, stderr %q", len(ids), errs)
	}
}

// TestGraphErrorsReadable: an intervention that fails while the graph is
// built reads like the other spec errors, with no Go names, and starts on its
// own line after streamed text.
func TestGraphErrorsReadable(t *testing.T) {
	out, errs, code := runCLI(t, "", "generate", "--prompt", "Once upon a time", "--intervene", "blocks.0.mlp.hook_post[99,1]=0")
	if code != 1 || !strings.Contains(errs, "position index 99 is out of range [0,5)") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	for _, bad := range []string{"panicked", "github.com", "func1", "Exec"} {
		if strings.Contains(errs, bad) {
			t.Errorf("stderr shows %q: %q", bad, errs)
		}
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("streamed text does not end its line before the error: %q", out)
	}
}

// TestRunHookSummaryAndIntervene: hooks without --save are summarised, not
// dropped; --intervene changes what run computes.
func TestRunHookSummaryAndIntervene(t *testing.T) {
	out, errs, code := runCLI(t, "", "run", "--prompt", "Once upon a time", "--hook", "blocks.0.mlp.hook_post", "--top", "1")
	if code != 0 || !strings.Contains(out, "blocks.0.mlp.hook_post [1 5 172]  top units at the last position: ") || !strings.Contains(errs, "--save") {
		t.Fatalf("exit %d stdout %q stderr %q", code, out, errs)
	}
	base, _, _ := runCLI(t, "", "run", "--prompt", "Once upon a time", "--json")
	ablated, errs, code := runCLI(t, "", "run", "--prompt", "Once upon a time", "--json", "--intervene", "blocks.4.mlp.hook_post[-1,:]=0")
	if code != 0 || base == ablated {
		t.Errorf("--intervene left the output unchanged (exit %d, %s)", code, errs)
	}
	_, errs, code = runCLI(t, "", "run", "--prompt", "Once upon a time", "--intervene", "blocks.0.mlp.hook_post[99,1]=0")
	if code != 1 || !strings.Contains(errs, "position index 99") {
		t.Errorf("out-of-range intervention: exit %d, %q", code, errs)
	}
}
