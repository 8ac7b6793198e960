package cli

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/format/safetensors"
	"github.com/glia-dev/glia/sae"
)

// TestSAETrainResumeEval trains two SAEs on one hook in one pass over the
// embedded corpus, resumes from the checkpoint, and evaluates the result.
func TestSAETrainResumeEval(t *testing.T) {
	out := t.TempDir()
	train := []string{"sae", "train", "--hook", "blocks.0.hook_resid_post", "--arch", "topk,jumprelu", "--k", "4", "--d-sae", "64",
		"--batch", "128", "--buffer", "512", "--ctx", "32", "--windows", "4", "--checkpoint-every", "3", "--log-every", "3", "--out", out}
	stdout, errs, code := runCLI(t, "", append(train, "--steps", "6")...)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "step 3 ") || !strings.Contains(errs, "topk: loss") || !strings.Contains(errs, "dead ") {
		t.Errorf("no progress lines with loss and dead fraction: %q", errs)
	}
	dir := filepath.Join(out, "blocks.0.hook_resid_post.topk")
	if !strings.Contains(stdout, "wrote "+dir+": topk, d_in 64, d_sae 64, 6 steps") {
		t.Errorf("stdout %q", stdout)
	}
	s, err := sae.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Cfg.Metadata.HookName != "blocks.0.hook_resid_post" || s.Cfg.K != 4 || s.Sparsity == nil {
		t.Errorf("cfg %+v", s.Cfg)
	}
	if j, err := sae.Load(filepath.Join(out, "blocks.0.hook_resid_post.jumprelu")); err != nil || len(j.Threshold) != 64 {
		t.Fatalf("jumprelu: %v", err)
	}
	if _, errs, code := runCLI(t, "", append(train, "--steps", "9")...); code == 0 || !strings.Contains(errs, "pass --resume") {
		t.Errorf("training over a checkpoint: exit %d, %q", code, errs)
	}
	stdout, errs, code = runCLI(t, "", append(train, "--steps", "9", "--resume")...)
	if code != 0 || !strings.Contains(errs, "resuming at step 6") || !strings.Contains(stdout, "9 steps") {
		t.Fatalf("resume: exit %d: %s %s", code, stdout, errs)
	}
	stdout, errs, code = runCLI(t, "", "sae", "eval", "--sae", dir, "--ctx", "32", "--windows", "4", "--max-tokens", "256", "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, errs)
	}
	var rows []saeEvalRow
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("eval json %q: %v", stdout, err)
	}
	r := rows[0]
	if r.Vectors != 256 || r.L0 > 4 || r.L0 <= 0 || math.IsNaN(r.CEScore) || r.CEZero <= r.CEClean || r.SpliceMaxDiff > 1e-4 {
		t.Errorf("eval row %+v", r)
	}
}

func TestSAEUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"sae", "train"}, 2, "missing --hook"},
		{[]string{"sae", "train", "--hook", "blocks.0.hook_resid_post", "--batch", "10", "--buffer", "5"}, 2, "at most --buffer"},
		{[]string{"sae", "train", "--hook", "blocks.0.hook_resid_post", "--device", "cuda"}, 1, "SAE training runs on the CPU"},
		{[]string{"sae", "train", "--hook", "blocks.0.attn.hook_pattern", "--out", t.TempDir()}, 1, "an SAE reads one vector per position"},
		{[]string{"sae", "eval"}, 2, "missing --sae"},
		{[]string{"sae", "snmf"}, 2, "missing --hook"},
		{[]string{"sae", "eval", "--sae", t.TempDir()}, 1, "cannot read the SAE's config"},
	} {
		_, errs, code := runCLI(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}

func TestSAESNMF(t *testing.T) {
	out := filepath.Join(t.TempDir(), "f.safetensors")
	stdout, errs, code := runCLI(t, "", "sae", "snmf", "--hook", "blocks.1.mlp.hook_post", "--rank", "4", "--tokens", "96", "--iters", "30", "--ctx", "32", "--out", out)
	if code != 0 || !strings.Contains(stdout, "over 96 tokens: rank 4, svd start") {
		t.Fatalf("exit %d: %s %s", code, stdout, errs)
	}
	f, err := safetensors.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if s, _ := f.Shape("G"); len(s) != 2 || s[0] != 96 || s[1] != 4 {
		t.Errorf("G has shape %v", s)
	}
}
