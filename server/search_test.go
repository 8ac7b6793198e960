package server

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/explain"
)

// TestSearchTokenOneHitPerUnit: a query that matches several vocabulary
// entries (" the", "The", ...) lists each unit once, its matches summed.
func TestSearchTokenOneHitPerUnit(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	var sr api.SearchResponse
	if code := call(t, ts, "GET", "/api/search?token=the&limit=500", nil, &sr); code != 200 || sr.Total == 0 {
		t.Fatalf("search: %d %+v", code, sr)
	}
	if len(sr.Tokens) < 2 {
		t.Fatalf("want a query matching several vocabulary entries, got %q", sr.Tokens)
	}
	seen := map[string]bool{}
	for _, h := range sr.Hits {
		if seen[h.ID] {
			t.Errorf("unit %s listed twice", h.ID)
		}
		seen[h.ID] = true
	}
	// The summed matches rank the results.
	for i := 1; i < len(sr.Hits); i++ {
		if sr.Hits[i].Matches > sr.Hits[i-1].Matches {
			t.Fatalf("hits not ranked by matches at %d", i)
		}
	}
}

// TestSearchShowsLabels: once units are explained, every search lists their
// labels, not only label searches.
func TestSearchShowsLabels(t *testing.T) {
	m, src := testModelAtlas(t)
	db := filepath.Join(t.TempDir(), "explained.db")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, b, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := atlas.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	store, err := explain.OpenStore(a.DB())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutExplanations([]*explain.Explanation{{Hook: "blocks.2.mlp.hook_post", Unit: 5, Label: "planted label"}}); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Atlas: a, Model: m})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s)
	defer ts.Close()
	var sr api.SearchResponse
	if code := call(t, ts, "GET", "/api/search?hook=blocks.2.mlp.hook_post&limit=10", nil, &sr); code != 200 || len(sr.Hits) < 6 {
		t.Fatalf("search: %d %+v", code, sr)
	}
	for _, h := range sr.Hits {
		if want := map[bool]string{true: "planted label"}[h.Unit == 5]; h.Label != want {
			t.Errorf("%s: label %q, want %q", h.ID, h.Label, want)
		}
	}
}
