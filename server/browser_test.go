package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// findChromium returns a headless-capable browser, or "" when none is
// installed ($GLIA_CHROMIUM overrides the search).
func findChromium() string {
	if p := os.Getenv("GLIA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser starts headless Chromium for the test, or skips it when there is
// none.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := findChromium()
	if path == "" {
		t.Skip("browser tests: no Chromium found (install Debian's chromium package, or set $GLIA_CHROMIUM)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // root in CI containers
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // start the browser now
		t.Skipf("browser tests: %s would not start: %v", path, err)
	}
	return ctx
}

// step runs actions with a deadline.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// ready waits for the router to finish drawing a page.
func ready() chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"] main`))
}

// screenshot saves docs/screenshots/NAME.png when GLIA_SCREENSHOTS=1.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("GLIA_SCREENSHOTS") != "1" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowser drives the pages in headless Chromium through the main
// flows: the overview, a neuron page, search, the prompt explorer, an
// intervention and a patching sweep.
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	_, ts := newTestServer(t, Config{})
	u := ts.URL

	// Overview: architecture and hook points with atlas coverage.
	step(t, ctx, "overview", chromedp.Navigate(u+"/"), ready(), chromedp.WaitVisible(chromedp.CSS("#atlas-card")))
	if got := eval[string](t, ctx, `document.querySelector("#model-card").innerText`); !strings.Contains(got, "260,032") || strings.Contains(got, "undefined") {
		t.Errorf("model card: %q", got)
	}
	if n := eval[int](t, ctx, `[...document.querySelectorAll("main tbody tr")].filter(r => r.innerText.includes("mlp.hook_post")).length`); n < 5 {
		t.Errorf("hook rows with mlp.hook_post: %d", n)
	}
	screenshot(t, ctx, "overview")

	// Neuron page: stats, histogram, 20 top examples with coloured tokens
	// whose activation shows on hover, neighbours.
	step(t, ctx, "neuron page", chromedp.Navigate(u+"/neuron/blocks.1.mlp.hook_post/3"), ready(), chromedp.WaitVisible(chromedp.CSS("#top .ex")))
	if got := eval[string](t, ctx, `document.querySelector("#unit-title").textContent`); got != "blocks.1.mlp.hook_post:3" {
		t.Errorf("title %q", got)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#top .ex").length`); n != 20 {
		t.Errorf("%d top examples, want 20", n)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("svg.hist rect").length`); n < 3 {
		t.Errorf("histogram has %d bars", n)
	}
	if got := eval[string](t, ctx, `document.querySelector("#top .tok.center").title`); !strings.Contains(got, `"`) {
		t.Errorf("hover title of the top token: %q", got)
	}
	if got := eval[string](t, ctx, `getComputedStyle(document.querySelector("#top .tok.center")).backgroundColor`); !strings.HasPrefix(got, "rgba(249, 115, 22") {
		t.Errorf("top token background %q, want the activation colour", got)
	}
	if got := eval[string](t, ctx, `document.querySelector("#explain").innerText`); !strings.Contains(got, "not explained yet") {
		t.Errorf("explain panel: %q", got)
	}
	if got := eval[string](t, ctx, `document.querySelector("#stats").innerText`); !strings.Contains(got, "DENSITY > 0") && !strings.Contains(got, "density > 0") {
		t.Errorf("stats: %q", got)
	}
	screenshot(t, ctx, "neuron")
	// Following the "next" neighbour link routes in the page.
	step(t, ctx, "next neuron", chromedp.Click(chromedp.CSS(`a[rel="next"]`)), ready(), chromedp.WaitVisible(chromedp.CSS("#top .ex")))
	if got := eval[string](t, ctx, `document.querySelector("#unit-title").textContent`); got != "blocks.1.mlp.hook_post:4" {
		t.Errorf("after next: %q", got)
	}

	// Search by token, then by layer, then open a result.
	step(t, ctx, "search", chromedp.Navigate(u+"/search"), ready(), chromedp.WaitVisible(chromedp.CSS("#q-token")),
		chromedp.SendKeys(chromedp.CSS("#q-token"), "the"), chromedp.Click(chromedp.CSS(`#search-form button`)),
		chromedp.WaitVisible(chromedp.CSS("#results tbody tr")))
	if got := eval[string](t, ctx, `document.querySelector("#results").innerText`); !strings.Contains(got, `for token(s) " the"`) {
		t.Errorf("token search: %q", got[:min(200, len(got))])
	}
	screenshot(t, ctx, "search")
	step(t, ctx, "search by layer", chromedp.Navigate(u+"/search?layer=2&sort=max"), ready(), chromedp.WaitVisible(chromedp.CSS("#results tbody tr")))
	if got := eval[string](t, ctx, `document.querySelector("#results tbody tr a").textContent`); !strings.HasPrefix(got, "blocks.2.mlp.hook_post:") {
		t.Errorf("layer search first hit %q", got)
	}
	step(t, ctx, "open a hit", chromedp.Click(chromedp.CSS("#results tbody tr a")), ready(), chromedp.WaitVisible(chromedp.CSS("#unit-title")))

	// Prompt explorer: type a prompt, trace a unit, see per-token
	// activations, top units per token and attention heads.
	step(t, ctx, "explorer", chromedp.Navigate(u+"/explore"), ready(),
		chromedp.SetValue(chromedp.CSS("#prompt"), "Once upon a time, there was a little dog."),
		chromedp.SendKeys(chromedp.CSS("#units"), "blocks.1.mlp.hook_post:3"),
		chromedp.Click(chromedp.CSS("#run")), chromedp.WaitVisible(chromedp.CSS("#heads figure")))
	ntok := eval[int](t, ctx, `document.querySelectorAll(".unit-trace .tok").length`)
	if ntok < 8 {
		t.Errorf("traced unit shows %d tokens", ntok)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("tr.top-row").length`); n != ntok {
		t.Errorf("%d rows of top units for %d tokens", n, ntok)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#heads figure").length`); n != 8 {
		t.Errorf("%d attention heads drawn, want 8", n)
	}
	if got := eval[string](t, ctx, `document.querySelector("#next").innerText`); !strings.Contains(got, "%") {
		t.Errorf("next tokens: %q", got)
	}
	screenshot(t, ctx, "explore")

	// Intervention playground: apply a spec, see the distribution change
	// and both generations.
	step(t, ctx, "intervene", chromedp.Navigate(u+"/intervene"), ready(),
		chromedp.SetValue(chromedp.CSS("#iv-specs"), "blocks.4.mlp.hook_post[:,0:20]*=8"),
		chromedp.SetValue(chromedp.CSS("#iv-max-new"), "8"),
		chromedp.Click(chromedp.CSS("#apply")), chromedp.WaitVisible(chromedp.CSS("#gen-after")))
	if got := eval[string](t, ctx, `document.querySelector("#iv-out").innerText`); !strings.Contains(got, "KL(base ‖ intervened)") || !strings.Contains(got, "blocks.4.mlp.hook_post[:][0:20]*=8") {
		t.Errorf("intervention result: %q", got[:min(300, len(got))])
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("tr.change").length`); n < 2 {
		t.Errorf("%d changed tokens listed", n)
	}
	if a, b := eval[string](t, ctx, `document.querySelector("#gen-base").innerText`), eval[string](t, ctx, `document.querySelector("#gen-after").innerText`); a == "" || a == b {
		t.Errorf("generations: baseline %q, intervened %q", a, b)
	}
	screenshot(t, ctx, "intervene")
	// A spec that names a file is refused on the page.
	step(t, ctx, "file spec", chromedp.SetValue(chromedp.CSS("#iv-specs"), "blocks.1.hook_resid_post[-1]+=@/etc/passwd"),
		chromedp.Click(chromedp.CSS("#apply")), chromedp.WaitVisible(chromedp.CSS("#iv-out .error")))

	// Patching: run a sweep and see the heat map.
	step(t, ctx, "patch", chromedp.Navigate(u+"/patch"), ready(), chromedp.Click(chromedp.CSS("#p-run")),
		chromedp.WaitVisible(chromedp.CSS("#patch-out svg.heatmap")))
	if n := eval[int](t, ctx, `document.querySelectorAll("#patch-out svg.heatmap rect").length`); n < 5*10 {
		t.Errorf("heat map has %d cells", n)
	}
	screenshot(t, ctx, "patch")

	// Attribution: the default prompt, tokens coloured by IG, DLA
	// components, and neurons that link to their pages.
	step(t, ctx, "attribute", chromedp.Navigate(u+"/attribute"), ready(), chromedp.Click(chromedp.CSS("#a-run")),
		chromedp.WaitVisible(chromedp.CSS("#dla-top tr.comp-row")))
	if n := eval[int](t, ctx, `document.querySelectorAll("#attr-tokens .tok").length`); n < 10 {
		t.Errorf("attribution shows %d tokens", n)
	}
	// Some token carries a colour: an attribution that is all zero, or
	// not drawn, would leave every one white.
	if n := eval[int](t, ctx, `[...document.querySelectorAll("#attr-tokens .tok")].filter(e => !/rgb\(255, 255, 255\)/.test(getComputedStyle(e).backgroundColor) && e.dataset.attr !== "0").length`); n == 0 {
		t.Errorf("no token is coloured by its attribution")
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#dla-heads tr.comp-row").length`); n == 0 {
		t.Errorf("no head rows")
	}
	href := eval[string](t, ctx, `document.querySelector("#dla-neurons tr.comp-row a").getAttribute("href")`)
	if !strings.HasPrefix(href, "/neuron/blocks.") || !strings.Contains(href, ".mlp.hook_post/") {
		t.Errorf("neuron link %q, want /neuron/blocks.L.mlp.hook_post/N", href)
	}
	if got := eval[string](t, ctx, `document.querySelector("#attr-out").innerText`); !strings.Contains(got, "completeness") {
		t.Errorf("attribution result lacks its completeness figures: %q", got[:min(300, len(got))])
	}
	screenshot(t, ctx, "attribute")
	step(t, ctx, "neuron from attribution", chromedp.Click(chromedp.CSS("#dla-neurons tr.comp-row a")), ready(), chromedp.WaitVisible(chromedp.CSS("#unit-title")))
	if got := eval[string](t, ctx, `location.pathname`); got != href {
		t.Errorf("the neuron link led to %q, want %q", got, href)
	}
	step(t, ctx, "compare", chromedp.Navigate(u+"/compare"), ready(), chromedp.Click(chromedp.CSS("#c-run")),
		chromedp.WaitVisible(chromedp.CSS("#compare-out svg.heatmap")))
	if n := eval[int](t, ctx, `document.querySelectorAll("#compare-out svg.heatmap rect").length`); n < 5*5 {
		t.Errorf("the layer × layer CKA heat map has %d cells, want at least 25", n)
	}
	screenshot(t, ctx, "compare")
}

// TestBrowserToken: with a token, the page asks for it and then works.
func TestBrowserToken(t *testing.T) {
	ctx := browser(t)
	_, ts := newTestServer(t, Config{Token: "tok-123"})
	step(t, ctx, "no token", chromedp.Navigate(ts.URL+"/"), ready(), chromedp.WaitVisible(chromedp.CSS("#auth")))
	if got := eval[string](t, ctx, `document.querySelector("main").innerText`); !strings.Contains(got, "401") {
		t.Errorf("without the token the page shows %q", got)
	}
	step(t, ctx, "with token", chromedp.Navigate(ts.URL+"/neuron/blocks.0.mlp.hook_post/1#token=tok-123"), ready(), chromedp.WaitVisible(chromedp.CSS("#top .ex")))
}
