package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/api"
)

// TestAttrGraphCLI: glia attribute graph prints the targets, the sizes and
// the completeness, and --out writes the same graph --json prints; bad
// thresholds are usage errors.
func TestAttrGraphCLI(t *testing.T) {
	const prompt = "Once upon a time, there was a little girl named Lily. She"
	out := filepath.Join(t.TempDir(), "g.json")
	text, errs, code := ivCLI(t, "attribute", "graph", "--prompt", prompt, "--max-nodes", "40", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"targets:", "selected 40", "completeness error", "wrote " + out} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var file, printed api.AttrGraph
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	js, _, _ := ivCLI(t, "attribute", "graph", "--prompt", prompt, "--max-nodes", "40", "--json")
	if err := json.Unmarshal([]byte(js), &printed); err != nil {
		t.Fatal(err)
	}
	if len(file.Nodes) == 0 || len(file.Nodes) != len(printed.Nodes) || len(file.Edges) != len(printed.Edges) {
		t.Errorf("--out has %d nodes, %d edges; --json %d, %d", len(file.Nodes), len(file.Edges), len(printed.Nodes), len(printed.Edges))
	}
	if _, errs, code := ivCLI(t, "attribute", "graph", "--prompt", prompt, "--edge-threshold", "2"); code != 2 || !strings.Contains(errs, "edge-threshold") {
		t.Errorf("--edge-threshold 2: exit %d: %s", code, errs)
	}
}
