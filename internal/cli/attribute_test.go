package cli

import (
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/glia-dev/glia/format/safetensors"
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
	if err := json.Unmarshal(run("ig", "--prompt", prompt, "--baseline", "mean", "--corpus", "../../testdata/corpora/udhr/eng.txt", "--target", " was", "--steps", "200", "--json"), &ig); err != nil {
		t.Fatal(err)
	}
	if ig.Relative > 0.01 {
		t.Errorf("ig --baseline mean: relative delta %g", ig.Relative)
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
	// AtP* on every head's query and key: the QK fix ranks the top 20 better
	// than the plain estimate (0.95 against 0.80 when written).
	var star struct {
		Checked int      `json:"checked"`
		Fixed   float64  `json:"spearman"`
		Plain   *float64 `json:"plain_spearman"`
	}
	if err := json.Unmarshal(run("atp", "--prompt", prompt, "--corrupt", "Once upon a time, there was a little boy named Tim. She", "--metric", "logit-diff:Lily,Tim", "--pos", "12",
		"--hook", "blocks.*.attn.hook_q,blocks.*.attn.hook_k", "--qk-fix", "--check", "20", "--json"), &star); err != nil {
		t.Fatal(err)
	}
	if star.Checked != 20 || star.Plain == nil || star.Fixed <= *star.Plain {
		t.Errorf("atp --qk-fix: checked %d, ρ %g, plain %v", star.Checked, star.Fixed, star.Plain)
	}
	if _, errs, code := ivCLI(t, "attribute", "dla", "--prompt", prompt, "--target", "a", "--metric", "logit-diff:a,b"); code != 2 || !strings.Contains(errs, "not both") {
		t.Errorf("--target with --metric: exit %d %s", code, errs)
	}
}

// TestAttributeSave: what --save writes re-reads equal to the --json
// output (as float32), and --plot draws a PNG that decodes or an SVG with
// its axis titles.
func TestAttributeSave(t *testing.T) {
	const (
		prompt  = "Once upon a time, there was a little girl named Lily. She"
		corrupt = "Once upon a time, there was a little boy named Tim. She"
	)
	dir := t.TempDir()
	run := func(out string, args ...string) (*safetensors.File, []byte) {
		t.Helper()
		st := filepath.Join(dir, out+".safetensors")
		args = append([]string{"attribute"}, append(args, "--json", "--save", st, "--plot", filepath.Join(dir, out))...)
		stdout, errs, code := ivCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		f, err := safetensors.Open(st)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f, []byte(stdout)
	}
	read := func(f *safetensors.File, name string) []float32 {
		t.Helper()
		v, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	same := func(what string, got []float32, want func(i int) float64, n int) {
		t.Helper()
		if len(got) != n {
			t.Fatalf("%s: %d values saved, %d in the JSON", what, len(got), n)
		}
		for i, g := range got {
			if w := float32(want(i)); g != w && !(g != g && w != w) {
				t.Fatalf("%s[%d]: saved %g, JSON %g", what, i, g, w)
			}
		}
	}

	f, out := run("dla.png", "dla", "--prompt", prompt, "--metric", "logit-diff:Lily,Tim", "--pos", "12")
	var dla struct {
		Completeness float64 `json:"completeness"`
		Components   []struct {
			Name  string  `json:"name"`
			Score float64 `json:"score"`
		} `json:"components"`
	}
	if err := json.Unmarshal(out, &dla); err != nil {
		t.Fatal(err)
	}
	same("dla.components", read(f, "dla.components"), func(i int) float64 { return dla.Components[i].Score }, len(dla.Components))
	var names []string
	if err := json.Unmarshal([]byte(f.Metadata()["dla.components"]), &names); err != nil {
		t.Fatal(err)
	}
	for i, c := range dla.Components {
		if names[i] != c.Name {
			t.Fatalf("component %d: saved name %q, JSON %q", i, names[i], c.Name)
		}
	}
	if got := f.Metadata()["completeness"]; got != strconv.FormatFloat(dla.Completeness, 'g', -1, 64) {
		t.Errorf("completeness: saved %s, JSON %g", got, dla.Completeness)
	}
	png1, err := os.Open(filepath.Join(dir, "dla.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer png1.Close()
	if _, err := png.Decode(png1); err != nil {
		t.Errorf("dla.png: %v", err)
	}

	for _, method := range []string{"ig", "gradxact"} {
		args := []string{method, "--prompt", prompt, "--target", " was", "--hook", "blocks.1.hook_resid_mid", "--top", "1000000"}
		if method == "ig" {
			args = append(args, "--steps", "8")
		}
		f, out := run(method+".svg", args...)
		var r struct {
			Shape []int     `json:"shape"`
			ByPos []float64 `json:"by_pos"`
			Top   []struct {
				Index []int   `json:"index"`
				Attr  float64 `json:"attr"`
			} `json:"top"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		same(method+".by_pos", read(f, method+".by_pos"), func(i int) float64 { return r.ByPos[i] }, len(r.ByPos))
		attr := read(f, method+".attr")
		if shape, _ := f.Shape(method + ".attr"); !slices.Equal(shape, r.Shape) {
			t.Errorf("%s.attr: shape %v, JSON %v", method, shape, r.Shape)
		}
		// Top lists every element (--top is large): each, by its index,
		// is the saved value.
		flat := func(i int) float64 {
			at := 0
			for d, x := range r.Top[i].Index {
				at = at*r.Shape[d] + x
			}
			return float64(attr[at])
		}
		same(method+".attr", f32(len(r.Top), flat), func(i int) float64 { return r.Top[i].Attr }, len(attr))
		svg, err := os.ReadFile(filepath.Join(dir, method+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(svg), "prompt token") || !strings.Contains(string(svg), "Lily") {
			t.Errorf("%s.svg lacks the axis title or the tokens", method)
		}
	}

	f, out = run("atp.svg", "atp", "--prompt", prompt, "--corrupt", corrupt, "--metric", "logit-diff:Lily,Tim", "--pos", "12", "--top", "1000000")
	var atp struct {
		Nodes []struct {
			Hook     string   `json:"hook"`
			Unit     int      `json:"unit"`
			Estimate float64  `json:"estimate"`
			Real     *float64 `json:"real"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(out, &atp); err != nil {
		t.Fatal(err)
	}
	n := len(atp.Nodes)
	same("atp.estimate", read(f, "atp.estimate"), func(i int) float64 { return atp.Nodes[i].Estimate }, n)
	same("atp.real", read(f, "atp.real"), func(i int) float64 {
		if atp.Nodes[i].Real == nil {
			return math.NaN()
		}
		return *atp.Nodes[i].Real
	}, n)
	same("atp.unit", read(f, "atp.unit"), func(i int) float64 { return float64(atp.Nodes[i].Unit) }, n)
	var hooks []string
	if err := json.Unmarshal([]byte(f.Metadata()["atp.hooks"]), &hooks); err != nil {
		t.Fatal(err)
	}
	for i, h := range read(f, "atp.hook") {
		if hooks[int(h)] != atp.Nodes[i].Hook {
			t.Fatalf("node %d: saved hook %q, JSON %q", i, hooks[int(h)], atp.Nodes[i].Hook)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "atp.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(svg), "AtP estimate") || !strings.Contains(string(svg), "component") {
		t.Errorf("atp.svg lacks its axis titles")
	}

	// AtP* adds the plain estimates and the GradDrop scores.
	f, out = run("atpstar.svg", "atp", "--prompt", prompt, "--corrupt", corrupt, "--metric", "logit-diff:Lily,Tim", "--pos", "12", "--top", "1000000",
		"--hook", "blocks.*.attn.hook_k", "--star")
	var star struct {
		Nodes []struct {
			Plain    *float64 `json:"plain"`
			GradDrop *float64 `json:"graddrop"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(out, &star); err != nil {
		t.Fatal(err)
	}
	n = len(star.Nodes)
	same("atp.plain", read(f, "atp.plain"), func(i int) float64 { return *star.Nodes[i].Plain }, n)
	same("atp.graddrop", read(f, "atp.graddrop"), func(i int) float64 { return *star.Nodes[i].GradDrop }, n)
}

func f32(n int, f func(int) float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(f(i))
	}
	return out
}
