package cli

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/hook"
	"github.com/glia-dev/glia/sae"
	"github.com/gomlx/gomlx/core/graph"
)

// TestTranscoderTrainEvalAttach trains a transcoder and a skip transcoder
// (blocks.1's MLP input → output) in one pass, resumes, evaluates them,
// and attaches one with --sae: its features are
// blocks.1.hook_mlp_out.hook_sae_acts_post, equal to its own Encode of
// the MLP input, and the unedited logits are bit-identical.
func TestTranscoderTrainEvalAttach(t *testing.T) {
	const in, out = "blocks.1.ln2.hook_normalized", "blocks.1.hook_mlp_out"
	dir := t.TempDir()
	train := []string{"sae", "train", "--transcoder", "--hook", in, "--hook-out", out, "--arch", "topk,standard", "--k", "4", "--d-sae", "64",
		"--batch", "128", "--buffer", "512", "--ctx", "32", "--windows", "4", "--checkpoint-every", "3", "--log-every", "3", "--out", dir}
	stdout, errs, code := runCLI(t, "", append(train, "--steps", "4")...)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, errs)
	}
	tdir := filepath.Join(dir, in+".topk")
	if !strings.Contains(stdout, "wrote "+tdir+": topk_transcoder, d_in 64, d_sae 64, 4 steps") {
		t.Errorf("stdout %q", stdout)
	}
	stdout, errs, code = runCLI(t, "", append(train, "--steps", "6", "--resume")...)
	if code != 0 || !strings.Contains(stdout, "6 steps") {
		t.Fatalf("resume: exit %d: %s %s", code, stdout, errs)
	}
	skipDir := filepath.Join(t.TempDir(), "skip")
	if _, errs, code := runCLI(t, "", "sae", "train", "--transcoder", "--skip", "--hook", in, "--hook-out", out, "--arch", "standard", "--l1", "0.5",
		"--d-sae", "64", "--batch", "128", "--buffer", "512", "--ctx", "32", "--windows", "4", "--steps", "4", "--out", skipDir); code != 0 {
		t.Fatalf("skip: exit %d: %s", code, errs)
	}
	skipDir = filepath.Join(skipDir, in)
	s, err := sae.LoadTranscoderFor(skipDir, "", in, out)
	if err != nil || !s.Cfg.Skip || len(s.WSkip) != 64*64 || s.Cfg.ArchitectureName() != "skip_transcoder" {
		t.Fatalf("skip transcoder: %v %+v", err, s.Cfg)
	}

	stdout, errs, code = runCLI(t, "", "sae", "eval", "--sae", tdir, "--sae", skipDir, "--ctx", "32", "--windows", "4", "--max-tokens", "256", "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, errs)
	}
	var rows []saeEvalRow
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("eval json %q: %v", stdout, err)
	}
	for _, r := range rows {
		if r.HookOut != out || r.Vectors != 256 || r.L0 <= 0 || math.IsNaN(r.CEScore) || r.CEZero <= r.CEClean || r.SpliceMaxDiff > 1e-4 || r.ExplainedVar > 1 {
			t.Errorf("eval row %+v", r)
		}
	}

	// --sae attaches it: features are a hook point; unedited, nothing changes.
	ids := [][]int32{{1, 403, 407, 261, 378, 9}}
	plain, err := engine.Load("")
	if err != nil {
		t.Fatal(err)
	}
	base, err := plain.Run(engine.Request{IDs: ids, Hooks: []string{in}})
	if err != nil {
		t.Fatal(err)
	}
	mf := modelFlags{saes: []string{skipDir}}
	m, err := mf.load()
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run(engine.Request{IDs: ids, Hooks: []string{out + hook.SAEActs}})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(res.Logits.Data, base.Logits.Data); d != 0 {
		t.Errorf("unedited transcoder changed the logits by %g", d)
	}
	want := s.Encode(base.Acts[in].Data, len(ids[0]))
	if d := maxAbsDiff(res.Acts[out+hook.SAEActs].Data, want); d > 1e-4 {
		t.Errorf("feature hook differs from the transcoder's Encode by %g", d)
	}

	// A clamp of a feature changes the logits by the decoder's image alone.
	feat := out + hook.SAEActs
	ed, err := m.Run(engine.Request{IDs: ids, Interventions: []engine.Intervention{{Hook: feat, Key: "clamp", Fn: func(f *graph.Node) *graph.Node {
		return graph.Add(f, graph.OnePlus(graph.ZerosLike(f)))
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(ed.Logits.Data, base.Logits.Data); d < 1e-3 {
		t.Errorf("adding 1 to every feature changed the logits by only %g", d)
	}
	// atlas build records the features as units; explain gives them the
	// logit lens of their output directions.
	db := filepath.Join(t.TempDir(), "atlas.db")
	if _, errs, code := runCLI(t, "", "atlas", "build", "--sae", skipDir, "--hooks", feat, "--ctx", "32", "--max-tokens", "512", "--top-k", "3", "--out", db); code != 0 {
		t.Fatalf("atlas build --sae: %s", errs)
	}
	exOut, errs, code := runCLI(t, "", "explain", "--db", db, "--sae", skipDir, "--json", feat+":0")
	var ex struct {
		Lens *struct {
			Promoted []struct{} `json:"promoted"`
		} `json:"lens"`
	}
	if code != 0 || json.Unmarshal([]byte(exOut), &ex) != nil || ex.Lens == nil || len(ex.Lens.Promoted) == 0 {
		t.Errorf("explain --sae of a transcoder feature: exit %d: %s %.300s", code, errs, exOut)
	}

	// A transcoder for other hooks names both.
	if _, err := sae.LoadTranscoderFor(skipDir, "", "blocks.0.ln2.hook_normalized", "blocks.0.hook_mlp_out"); err == nil ||
		!strings.Contains(err.Error(), `"`+in+`" → "`+out+`"`) || !strings.Contains(err.Error(), `"blocks.0.ln2.hook_normalized" → "blocks.0.hook_mlp_out"`) {
		t.Errorf("mismatch error: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sae", "train", "--transcoder", "--hook", in}, "one --hook-out per --hook"},
		{[]string{"sae", "train", "--skip", "--hook", in}, "need --transcoder"},
		{[]string{"sae", "train", "--transcoder", "--hook", "blocks.*.ln2.hook_normalized", "--hook-out", out}, "they pair in order"},
	} {
		if _, errs, code := runCLI(t, "", tc.args...); code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d, %q; want %q", tc.args, code, errs, tc.want)
		}
	}
}
