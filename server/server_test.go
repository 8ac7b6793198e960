package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/glia-dev/glia/api"
)

func TestPagesAndAPI(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	for _, p := range []string{"/", "/neuron/blocks.1.mlp.hook_post/3", "/search", "/explore", "/intervene", "/patch", "/compare", "/concepts", "/static/app.js", "/static/app.css", "/api/openapi.yaml"} {
		if code := call(t, ts, "GET", p, nil, nil); code != 200 {
			t.Errorf("GET %s: %d", p, code)
		}
	}
	if code := call(t, ts, "GET", "/nope", nil, nil); code != 404 {
		t.Errorf("GET /nope: %d, want 404", code)
	}
	var o api.Overview
	if code := call(t, ts, "GET", "/api/overview", nil, &o); code != 200 {
		t.Fatalf("overview: %d", code)
	}
	if o.Model == nil || o.Atlas == nil || o.Atlas.Units != 5*172 || o.Atlas.Matches == nil || !*o.Atlas.Matches {
		t.Fatalf("overview: %+v %+v", o.Model, o.Atlas)
	}
	in := 0
	for _, h := range o.Hooks {
		if h.InAtlas {
			in++
		}
	}
	if in != 5 || len(o.Hooks) < 50 {
		t.Errorf("overview lists %d hooks, %d in the atlas", len(o.Hooks), in)
	}

	var n api.NeuronResponse
	if code := call(t, ts, "GET", "/api/neurons/blocks.1.mlp.hook_post/3", nil, &n); code != 200 {
		t.Fatalf("neuron: %d", code)
	}
	if n.Report == nil || len(n.Report.Top) != 20 || len(n.Hist) == 0 || n.Neighbours["next"] != "blocks.1.mlp.hook_post:4" ||
		n.Neighbours["up"] != "blocks.0.mlp.hook_post:3" || n.Explanation != nil || n.ExplainNote == "" {
		t.Fatalf("neuron: %d top, %d bins, %v, %q", len(n.Report.Top), len(n.Hist), n.Neighbours, n.ExplainNote)
	}
	var e api.Error
	for p, want := range map[string]int{"/api/neurons/blocks.1.mlp.hook_post/172": 404, "/api/neurons/nohook/1": 404, "/api/neurons/blocks.1.mlp.hook_post/x": 400, "/api/nothing": 404} {
		if code := call(t, ts, "GET", p, nil, &e); code != want {
			t.Errorf("GET %s: %d (%s), want %d", p, code, e.Error, want)
		}
	}

	sr := api.SearchResponse{}
	if code := call(t, ts, "GET", "/api/search?token=the", nil, &sr); code != 200 || sr.Total == 0 || sr.Hits[0].Matches == 0 {
		t.Fatalf("search by token: %d %+v", code, sr)
	}
	sr = api.SearchResponse{}
	if code := call(t, ts, "GET", "/api/search?layer=2&sort=max&limit=10", nil, &sr); code != 200 || sr.Total != 172 || len(sr.Hits) != 10 ||
		sr.Hits[0].Hook != "blocks.2.mlp.hook_post" || *sr.Hits[0].Max < *sr.Hits[9].Max {
		t.Fatalf("search by layer: %d %+v", code, sr)
	}
	sr = api.SearchResponse{}
	if code := call(t, ts, "GET", "/api/search?label=animals", nil, &sr); code != 200 || !strings.Contains(sr.Note, "not explained") {
		t.Fatalf("search by label: %d %+v", code, sr)
	}

	var rr api.RunResponse
	attn := 1
	if code := call(t, ts, "POST", "/api/run", api.RunRequest{Prompt: "Once upon a time", Units: []string{"blocks.1.mlp.hook_post:3"}, AttnLayer: &attn}, &rr); code != 200 {
		t.Fatalf("run: %d", code)
	}
	nt := len(rr.Tokens)
	if nt < 3 || len(rr.Units) != 1 || len(rr.Units[0].Acts) != nt || len(rr.Top) != nt || len(rr.Top[0]) != 5 ||
		rr.Attention == nil || len(rr.Attention.Pattern) != 8 || len(rr.Attention.Pattern[0][nt-1]) != nt || len(rr.Next) != 10 {
		t.Fatalf("run: %+v", rr)
	}
	// The last query's attention sums to 1 over real keys.
	var sum float32
	for _, v := range rr.Attention.Pattern[0][nt-1] {
		sum += v
	}
	if sum < 0.99 || sum > 1.01 {
		t.Errorf("attention row sums to %v", sum)
	}

	var ir api.InterveneResponse
	if code := call(t, ts, "POST", "/api/intervene", map[string]any{"prompt": "Once upon a time, there was a little", "specs": []string{"blocks.4.mlp.hook_post[:,0:20]*=8"}, "max_new": 6}, &ir); code != 200 {
		t.Fatalf("intervene: %d", code)
	}
	if ir.KL <= 0 || len(ir.Base) != 10 || ir.Base[0].ID == ir.After[0].ID && ir.Base[0].Prob == ir.After[0].Prob || ir.BaseText == "" || ir.AfterText == "" {
		t.Fatalf("intervene: %+v", ir)
	}
	if code := call(t, ts, "POST", "/api/intervene", map[string]any{"prompt": "Once", "specs": []string{"blocks.1.mlp.hook_post[:,3]=mean"}, "max_new": 0}, &ir); code != 200 {
		t.Fatalf("mean ablation through the atlas: %d", code)
	}
	if code := call(t, ts, "POST", "/api/intervene", map[string]any{"prompt": "Once", "specs": []string{"blocks.1.mlp.hook_post[:,3"}}, &e); code != 400 || !strings.Contains(e.Error, "column") {
		t.Fatalf("bad spec: %d %s", code, e.Error)
	}

	var pr api.PatchResponse
	if code := call(t, ts, "POST", "/api/patch", api.PatchRequest{Clean: "Lily and Tim went to the park. Tim gave the ball to", Corrupt: "Lily and Tim went to the park. Lily gave the ball to", Metric: "logit-diff:Lily,Tim"}, &pr); code != 200 {
		t.Fatalf("patch: %d", code)
	}
	if len(pr.Grid.Values) != 5 || len(pr.Grid.Cols) != len(pr.Grid.Values[0]) || pr.Clean == pr.Corrupt {
		t.Fatalf("patch: %+v", pr)
	}
}

// TestNoFilePathFromRequests: specs that read files are refused, and no
// endpoint takes a path.
func TestNoFilePathFromRequests(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	var e api.Error
	for _, spec := range []string{"blocks.1.hook_resid_post[-1]+=4*@/etc/passwd", "blocks.1.hook_resid_post[-1]=@vec.safetensors:dog"} {
		code := call(t, ts, "POST", "/api/intervene", map[string]any{"prompt": "Once", "specs": []string{spec}}, &e)
		if code != 400 || !strings.Contains(e.Error, "never takes a file path") {
			t.Errorf("%s: %d %s", spec, code, e.Error)
		}
	}
	if code := call(t, ts, "GET", "/static/../../etc/passwd", nil, nil); code == 200 {
		t.Errorf("path traversal served a file")
	}
	if code := call(t, ts, "GET", "/api/patch/file", nil, &e); code != 404 {
		t.Errorf("patch file without --patch: %d", code)
	}
}

func TestLimitToken(t *testing.T) {
	_, ts := newTestServer(t, Config{Token: "s3cret"})
	var e api.Error
	if code := call(t, ts, "GET", "/api/overview", nil, &e); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code := call(t, ts, "GET", "/api/overview", nil, nil, "Authorization", "Bearer wrong"); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code := call(t, ts, "POST", "/api/run", api.RunRequest{Prompt: "Once"}, nil); code != 401 {
		t.Fatalf("run without token: %d", code)
	}
	if code := call(t, ts, "GET", "/api/overview", nil, nil, "Authorization", "Bearer s3cret"); code != 200 {
		t.Fatalf("right token: %d", code)
	}
	// The page shell holds no data and loads without the token.
	if code := call(t, ts, "GET", "/", nil, nil); code != 200 {
		t.Fatalf("shell: %d", code)
	}
	for addr, want := range map[string]bool{"127.0.0.1:8765": true, "localhost:1": true, "[::1]:80": true, "0.0.0.0:8765": false, ":8765": false, "192.168.1.2:80": false} {
		if IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%s) = %v", addr, !want)
		}
	}
}

func TestLimitBodyAndPrompt(t *testing.T) {
	s, ts := newTestServer(t, Config{Limits: Limits{MaxBody: 1024, MaxPromptChars: 300, MaxPromptTokens: 16, MaxPatchCells: 500}})
	var e api.Error
	call := func(t *testing.T, ts *httptest.Server, method, path string, body any, out any) int {
		e = api.Error{}
		return call(t, ts, method, path, body, out)
	}
	big := `{"prompt":"` + strings.Repeat("a", 2000) + `"}`
	if code := call(t, ts, "POST", "/api/run", []byte(big), &e); code != 413 || !strings.Contains(e.Error, "1024 bytes") {
		t.Errorf("body limit: %d %s", code, e.Error)
	}
	if code := call(t, ts, "POST", "/api/run", api.RunRequest{Prompt: strings.Repeat("é", 301)}, &e); code != 413 || !strings.Contains(e.Error, "characters") {
		t.Errorf("prompt chars: %d %s", code, e.Error)
	}
	if code := call(t, ts, "POST", "/api/run", api.RunRequest{Prompt: strings.Repeat("the cat sat. ", 10)}, &e); code != 413 || !strings.Contains(e.Error, "tokens; the limit is 16") {
		t.Errorf("prompt tokens: %d %s", code, e.Error)
	}
	if code := call(t, ts, "POST", "/api/intervene", map[string]any{"prompt": "Once", "specs": []string{"blocks.1.mlp.hook_post[:,3]=0"}, "max_new": s.Limits().MaxNew + 1}, &e); code != 413 {
		t.Errorf("max_new: %d %s", code, e.Error)
	}
	if code := call(t, ts, "POST", "/api/run", []byte(`{"prompt":"a","path":"/etc/passwd"}`), &e); code != 400 {
		t.Errorf("unknown field: %d %s", code, e.Error)
	}
	if code := call(t, ts, "POST", "/api/patch", api.PatchRequest{Clean: "Lily and Tim went to the park. Tim gave the ball to", Corrupt: "x", Metric: "logit-diff:Lily,Tim", Per: "neuron"}, &e); code != 413 || !strings.Contains(e.Error, "cells") {
		t.Errorf("patch cells: %d %s", code, e.Error)
	}
}

// TestLimitTimeout: a request waiting for a busy model past its deadline
// gets 503.
func TestLimitTimeout(t *testing.T) {
	s, ts := newTestServer(t, Config{Limits: Limits{Timeout: 300 * time.Millisecond}})
	if err := s.runs.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.runs.release()
	var e api.Error
	t0 := time.Now()
	code := call(t, ts, "POST", "/api/run", api.RunRequest{Prompt: "Once"}, &e)
	if code != 503 || !strings.Contains(e.Error, "limit of 300ms") {
		t.Fatalf("timeout: %d %s", code, e.Error)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("timed out after %s", d)
	}
	// Atlas pages do not wait for the model.
	if code := call(t, ts, "GET", "/api/neurons/blocks.0.mlp.hook_post/0", nil, nil); code != 200 {
		t.Errorf("neuron while the model is busy: %d", code)
	}
}

// TestLimitConcurrentRuns: with every run slot busy and the queue full,
// model requests are refused with 429 at once.
func TestLimitConcurrentRuns(t *testing.T) {
	s, ts := newTestServer(t, Config{Limits: Limits{MaxRuns: 2, MaxQueue: -1}})
	for range 2 {
		if err := s.runs.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var e api.Error
	req, _ := http.NewRequest("POST", ts.URL+"/api/run", strings.NewReader(`{"prompt":"Once"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("busy: %d", res.StatusCode)
	}
	s.runs.release()
	if code := call(t, ts, "POST", "/api/run", api.RunRequest{Prompt: "Once"}, &e); code != 200 {
		t.Fatalf("after a slot frees: %d %s", code, e.Error)
	}
	s.runs.release()
}

// TestPatchBadValues: the hook, per and metric of /api/patch are read by
// package experiment's parsers; their messages name the field, no CLI flag.
func TestPatchBadValues(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	for _, c := range []struct {
		req  api.PatchRequest
		want string
	}{
		{api.PatchRequest{Clean: "Lily went", Corrupt: "Tim went", Metric: "logit-diff:Lily,Tim", Hook: "pattern"}, `hook: experiment: kind "pattern": want resid_pre`},
		{api.PatchRequest{Clean: "Lily went", Corrupt: "Tim went", Metric: "logit-diff:Lily,Tim", Per: "unit"}, `experiment: per "unit": want pos, head, neuron or layer`},
		{api.PatchRequest{Clean: "Lily went", Corrupt: "Tim went", Metric: "Lily,Tim"}, `experiment: metric "Lily,Tim": want logit-diff:TOKA,TOKB`},
		{api.PatchRequest{Clean: "Lily went", Corrupt: "Tim went", Metric: "logit-diff:Tom,Lily"}, `experiment: metric "logit-diff:Tom,Lily": "Tom" is 2 tokens`},
		{api.PatchRequest{Clean: "Lily went", Corrupt: "Tim went", Metric: "logit-diff:Lily,Tim", Hook: "q", Per: "neuron"}, "per neuron: needs a [batch,pos,unit] hook"},
	} {
		var e api.Error
		if code := call(t, ts, "POST", "/api/patch", c.req, &e); code != 400 || !strings.Contains(e.Error, c.want) || strings.Contains(e.Error, "--") {
			t.Errorf("%+v: %d %s", c.req, code, e.Error)
		}
	}
}
