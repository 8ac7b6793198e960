package cli

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/concepts"
	"github.com/parquet-go/parquet-go"
)

// TestConceptsCLI runs glia concepts on the multilingual model over three
// languages and reads every output back: the CSV and Parquet tables hold
// the same rows, each unit links to its page, the JSON report has the
// matrices, and the heat maps are drawn.
func TestConceptsCLI(t *testing.T) {
	dir := t.TempDir()
	udhr := "../../testdata/corpora/udhr"
	args := []string{"concepts", "--model", "../../testdata/trained/udhr-multilingual", "--max-tokens", "1500",
		"--method", "lape,culnig", "--amplify", "2", "--generate", "2", "--gen-len", "8",
		"--csv", filepath.Join(dir, "u.csv"), "--parquet", filepath.Join(dir, "u.parquet"), "--json", filepath.Join(dir, "r.json"), "--plot", filepath.Join(dir, "m.png")}
	for _, l := range []string{"deu", "tha", "rus"} {
		args = append(args, "--corpus", l+"="+udhr+"/train/"+l+".txt", "--eval", l+"="+udhr+"/heldout/"+l+".txt")
	}
	stdout, errs, code := ivCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"== lape", "== culnig", "units per layer: L0", "loss change with each concept's units zero", "×2", "own units raise own loss most", "generations with each concept's units ×2"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	f, err := os.Open(filepath.Join(dir, "u.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("csv: %v, %d records", err, len(recs))
	}
	for _, r := range recs[1:] {
		if r[6] != "/neuron/"+r[2]+"/"+r[3] || !strings.HasPrefix(r[2], "blocks.") {
			t.Fatalf("row %v: link %q", r, r[6])
		}
	}
	pq, err := parquet.ReadFile[struct {
		Method string `parquet:"method"`
		Link   string `parquet:"link"`
	}](filepath.Join(dir, "u.parquet"))
	if err != nil || len(pq) != len(recs)-1 || pq[0].Link != recs[1][6] {
		t.Errorf("parquet: %v, %d rows for %d in the CSV", err, len(pq), len(recs)-1)
	}
	b, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep concepts.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Methods) != 2 || rep.Methods[1].Shift == nil || len(rep.Methods[1].Shift.Share) != 4 || len(rep.Methods[0].Verify) != 2 || len(rep.Methods[0].Verify[0].Cells) != 3 || len(rep.Methods[0].Verify[0].Cells[0]) != 3 {
		t.Errorf("report shape: %d methods", len(rep.Methods))
	}
	for _, m := range []string{"lape", "culnig"} {
		if st, err := os.Stat(filepath.Join(dir, "m-"+m+".png")); err != nil || st.Size() == 0 {
			t.Errorf("heat map for %s: %v", m, err)
		}
	}
}

func TestConceptsUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"concepts", "--corpus", "a=x"}, "at least two --corpus"},
		{[]string{"concepts", "--corpus", "a=x", "--corpus", "b=y", "--method", "lapes"}, `unknown method "lapes"`},
		{[]string{"concepts", "--corpus", "a=x", "--corpus", "b=y", "--verify", "half"}, "--verify must be zero, aura or none"},
	} {
		_, errs, code := ivCLI(t, tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %s", tc.args, code, errs)
		}
	}
}
