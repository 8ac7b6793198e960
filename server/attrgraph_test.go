package server

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/glia-dev/glia/api"
)

// TestAttrGraphAPI: a graph of the test model's next token whose rows add
// up, whose kept edges join kept nodes, and whose limits are enforced; the
// graph given at start-up is served as it was written.
func TestAttrGraphAPI(t *testing.T) {
	_, ts := newTestServer(t, Config{GraphJSON: []byte(`{"model":"file","nodes":[]}`)})
	var g api.AttrGraph
	if code := call(t, ts, "POST", "/api/attrgraph", api.AttrGraphRequest{Prompt: "Once upon a time there was a", MaxNodes: 40}, &g); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if g.Stats.Selected != 40 || len(g.Logits) == 0 || g.Stats.KeptEdges == 0 || g.Stats.KeptEdges != len(g.Edges) {
		t.Fatalf("stats %+v, %d logits", g.Stats, len(g.Logits))
	}
	if c := g.Stats.MaxCompleteness; c > 1e-3 || math.IsNaN(c) {
		t.Errorf("completeness error %g", c)
	}
	for _, e := range g.Edges {
		if e.Source < 0 || e.Source >= len(g.Nodes) || e.Target < 0 || e.Target >= len(g.Nodes) || g.Nodes[e.Target].Kind == "embedding" {
			t.Fatalf("edge %+v outside the %d nodes or into an embedding", e, len(g.Nodes))
		}
	}
	for _, tc := range []struct {
		name string
		req  api.AttrGraphRequest
		code int
	}{
		{"too many nodes", api.AttrGraphRequest{Prompt: "a b", MaxNodes: maxGraphNodes + 1}, http.StatusRequestEntityTooLarge},
		{"threshold above 1", api.AttrGraphRequest{Prompt: "a b", NodeThreshold: 1.5}, http.StatusBadRequest},
		{"per site above d_mlp", api.AttrGraphRequest{Prompt: "a b", PerSite: 1 << 20}, http.StatusBadRequest},
		{"rows over the memory bound", api.AttrGraphRequest{Prompt: strings.Repeat("Once upon a time ", 60), PerSite: 172, MaxNodes: 1000, Heads: true}, http.StatusRequestEntityTooLarge},
	} {
		var e api.Error
		if code := call(t, ts, "POST", "/api/attrgraph", tc.req, &e); code != tc.code || e.Error == "" {
			t.Errorf("%s: status %d (%q), want %d", tc.name, code, e.Error, tc.code)
		}
	}
	var raw json.RawMessage
	if code := call(t, ts, "GET", "/api/attrgraph/file", nil, &raw); code != http.StatusOK || !strings.Contains(string(raw), `"file"`) {
		t.Errorf("file: %d %s", code, raw)
	}
}

// TestBrowserAttrGraph: the graph page builds a graph from its form and
// draws every kept node and edge; a click on a node lists its edges, and a
// neuron's link opens its neuron page.
func TestBrowserAttrGraph(t *testing.T) {
	ctx := browser(t)
	_, ts := newTestServer(t, Config{})
	step(t, ctx, "graph page", chromedp.Navigate(ts.URL+"/attrgraph?prompt=Once%20upon%20a%20time&max_nodes=30"), ready(),
		chromedp.WaitVisible(chromedp.CSS("#ag-svg")))
	var g api.AttrGraph
	call(t, ts, "POST", "/api/attrgraph", api.AttrGraphRequest{Prompt: "Once upon a time", MaxNodes: 30, PerSite: 16}, &g)
	if n := eval[int](t, ctx, `document.querySelectorAll("#ag-svg circle.ag-node").length`); n != len(g.Nodes) || n == 0 {
		t.Errorf("%d nodes drawn, the API returns %d", n, len(g.Nodes))
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#ag-svg line.ag-edge").length`); n != len(g.Edges) {
		t.Errorf("%d edges drawn, the API returns %d", n, len(g.Edges))
	}
	if got := eval[string](t, ctx, `document.querySelector("#ag-summary").innerText`); !strings.Contains(got, "targets:") {
		t.Errorf("summary %q", got)
	}
	screenshot(t, ctx, "attrgraph")
	step(t, ctx, "select a logit", chromedp.Click(chromedp.CSS(`circle.ag-node[data-kind="logit"]`)), chromedp.WaitVisible(chromedp.CSS("#ag-in")))
	if n := eval[int](t, ctx, `document.querySelectorAll("#ag-in tr").length`); n == 0 {
		t.Error("a logit node lists no incoming edges")
	}
	step(t, ctx, "open a neuron", chromedp.Click(chromedp.CSS(`#ag-in a`)), ready(), chromedp.WaitVisible(chromedp.CSS("#unit-title")))
	if got := eval[string](t, ctx, `document.querySelector("#unit-title").textContent`); !strings.Contains(got, "mlp.hook_post:") {
		t.Errorf("neuron page title %q", got)
	}
}

// TestBrowserAttrGraphHeads: with heads as nodes a head's detail shows the
// QK side of its score.
func TestBrowserAttrGraphHeads(t *testing.T) {
	ctx := browser(t)
	_, ts := newTestServer(t, Config{})
	step(t, ctx, "graph page", chromedp.Navigate(ts.URL+"/attrgraph"), ready(), chromedp.WaitVisible(chromedp.CSS("#ag-prompt")),
		chromedp.SendKeys(chromedp.CSS("#ag-prompt"), "Once upon a time there was"), chromedp.Click(chromedp.CSS("#ag-heads")),
		chromedp.Click(chromedp.CSS("#ag-run")), chromedp.WaitVisible(chromedp.CSS("#ag-svg")))
	step(t, ctx, "select a head", chromedp.Click(chromedp.CSS(`circle.ag-node[data-kind="head"]`)), chromedp.WaitVisible(chromedp.CSS("#ag-keys")))
	if n := eval[int](t, ctx, `document.querySelectorAll("#ag-keys tr").length`); n == 0 {
		t.Error("a head lists no key-side sources")
	}
}
