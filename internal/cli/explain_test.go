package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/atlas/atlastest"
)

// fakeAtlas builds a small atlas of the fake model (no engine needed).
func fakeAtlas(t *testing.T) string {
	t.Helper()
	old := atlasModelOpener
	atlasModelOpener = func(*modelFlags) (atlas.Model, error) { return atlastest.New(2, 6), nil }
	defer func() { atlasModelOpener = old }()
	dir := t.TempDir()
	text := strings.Repeat("the cat sat on the mat. a dog ran to the red ball. ", 40)
	if err := os.WriteFile(filepath.Join(dir, "c.txt"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "a.db")
	_, errs, code := runCLI(t, "", "atlas", "build", "--corpus", filepath.Join(dir, "c.txt"), "--out", db, "--ctx", "32", "--json")
	if code != 0 {
		t.Fatalf("atlas build: exit %d: %s", code, errs)
	}
	return db
}

func TestExplainCLI(t *testing.T) {
	db := fakeAtlas(t)
	out, errs, code := runCLI(t, "", "explain", "--db", db, "--no-model", "--all")
	if code != 0 || !strings.Contains(out, "stored explanations of 12 units") || !strings.Contains(out, "no-LLM label scores: 12 units") {
		t.Fatalf("explain --all: exit %d\n%s\n%s", code, out, errs)
	}
	t.Log(out)
	out, errs, code = runCLI(t, "", "explain", "--db", db, "--no-model", "blocks.1.mlp.hook_post:2")
	if code != 0 || !strings.Contains(out, "label       fires on") || !strings.Contains(out, "score") || !strings.Contains(out, "facets") {
		t.Fatalf("explain UNIT: exit %d\n%s\n%s", code, out, errs)
	}
	out, _, code = runCLI(t, "", "explain", "--db", db, "--no-model", "--json", "blocks.0.mlp.hook_post:1")
	var e struct {
		Label string   `json:"label"`
		Score *float64 `json:"score"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &e) != nil || e.Label == "" {
		t.Fatalf("--json: exit %d: %s", code, out)
	}
	// Search by label words and by input token.
	out, errs, code = runCLI(t, "", "atlas", "search", "--db", db, "--text", "fires")
	if code != 0 || !strings.Contains(out, "label matches 1 of 1 words") {
		t.Fatalf("search --text: exit %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = runCLI(t, "", "atlas", "search", "--db", db, "--token", "t", "--json")
	if code != 0 || !strings.Contains(out, `"why":"fires on \"t\"`) {
		t.Fatalf("search --token: exit %d\n%s\n%s", code, out, errs)
	}
	if _, _, code := runCLI(t, "", "explain", "--db", db); code != 2 {
		t.Fatalf("no unit and no --all: exit %d, want 2", code)
	}
}

// TestExplainCLILLMErrors: an endpoint that keeps failing is reported to
// the user with its status and message; the no-LLM explanation still stands.
func TestExplainCLILLMErrors(t *testing.T) {
	db := fakeAtlas(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k123" {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		http.Error(w, `{"error":{"message":"quota exceeded"}}`, http.StatusBadRequest)
	}))
	defer srv.Close()
	t.Setenv("GLIA_TEST_LLM_KEY", "k123")
	out, errs, code := runCLI(t, "", "explain", "--db", db, "--no-model", "--llm", srv.URL+"/v1", "--llm-key-env", "GLIA_TEST_LLM_KEY", "blocks.0.mlp.hook_post:0")
	if code != 0 || !strings.Contains(out, "llm error   explanation: llm: "+srv.URL+"/v1/chat/completions: HTTP 400 Bad Request") || !strings.Contains(out, "quota exceeded") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
}

// TestSearchSplitsToken: a --token that is several tokens of the vocabulary
// says so and searches its pieces instead of answering "no unit found".
func TestSearchSplitsToken(t *testing.T) {
	db := fakeAtlas(t)
	if _, errs, code := runCLI(t, "", "explain", "--db", db, "--no-model", "--all"); code != 0 {
		t.Fatalf("explain: %s", errs)
	}
	out, errs, code := runCLI(t, "", "atlas", "search", "--db", db, "--token", "ta", "--json")
	if code != 0 || !strings.Contains(errs, `"ta" is 2 tokens in this vocabulary ([" t" "a"])`) || !strings.Contains(out, `fires on \"a\"`) {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
}
