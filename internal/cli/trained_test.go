package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKnownAnswerModelsTakeText: the committed known-answer models carry
// tokenizers, so atlas build, explain and patch run on text with them. The
// patching has known answers: in modular addition only the changed operand's
// embedding carries the change (effect exactly 1 there, 0 elsewhere), and the
// induction model's clean prompt predicts its repeated token.
func TestKnownAnswerModelsTakeText(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	var ind, mod, mod113 strings.Builder
	for range 40 {
		seq := make([]string, 12)
		for i := range seq {
			seq[i] = fmt.Sprint(1 + r.IntN(511))
		}
		fmt.Fprintln(&ind, strings.Join(append(seq, seq...), " "))
	}
	for a := range 53 {
		for b := 0; b < 53; b += 7 {
			fmt.Fprintf(&mod, "%d %d = %d\n", a, b, (a+b)%53)
		}
	}
	for a := range 113 {
		for b := 0; b < 113; b += 17 {
			fmt.Fprintf(&mod113, "%d %d = %d\n", a, b, (a+b)%113)
		}
	}
	// Only the changed operand's embedding carries the change.
	operand := func(t *testing.T, effect []float64, clean, corrupt float64) {
		want := []float64{0, 1, 0}
		for i := range want {
			if math.Abs(effect[i]-want[i]) > 1e-6 {
				t.Errorf("modadd: effect %v, want %v", effect, want)
				break
			}
		}
	}
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	seq := "300 301 302 303 304 305 306 307 308 309 310 311 312 313 314 315"
	for _, tc := range []struct {
		model, corpus, hooks, ctx string
		clean, corrupt, metric    string
		check                     func(t *testing.T, effect []float64, clean, corrupt float64)
	}{
		{"induction", write("induction.txt", ind.String()), "blocks.*.attn.hook_z", "32",
			seq + " " + strings.Join(strings.Fields(seq)[:14], " "), seq + " " + strings.Join(strings.Fields(seq)[:13], " ") + " 400", "logit-diff:314,315",
			func(t *testing.T, effect []float64, clean, corrupt float64) {
				// The clean run copies "314" from the first half; the
				// corrupt one ends differently and does not.
				if clean < 3 || clean-corrupt < 3 {
					t.Errorf("induction: metric clean %.3f, corrupt %.3f: the clean prompt should predict 314 by a wide margin", clean, corrupt)
				}
				if last := effect[len(effect)-1]; math.Abs(last-1) > 1e-5 {
					t.Errorf("induction: patching the last position's embedding recovers %.6f, want 1", last)
				}
			}},
		{"modadd53", write("modadd.txt", mod.String()), "blocks.*.mlp.hook_post", "3",
			"12 40 =", "12 41 =", "logit-diff:52,0", operand},
		{"modadd113", write("modadd113.txt", mod113.String()), "blocks.*.mlp.hook_post", "3",
			"70 50 =", "70 51 =", "logit-diff:7,8", operand},
		{"udhr-multilingual", "../../testdata/corpora/udhr/heldout/deu.txt", "blocks.*.mlp.hook_post", "64",
			"Alle Menschen sind frei", "Alle Menschen sind gleich", "",
			nil},
	} {
		t.Run(tc.model, func(t *testing.T) {
			model := filepath.Join("../../testdata/trained", tc.model)
			db := filepath.Join(dir, tc.model+".db")
			if _, errs, code := runCLI(t, "", "atlas", "build", "--model", model, "--corpus", tc.corpus, "--hooks", tc.hooks,
				"--ctx", tc.ctx, "--max-tokens", "3000", "--top-k", "5", "--out", db); code != 0 {
				t.Fatalf("atlas build: %s", errs)
			}
			out, errs, code := runCLI(t, "", "atlas", "show", "--db", db, "--json", strings.ReplaceAll(tc.hooks, "*", "0")+":1")
			if code != 0 {
				t.Fatalf("atlas show: %s", errs)
			}
			var unit struct {
				Top []struct {
					Tokens []int `json:"tokens"`
				} `json:"top"`
			}
			if err := json.Unmarshal([]byte(out), &unit); err != nil || len(unit.Top) == 0 {
				t.Fatalf("atlas show: %v; want top examples in %.300s", err, out)
			}
			if out, errs, code = runCLI(t, "", "explain", "--db", db, "--model", model, "--json", strings.ReplaceAll(tc.hooks, "*", "0")+":1"); code != 0 || !strings.Contains(out, `"label"`) {
				t.Fatalf("explain: %s %s", out, errs)
			}
			if tc.check == nil {
				return
			}
			out, errs, code = runCLI(t, "", "patch", "--model", model, "--clean", tc.clean, "--corrupt", tc.corrupt, "--metric", tc.metric,
				"--json", "--out", filepath.Join(dir, tc.model+"-patch"))
			if code != 0 {
				t.Fatalf("patch: %s", errs)
			}
			var p struct {
				Pairs []struct {
					Clean   float64     `json:"clean_metric"`
					Corrupt float64     `json:"corrupt_metric"`
					Effect  [][]float64 `json:"effect"`
				} `json:"pairs"`
			}
			if err := json.Unmarshal([]byte(out), &p); err != nil || len(p.Pairs) != 1 {
				t.Fatalf("patch: %v in %.300s", err, out)
			}
			pr := p.Pairs[0]
			tc.check(t, pr.Effect[0], pr.Clean, pr.Corrupt)
		})
	}
}
