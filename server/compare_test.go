package server

import (
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/compare/source"
)

// TestCompareAPI: /api/compare is glia compare over the request's prompts:
// the hooks against themselves have a unit diagonal; a recording sent as
// noiseless repetitions of one layer (rows shuffled, aligned by id) scores
// 1 at that layer under a noise ceiling of 1; bad settings are 400s and
// too many prompts 413.
func TestCompareAPI(t *testing.T) {
	s, ts := newTestServer(t, Config{Limits: Limits{MaxStimuli: 8}})
	prompts := []string{"Once upon a time", "Lily went to the park", "The dog ran", "She saw a bird", "Tom had a red ball", "The sun was hot"}
	ids := []string{"p0", "p1", "p2", "p3", "p4", "p5"}
	var self api.CompareResponse
	if code := call(t, ts, "POST", "/api/compare", api.CompareRequest{A: "blocks.*.hook_resid_post", Prompts: prompts, Method: "cka"}, &self); code != 200 {
		t.Fatalf("status %d", code)
	}
	if len(self.Rows) < 2 || len(self.Rows) != len(self.Cols) || self.Stimuli != len(prompts) {
		t.Fatalf("%d×%d over %d stimuli", len(self.Rows), len(self.Cols), self.Stimuli)
	}
	for i := range self.Values {
		if math.Abs(self.Values[i][i]-1) > 1e-9 {
			t.Errorf("[%d][%d] = %g, want 1", i, i, self.Values[i][i])
		}
	}

	stimuli, err := source.PromptStimuli(s.cfg.Model, prompts, ids)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := source.HookMatrices(s.cfg.Model, "blocks.1.hook_resid_post", stimuli, source.Pool{Kind: "last"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	order := []int{3, 0, 5, 1, 4, 2}
	rec := &api.CompareMatrix{Name: "rec"}
	for k := 0; k < 3; k++ {
		var rows [][]float64
		for _, i := range order {
			rows = append(rows, ms[0].X.RawRowView(i))
		}
		rec.Reps = append(rec.Reps, rows)
	}
	for _, i := range order {
		rec.IDs = append(rec.IDs, ids[i])
	}
	var r api.CompareResponse
	req := api.CompareRequest{A: "blocks.*.hook_resid_post", Prompts: prompts, IDs: ids, Method: "rsa", RDM: "euclidean", Compare: "pearson", Recording: rec}
	if code := call(t, ts, "POST", "/api/compare", req, &r); code != 200 {
		t.Fatalf("status %d", code)
	}
	if r.Ceiling == nil || math.Abs(r.Ceiling.Lower-1) > 1e-9 || math.Abs(r.Ceiling.Upper-1) > 1e-9 || math.Abs(r.Values[1][0]-1) > 1e-6 || len(r.Cols) != 1 {
		t.Errorf("recording of layer 1: %+v", r)
	}

	for _, tc := range []struct {
		req  api.CompareRequest
		code int
		says string
	}{
		{api.CompareRequest{A: "blocks.*.hook_resid_post", Prompts: prompts, Method: "nope"}, http.StatusBadRequest, `method "nope"`},
		{api.CompareRequest{A: "blocks.*.hook_resid_post", Prompts: prompts, Method: "rsa", Compare: "x"}, http.StatusBadRequest, `compare "x"`},
		{api.CompareRequest{A: "blocks.*.hook_resid_post", Prompts: prompts, Topo: []float64{0.5, 0.1}, Method: "rsa"}, http.StatusBadRequest, "quantiles"},
		{api.CompareRequest{A: "blocks.*.hook_resid_post", Prompts: append(prompts, prompts...)}, http.StatusRequestEntityTooLarge, "the limit is 8"},
		{api.CompareRequest{A: "blocks.*.nope", Prompts: prompts}, http.StatusBadRequest, "no hook point matches"},
		{api.CompareRequest{A: "blocks.*.hook_resid_post", B: "hook_embed", Recording: rec, Prompts: prompts}, http.StatusBadRequest, "not both"},
		{api.CompareRequest{A: "blocks.*.hook_resid_post", Prompts: prompts[:5], IDs: ids[:5], Recording: rec}, http.StatusBadRequest, "only in the second"},
		{api.CompareRequest{A: "blocks.*.attn.hook_pattern", Prompts: prompts}, http.StatusBadRequest, "position axes"},
	} {
		var e api.Error
		if code := call(t, ts, "POST", "/api/compare", tc.req, &e); code != tc.code || !strings.Contains(e.Error, tc.says) {
			t.Errorf("%+v: %d %q, want %d saying %q", tc.req, code, e.Error, tc.code, tc.says)
		}
	}
}
