package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPatchCLI(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "lily")
	stdout, errs, code := ivCLI(t, "patch", "--clean", "Once upon a time, there was a little girl named Lily. One day,",
		"--corrupt", "Once upon a time, there was a little boy named Tim. One day,", "--metric", "logit-diff:Lily,Tim", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(stdout, "14 Lily/Tim") || !strings.Contains(stdout, "forwards") {
		t.Errorf("stdout:\n%s", stdout)
	}
	var res struct {
		Pairs []struct {
			Effect [][]any `json:"effect"`
		} `json:"pairs"`
	}
	b, err := os.ReadFile(out + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	// Patching the name position at layer 0 restores most of the metric.
	if e, ok := res.Pairs[0].Effect[0][14].(float64); !ok || e < 0.5 {
		t.Errorf("effect at L0, the name = %v", res.Pairs[0].Effect[0][14])
	}
	for _, ext := range []string{".svg", ".png"} {
		if st, err := os.Stat(out + ext); err != nil || st.Size() < 100 {
			t.Errorf("%s: %v", ext, err)
		}
	}
	_, errs, code = ivCLI(t, "patch", "--clean", "a b", "--corrupt", "a c", "--metric", "logit-diff:Tom,Lily", "--out", out)
	if code == 0 || !strings.Contains(errs, `"Tom" is 2 tokens`) {
		t.Errorf("multi-token metric: exit %d %s", code, errs)
	}
	stdout, errs, code = ivCLI(t, "patch", "path", "--clean", "Once upon a time, there was a little girl named Lily. One day,",
		"--corrupt", "Once upon a time, there was a little boy named Tim. One day,", "--metric", "logit-diff:Lily,Tim", "--receivers", "3.0,3.1q", "--out", out)
	if code != 0 || !strings.Contains(stdout, "senders 2.7") {
		t.Errorf("patch path: exit %d %s\n%s", code, errs, stdout)
	}
}

func TestAblateAndSteerCLI(t *testing.T) {
	td := "../../intervene/testdata/"
	stdout, errs, code := ivCLI(t, "ablate", "--intervene", "blocks.0.mlp.hook_post=mean", "--mean-corpus", td+"stories.txt",
		"--doc-sep", "<|endoftext|>", "--corpus", "stories="+td+"stories.txt", "--corpus", "other="+td+"other.txt", "--top", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(stdout, "stories ") || !strings.Contains(stdout, "other ") || !strings.Contains(stdout, "most affected") {
		t.Errorf("stdout:\n%s", stdout)
	}
	_, errs, code = ivCLI(t, "ablate", "--intervene", "blocks.0.mlp.hook_post[:,172]=0", "--corpus", "x="+td+"other.txt")
	if code == 0 || !strings.Contains(errs, "unit index 172 is out of range [0,172)") {
		t.Errorf("out-of-range unit: exit %d %s", code, errs)
	}
	vec := filepath.Join(t.TempDir(), "v.safetensors")
	stdout, errs, code = ivCLI(t, "steer", "build", "--pos", td+"stories.txt", "--neg", td+"other.txt", "--doc-sep", "<|endoftext|>",
		"--hook", "blocks.2.hook_resid_post", "--out", vec, "--name", "story")
	if code != 0 || !strings.Contains(stdout, "shape [64]") {
		t.Fatalf("steer build: exit %d %s\n%s", code, errs, stdout)
	}
	plain, _, _ := ivCLI(t, "generate", "--prompt", "The", "--max-new", "12", "--json")
	steered, errs, code := ivCLI(t, "generate", "--prompt", "The", "--max-new", "12", "--json", "--intervene", "blocks.2.hook_resid_post[:]+=-8*@"+vec+":story")
	if code != 0 || plain == steered {
		t.Errorf("steered generation: exit %d %s; plain %s steered %s", code, errs, plain, steered)
	}
}

// ivCLI runs glia with args, returning stdout, stderr and the exit code.
func ivCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	oldOut, oldErr := Stdout, Stderr
	defer func() { Stdout, Stderr = oldOut, oldErr }()
	var out, errb bytes.Buffer
	Stdout, Stderr = &out, &errb
	t.Setenv("GLIA_NO_SIMD_WARNING", "1")
	code := Main(args)
	return out.String(), errb.String(), code
}

// TestAblateAtlasMeans: means read from an atlas equal means computed over
// the same corpus.
func TestAblateAtlasMeans(t *testing.T) {
	td := "../../intervene/testdata/"
	db := filepath.Join(t.TempDir(), "a.db")
	if _, errs, code := ivCLI(t, "atlas", "build", "--corpus", td+"stories.txt", "--doc-sep", "<|endoftext|>", "--hooks", "blocks.0.mlp.hook_post", "--out", db); code != 0 {
		t.Fatalf("atlas build: %s", errs)
	}
	args := []string{"ablate", "--intervene", "blocks.0.mlp.hook_post[:,0:50]=mean", "--doc-sep", "<|endoftext|>", "--corpus", "s=" + td + "stories.txt", "--json"}
	a, errs, code := ivCLI(t, append(args, "--atlas", db)...)
	if code != 0 {
		t.Fatalf("--atlas: %s", errs)
	}
	c, errs, code := ivCLI(t, append(args, "--mean-corpus", td+"stories.txt")...)
	if code != 0 {
		t.Fatalf("--mean-corpus: %s", errs)
	}
	var ra, rc struct {
		Corpora []struct {
			After float64 `json:"loss_after"`
		} `json:"corpora"`
	}
	if json.Unmarshal([]byte(a), &ra) != nil || json.Unmarshal([]byte(c), &rc) != nil || len(ra.Corpora) != 1 || len(rc.Corpora) != 1 {
		t.Fatalf("outputs:\n%s\n%s", a, c)
	}
	if d := ra.Corpora[0].After - rc.Corpora[0].After; d > 1e-4 || d < -1e-4 {
		t.Errorf("loss after: atlas means %g, corpus means %g", ra.Corpora[0].After, rc.Corpora[0].After)
	}
	_, errs, code = ivCLI(t, "ablate", "--intervene", "blocks.1.mlp.hook_post=mean", "--atlas", db, "--corpus", "s="+td+"other.txt")
	if code == 0 || !strings.Contains(errs, "holds no statistics for blocks.1.mlp.hook_post") {
		t.Errorf("atlas without the hook: exit %d %s", code, errs)
	}
}

// TestPatchOutFormats: --out NAME.svg (or .png) writes NAME.json and that
// one figure; bad values are refused with the flag's name.
func TestPatchOutFormats(t *testing.T) {
	dir := t.TempDir()
	args := []string{"patch", "--clean", "Lily went home.", "--corrupt", "Tim went home.", "--metric", "logit-diff:Lily,Tim", "--per", "layer"}
	for _, name := range []string{"a.svg", "b.png"} {
		out := filepath.Join(dir, name)
		base, ext := strings.TrimSuffix(out, filepath.Ext(out)), filepath.Ext(out)
		stdout, errs, code := ivCLI(t, append(args, "--out", out)...)
		if code != 0 {
			t.Fatalf("%s: exit %d %s", name, code, errs)
		}
		if _, err := os.Stat(base + ".json"); err != nil || !strings.Contains(stdout, "wrote "+base+".json, "+out+"\n") {
			t.Errorf("%s: %v\n%s", name, err, stdout)
		}
		other := map[string]string{".svg": ".png", ".png": ".svg"}[ext]
		if _, err := os.Stat(base + other); err == nil {
			t.Errorf("%s: wrote %s too", name, other)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "a.svg"))
	if err != nil || !bytes.Contains(svg, []byte(">layer<")) || !bytes.Contains(svg, []byte(">normalised effect<")) {
		t.Errorf("svg: %v", err)
	}
	for _, c := range []struct{ flag, value, want string }{
		{"--hook", "pattern", `--hook: experiment: kind "pattern": want resid_pre`},
		{"--per", "unit", `--per: experiment: per "unit": want pos, head, neuron or layer`},
		{"--metric", "Lily,Tim", `--metric: experiment: metric "Lily,Tim": want logit-diff:TOKA,TOKB`},
	} {
		_, errs, code := ivCLI(t, append(args, c.flag, c.value, "--out", filepath.Join(dir, "g"))...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%s %s: exit %d %s", c.flag, c.value, code, errs)
		}
	}
}

// TestPatchNotesAndVocabularyTokens: prompts of different lengths are noted
// (aligned at their last token), and a metric token that is one vocabulary
// entry (" Tim") is taken as it is, not encoded into two.
func TestPatchNotesAndVocabularyTokens(t *testing.T) {
	out := filepath.Join(t.TempDir(), "p")
	_, errs, code := runCLI(t, "", "patch", "--clean", "Lily went to the park", "--corrupt", "Tim went", "--metric", "logit-diff: Tim, Lily", "--per", "layer", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "pair 1: the clean prompt has 9 tokens and the corrupt one 4; they are aligned at their last token") {
		t.Errorf("no note of the alignment: %q", errs)
	}
}

// TestAblateOneWindow: a standard error over one window is undefined and
// printed n/a, not NaN.
func TestAblateOneWindow(t *testing.T) {
	p := filepath.Join(t.TempDir(), "one.txt")
	if err := os.WriteFile(p, []byte("Once upon a time, there was a little girl named Lily."), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, errs, code := ivCLI(t, "ablate", "--intervene", "blocks.0.mlp.hook_post=0", "--corpus", "one="+p)
	if code != 0 || strings.Contains(stdout, "NaN") || !strings.Contains(stdout, "n/a") {
		t.Errorf("exit %d, stdout:\n%s\n%s", code, stdout, errs)
	}
}

func TestBenchHelpModel(t *testing.T) {
	_, errs, _ := runCLI(t, "", "bench", "-h")
	if strings.Contains(errs, "stories260K") || !strings.Contains(errs, "default: random weights of --shape") {
		t.Errorf("bench -h on --model: %s", errs)
	}
}
