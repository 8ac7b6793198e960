package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCircuitsCLI: glia circuits path gives the three paths with their
// influence; glia circuits heads on the induction model names the
// previous-token head into an induction head's key first and writes the
// heat map; the usage mistakes say what is missing.
func TestCircuitsCLI(t *testing.T) {
	out, errs, code := ivCLI(t, "circuits", "path", "--prompt", "The cat sat on the", "--json")
	if code != 0 {
		t.Fatalf("circuits path: exit %d: %s", code, errs)
	}
	var path struct {
		Prob  float64 `json:"prob"`
		Paths []struct {
			Method      string  `json:"method"`
			Neurons     []int   `json:"neurons"`
			Deactivated float64 `json:"prob_deactivated"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(out), &path); err != nil {
		t.Fatal(err)
	}
	if len(path.Paths) != 3 || path.Paths[0].Method != "joint" || len(path.Paths[0].Neurons) != 5 || path.Paths[0].Deactivated >= path.Prob {
		t.Errorf("circuits path: %+v", path)
	}

	dir := t.TempDir()
	prefix := filepath.Join(dir, "ind")
	out, errs, code = ivCLI(t, "circuits", "heads", "--model", "../../testdata/trained/induction", "--induction", "4", "--out", prefix, "--top", "3")
	if code != 0 {
		t.Fatalf("circuits heads: exit %d: %s", code, errs)
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[3], "0.3 → 1.") || !strings.Contains(lines[3], "k ") {
		t.Errorf("circuits heads: want 0.3 → 1.Hk first, got:\n%s", out)
	}
	for _, ext := range []string{".json", ".png", ".svg"} {
		if st, err := os.Stat(prefix + ext); err != nil || st.Size() == 0 {
			t.Errorf("%s%s: %v", prefix, ext, err)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"circuits", "heads"}, "--induction N"},
		{[]string{"circuits", "path"}, "--prompts FILE"},
		{[]string{"circuits", "path", "--prompts", "x.txt", "--target", "a"}, "--target goes with --prompt"},
	} {
		_, errs, code := ivCLI(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}
