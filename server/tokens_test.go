package server

import (
	"net/url"
	"slices"
	"testing"

	"github.com/glia-dev/glia/api"
)

// TestTokenDisplay: the API shows a newline token as engine.TokenText does
// (↵, as the CLI), in prompts and in atlas searches, whichever way the
// query spells it.
func TestTokenDisplay(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	var rr api.RunResponse
	if code := call(t, ts, "POST", "/api/run", api.RunRequest{Prompt: "Once upon a time.\nThe end"}, &rr); code != 200 {
		t.Fatalf("run: %d", code)
	}
	var texts []string
	for _, tk := range rr.Tokens {
		texts = append(texts, tk.Text)
	}
	if !slices.Contains(texts, "↵") {
		t.Errorf("prompt tokens %q: no ↵", texts)
	}
	for _, q := range []string{"↵", "<0x0A>", "\n"} {
		var sr api.SearchResponse
		if code := call(t, ts, "GET", "/api/search?token="+url.QueryEscape(q), nil, &sr); code != 200 || !slices.Equal(sr.Tokens, []string{"↵"}) {
			t.Errorf("search for %q: %d, tokens %q", q, code, sr.Tokens)
		}
	}
}
