package server

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/glia-dev/glia/api"
)

// TestBrowserAtPStar: the Attribution page runs AtP* on heads (their
// queries and keys) against a corrupt prompt and lists the same nodes,
// estimates and real patching effects as the API, with the Spearman ρ.
func TestBrowserAtPStar(t *testing.T) {
	ctx := browser(t)
	_, ts := newTestServer(t, Config{})
	const clean, corrupt = "Once upon a time, there was a little girl named Lily. She", "Once upon a time, there was a little girl named Tim. She"
	q := url.Values{"prompt": {clean}, "corrupt": {corrupt}, "metric": {"logit-diff:Lily,Tim"}, "atp_nodes": {"heads"}, "star": {"1"}}
	step(t, ctx, "atp*", chromedp.Navigate(ts.URL+"/attribute?"+q.Encode()), ready(), chromedp.WaitVisible(chromedp.CSS("#atp-rows tr.comp-row")))
	var want api.AttributeResponse
	if code := call(t, ts, "POST", "/api/attribute", api.AttributeRequest{Method: "atp", Prompt: clean, Corrupt: corrupt, Metric: "logit-diff:Lily,Tim",
		Hook: "blocks.*.attn.hook_q,blocks.*.attn.hook_k", Star: true, Top: 15}, &want); code != 200 || len(want.Components) == 0 {
		t.Fatalf("API: status %d, %d components", code, len(want.Components))
	}
	names := eval[[]string](t, ctx, `[...document.querySelectorAll("#atp-rows tr.comp-row td:first-child")].map(e => e.innerText)`)
	if len(names) != len(want.Components) {
		t.Fatalf("page lists %d nodes, the API %d", len(names), len(want.Components))
	}
	for i, c := range want.Components {
		if !strings.Contains(names[i], c.Name) || !strings.Contains(c.Name, ".attn.hook_") {
			t.Errorf("row %d: page %q, API %q", i, names[i], c.Name)
		}
	}
	if got := eval[string](t, ctx, `document.querySelector("#attr-out").innerText`); !strings.Contains(got, "AtP*") || !strings.Contains(got, "Spearman") {
		t.Errorf("AtP* section: %.300q", got)
	}
}
