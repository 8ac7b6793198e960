package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/glia-dev/glia/api"
)

// TestErrorsNameNoFlags: errors that reach an HTTP body, whether the
// server's own or the libraries' (engine, intervene), speak of request
// fields and library terms, never of the CLI's flags.
func TestErrorsNameNoFlags(t *testing.T) {
	_, withAtlas := newTestServer(t, Config{})
	m, _ := testModelAtlas(t)
	bare, err := New(Config{Model: m})
	if err != nil {
		t.Fatal(err)
	}
	noAtlas := httptest.NewServer(bare)
	t.Cleanup(func() { noAtlas.Close(); bare.Close() })

	patch := func(hook, per string) api.PatchRequest {
		return api.PatchRequest{Clean: "Once upon a time", Corrupt: "Once upon a dog", Metric: "logit-diff:#1,#2", Hook: hook, Per: per}
	}
	for _, tc := range []struct {
		name   string
		ts     *httptest.Server
		method string
		path   string
		body   any
		status int
		want   string // what the body must say instead
	}{
		{"per head on a hook without heads", withAtlas, "POST", "/api/patch", patch("mlp_post", "head"), 400, "per head: needs a [batch,pos,head,d_head] hook"},
		{"unknown hook point", withAtlas, "POST", "/api/intervene", api.InterveneRequest{Prompt: "Once", Specs: []string{"blocks.9.mlp.hook_post[:,1]=0"}}, 400, `no hook point "blocks.9.mlp.hook_post"`},
		{"mean of a hook the atlas lacks", withAtlas, "POST", "/api/intervene", api.InterveneRequest{Prompt: "Once", Specs: []string{"blocks.0.hook_resid_post=mean"}}, 400, "holds no statistics for blocks.0.hook_resid_post"},
		{"mean without an atlas", noAtlas, "POST", "/api/intervene", api.InterveneRequest{Prompt: "Once", Specs: []string{"blocks.0.mlp.hook_post=mean"}}, 400, "mean ablation needs an atlas"},
		{"atlas pages without an atlas", noAtlas, "GET", "/api/neurons/blocks.0.mlp.hook_post/1", nil, 404, "without an atlas"},
		{"no patch file", withAtlas, "GET", "/api/patch/file", nil, 404, "no patch result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rd io.Reader
			if tc.body != nil {
				b, _ := json.Marshal(tc.body)
				rd = bytes.NewReader(b)
			}
			req, _ := http.NewRequest(tc.method, tc.ts.URL+tc.path, rd)
			req.Header.Set("Content-Type", "application/json")
			res, err := tc.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var e api.Error
			if err := json.NewDecoder(res.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.status || !strings.Contains(e.Error, tc.want) {
				t.Fatalf("%d %q, want %d and %q", res.StatusCode, e.Error, tc.status, tc.want)
			}
			if strings.Contains(e.Error, "--") {
				t.Errorf("the body names a CLI flag: %q", e.Error)
			}
		})
	}
}
