package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/concepts"
)

var conceptTexts = []api.ConceptCorpus{
	{Name: "animals", Texts: []string{"The dog ran after the ball", "The cat sat on the mat", "A bird sang in the tree", "The puppy barked at the cat"}},
	{Name: "food", Texts: []string{"Mom made a big cake", "They ate apples and bread", "The soup was hot and good", "She had milk and cookies"}},
}

// TestConceptsAPI: /api/concepts gives the units and the loss matrix that
// the concepts package gives on the same windows (the texts encoded as the
// server encodes prompts); bad requests are 400s, too many texts 413.
func TestConceptsAPI(t *testing.T) {
	s, ts := newTestServer(t, Config{Limits: Limits{MaxStimuli: 12}})
	var r api.ConceptsResponse
	if code := call(t, ts, "POST", "/api/concepts", api.ConceptsRequest{Corpora: conceptTexts, Rate: 0.02}, &r); code != 200 {
		t.Fatalf("status %d", code)
	}
	var rep struct {
		Methods []struct {
			Method string `json:"method"`
			Units  []struct {
				Concept, Name, Link string
			} `json:"units"`
			Verify []struct {
				Concepts, Corpora []string
				Cells             [][]struct {
					Delta float64 `json:"delta"`
				} `json:"cells"`
			} `json:"verify"`
		} `json:"methods"`
	}
	if err := json.Unmarshal(r.Report, &rep); err != nil {
		t.Fatal(err)
	}
	// The same computation through the package.
	m := s.cfg.Model
	hooks, err := m.MatchHooks("blocks.*.mlp.hook_post")
	if err != nil {
		t.Fatal(err)
	}
	var stats []*concepts.Stats
	for _, c := range conceptTexts {
		var wins [][]int32
		for _, text := range c.Texts {
			ids, err := m.Encode(text, true)
			if err != nil {
				t.Fatal(err)
			}
			wins = append(wins, ids)
		}
		st, err := concepts.Collect(m, c.Name, wins, concepts.Options{Hooks: hooks})
		if err != nil {
			t.Fatal(err)
		}
		stats = append(stats, st)
	}
	want, err := concepts.Find(concepts.MeanDiff, stats, concepts.Params{Rate: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Methods) != 1 || rep.Methods[0].Method != string(concepts.MeanDiff) || len(rep.Methods[0].Units) != len(want.Rows) || len(want.Rows) == 0 {
		t.Fatalf("report %+v, want %d units", rep.Methods, len(want.Rows))
	}
	for i, u := range rep.Methods[0].Units {
		if w := want.Rows[i]; u.Name != w.Name || u.Concept != w.Concept || !strings.HasPrefix(u.Link, "/neuron/") {
			t.Errorf("unit %d: %+v, want %s for %s", i, u, w.Name, w.Concept)
		}
	}
	v := rep.Methods[0].Verify
	if len(v) != 1 || len(v[0].Cells) != 2 || len(v[0].Cells[0]) != 2 {
		t.Fatalf("verification %+v", v)
	}
	for _, tc := range []struct {
		req  api.ConceptsRequest
		code int
		says string
	}{
		{api.ConceptsRequest{Corpora: conceptTexts[:1]}, http.StatusBadRequest, "at least two"},
		{api.ConceptsRequest{Corpora: []api.ConceptCorpus{conceptTexts[0], conceptTexts[0]}}, http.StatusBadRequest, "given twice"},
		{api.ConceptsRequest{Corpora: conceptTexts, Verify: "maybe"}, http.StatusBadRequest, `verify "maybe"`},
		{api.ConceptsRequest{Corpora: conceptTexts, Methods: "vibes"}, http.StatusBadRequest, "methods"},
		{api.ConceptsRequest{Corpora: conceptTexts, Hooks: "blocks.*.mlp.hook_psot"}, http.StatusBadRequest, "hooks"},
		{api.ConceptsRequest{Corpora: append(conceptTexts, api.ConceptCorpus{Name: "x", Texts: conceptTexts[0].Texts}, api.ConceptCorpus{Name: "y", Texts: conceptTexts[1].Texts})}, http.StatusRequestEntityTooLarge, "limit is 12"},
	} {
		var e api.Error
		if code := call(t, ts, "POST", "/api/concepts", tc.req, &e); code != tc.code || !strings.Contains(e.Error, tc.says) {
			t.Errorf("%+v: %d %q, want %d with %q", tc.req, code, e.Error, tc.code, tc.says)
		}
	}
}

// TestBrowserConcepts: the Concepts page runs the defaults and shows the
// units (linked to their pages) and the concepts × corpora matrix.
func TestBrowserConcepts(t *testing.T) {
	ctx := browser(t)
	_, ts := newTestServer(t, Config{})
	step(t, ctx, "concepts", chromedp.Navigate(ts.URL+"/concepts"), ready(), chromedp.Click(chromedp.CSS("#k-run")),
		chromedp.WaitVisible(chromedp.CSS("#k-matrix")))
	if n := eval[int](t, ctx, `document.querySelectorAll("#k-matrix td.k-cell").length`); n != 4 {
		t.Errorf("%d matrix cells, want 2 concepts × 2 corpora", n)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#k-units a[href^='/neuron/']").length`); n == 0 {
		t.Error("no unit links")
	}
	screenshot(t, ctx, "concepts")
}
