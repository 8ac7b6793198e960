package server

import (
	"strings"
	"testing"

	"github.com/glia-dev/glia/api"
)

// TestAttribute: each method through POST /api/attribute, with its check
// figure, and the request errors.
func TestAttribute(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	const prompt = "Once upon a time, there was a little girl named Lily. She"
	pos := 12
	for _, tc := range []struct {
		req      api.AttributeRequest
		maxCheck float64
		check    func(r *api.AttributeResponse) string
	}{
		{api.AttributeRequest{Method: "dla", Prompt: prompt, Metric: "logit-diff:Lily,Tim", Pos: &pos}, 1e-4, func(r *api.AttributeResponse) string {
			if len(r.Components) != 20 || !strings.Contains(r.Target, `" Lily"`) {
				return "want 20 components and the target in words"
			}
			return ""
		}},
		{api.AttributeRequest{Method: "lens", Prompt: prompt, Top: 3}, 0, func(r *api.AttributeResponse) string {
			if n := len(r.Lens); n != 6 || r.Lens[n-1].Rank != 0 || len(r.Lens[0].Top) != 3 {
				return "want 6 rows of 3 tokens, the top token last at rank 0"
			}
			return ""
		}},
		{api.AttributeRequest{Method: "ig", Prompt: prompt, Baseline: "Once upon a time, there was a little boy named Tim. She", Target: "#317", Pos: &pos}, 0.01, func(r *api.AttributeResponse) string {
			if len(r.ByPos) != len(r.Tokens) {
				return "want one by_pos entry per token"
			}
			return ""
		}},
		{api.AttributeRequest{Method: "gradxact", Prompt: prompt, Objective: "loss", Hook: "blocks.0.mlp.hook_post", Top: 5}, 0, func(r *api.AttributeResponse) string {
			if len(r.Components) != 5 || r.Value <= 0 {
				return "want 5 elements and a positive loss"
			}
			return ""
		}},
		{api.AttributeRequest{Method: "atp", Prompt: prompt, Corrupt: "Once upon a time, there was a little boy named Tim. She", Metric: "logit-diff:Lily,Tim", Pos: &pos, Top: 10}, 1, func(r *api.AttributeResponse) string {
			if len(r.Components) != 10 || r.Components[9].Real == nil || r.Check < 0.5 {
				return "want 10 units re-checked and ρ ≥ 0.5"
			}
			return ""
		}},
		{api.AttributeRequest{Method: "atp", Prompt: prompt, Corrupt: "Once upon a time, there was a little boy named Tim. She", Metric: "logit-diff:Lily,Tim", Pos: &pos, Top: 10,
			Hook: "blocks.*.attn.hook_k", Star: true}, 1, func(r *api.AttributeResponse) string {
			if len(r.Components) != 10 || !strings.Contains(r.Components[0].Name, "attn.hook_k") || r.Check < 0.5 {
				return "want 10 key heads re-checked and ρ ≥ 0.5"
			}
			return ""
		}},
	} {
		var r api.AttributeResponse
		if code := call(t, ts, "POST", "/api/attribute", tc.req, &r); code != 200 {
			t.Fatalf("%s: status %d", tc.req.Method, code)
		}
		if r.Check > tc.maxCheck {
			t.Errorf("%s: check %g > %g", tc.req.Method, r.Check, tc.maxCheck)
		}
		if msg := tc.check(&r); msg != "" {
			t.Errorf("%s: %s: %+v", tc.req.Method, msg, r)
		}
	}
	for _, tc := range []struct {
		req    api.AttributeRequest
		status int
		want   string
	}{
		{api.AttributeRequest{Method: "shap", Prompt: prompt}, 400, `method "shap"`},
		{api.AttributeRequest{Method: "ig", Prompt: prompt, Steps: 1000}, 413, "steps 1000"},
		{api.AttributeRequest{Method: "ig", Prompt: prompt, Baseline: "Once"}, 400, "must align"},
		{api.AttributeRequest{Method: "atp", Prompt: prompt}, 400, "corrupt is empty"},
		{api.AttributeRequest{Method: "atp", Prompt: prompt, Per: "layer"}, 400, `per "layer"`},
		{api.AttributeRequest{Method: "dla", Prompt: prompt, Objective: "loss"}, 400, "not loss"},
		{api.AttributeRequest{Method: "gradxact", Prompt: prompt, Hook: "blocks.9.nothing"}, 400, "blocks.9.nothing"},
	} {
		var e api.Error
		if code := call(t, ts, "POST", "/api/attribute", tc.req, &e); code != tc.status || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%+v: status %d %q, want %d and %q", tc.req, code, e.Error, tc.status, tc.want)
		}
	}
}
