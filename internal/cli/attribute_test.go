package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAttributeCLI runs each method on stories260K through the command
// line and checks its JSON: DLA's completeness, the lens's last row, IG's
// delta.
func TestAttributeCLI(t *testing.T) {
	const prompt = "Once upon a time, there was a little girl named Lily. She"
	run := func(args ...string) []byte {
		t.Helper()
		out, errs, code := ivCLI(t, append([]string{"attribute"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		return []byte(out)
	}
	var dla struct {
		Completeness float64 `json:"completeness"`
		Components   []any   `json:"components"`
	}
	if err := json.Unmarshal(run("dla", "--prompt", prompt, "--metric", "logit-diff:Lily,Tim", "--pos", "12", "--json"), &dla); err != nil {
		t.Fatal(err)
	}
	if dla.Completeness > 1e-4 || len(dla.Components) < 100 {
		t.Errorf("dla: completeness %g, %d components", dla.Completeness, len(dla.Components))
	}
	var lens struct {
		Layers []struct {
			Rank int `json:"target_rank"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(run("lens", "--prompt", prompt, "--json"), &lens); err != nil {
		t.Fatal(err)
	}
	// Without --target the target is the model's top token: rank 0 at the end.
	if n := len(lens.Layers); n != 6 || lens.Layers[n-1].Rank != 0 {
		t.Errorf("lens: %+v", lens.Layers)
	}
	var ig struct {
		Relative float64   `json:"relative_delta"`
		ByPos    []float64 `json:"by_pos"`
	}
	if err := json.Unmarshal(run("ig", "--prompt", prompt, "--baseline", "Once upon a time, there was a little boy named Tim. She", "--target", " was", "--objective", "logprob", "--json"), &ig); err != nil {
		t.Fatal(err)
	}
	if ig.Relative > 0.01 || len(ig.ByPos) == 0 {
		t.Errorf("ig: relative delta %g, by_pos %v", ig.Relative, ig.ByPos)
	}
	out := string(run("gradxact", "--prompt", prompt, "--hook", "blocks.1.mlp.hook_post", "--objective", "loss", "--top", "2"))
	if !strings.Contains(out, "gradxact of next-token loss") || !strings.Contains(out, `" Lily"`) {
		t.Errorf("gradxact:\n%s", out)
	}
	var atp struct {
		Checked  int     `json:"checked"`
		Spearman float64 `json:"spearman"`
	}
	if err := json.Unmarshal(run("atp", "--prompt", prompt, "--corrupt", "Once upon a time, there was a little boy named Tim. She", "--metric", "logit-diff:Lily,Tim", "--pos", "12", "--json"), &atp); err != nil {
		t.Fatal(err)
	}
	if atp.Checked != 10 || atp.Spearman < 0.5 {
		t.Errorf("atp: checked %d, ρ %g", atp.Checked, atp.Spearman)
	}
	if _, errs, code := ivCLI(t, "attribute", "dla", "--prompt", prompt, "--target", "a", "--metric", "logit-diff:a,b"); code != 2 || !strings.Contains(errs, "not both") {
		t.Errorf("--target with --metric: exit %d %s", code, errs)
	}
}
