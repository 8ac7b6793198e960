package server

import (
	"encoding/base64"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/glia-dev/glia/api"
)

// TestImageExplorerBrowser: on an image atlas' unit page, "run in
// explorer" opens the explorer on the unit's top exemplar, which shows
// the classes, the unit's map and the hook's most active channels, and
// draws Grad-CAM; "ablate" opens the playground on the same image with
// the unit zeroed; an uploaded PNG runs too. GLIA_SCREENSHOTS=1 saves
// docs/screenshots/image-explorer.png.
func TestImageExplorerBrowser(t *testing.T) {
	ctx := browser(t)
	ts, _ := newImageServer(t)
	const unit = "layers.2.maxpool2d.hook_out:0"
	step(t, ctx, "unit page", chromedp.Navigate(ts.URL+"/neuron/layers.2.maxpool2d.hook_out/0"), ready(), chromedp.WaitVisible(chromedp.CSS("#exemplars img")))
	step(t, ctx, "run in explorer", chromedp.Click(chromedp.CSS("#run-in-explorer")), ready(), chromedp.WaitVisible(chromedp.CSS("#unit-maps canvas")))
	if got := eval[string](t, ctx, `document.querySelector("#image-preview").src.slice(0, 22)`); got != "data:image/png;base64," {
		t.Errorf("preview %q: the exemplar was not loaded", got)
	}
	if got := eval[string](t, ctx, `document.querySelector("#chosen figure").dataset.unit`); got != unit {
		t.Errorf("chosen unit %q, want %s", got, unit)
	}
	var ov api.Overview
	if code := call(t, ts, "GET", "/api/overview", nil, &ov); code != 200 || ov.Model == nil {
		t.Fatalf("overview: %d", code)
	}
	if n, want := eval[int](t, ctx, `document.querySelectorAll("#next .pill").length`), min(10, ov.Model.Dims.Vocab); n != want {
		t.Errorf("%d classes shown, want %d", n, want)
	}
	// The exemplar is the unit's top image: run again, the unit reaches
	// the activation the atlas recorded for it.
	var n api.NeuronResponse
	if code := call(t, ts, "GET", "/api/neurons/layers.2.maxpool2d.hook_out/0", nil, &n); code != 200 || n.Images == nil {
		t.Fatalf("neuron: %d", code)
	}
	if got, want := eval[float64](t, ctx, `Math.max(...[...document.querySelectorAll("#unit-maps figure")].filter(f => f.dataset.unit === "`+unit+`").map(f => +f.dataset.act))`), float64(n.Images.Exemplars[0].Activation); math.Abs(got-want) > 1e-5 {
		t.Errorf("%s on its top exemplar in the explorer: %v, want the atlas' %v", unit, got, want)
	}
	step(t, ctx, "gradcam", chromedp.Click(chromedp.CSS("#gradcam")), chromedp.WaitVisible(chromedp.CSS("#gradcam-overlay")))
	w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector("#gradcam-overlay").decode().then(() => document.querySelector("#gradcam-overlay").naturalWidth)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if w != 280 {
		t.Errorf("overlay %d pixels wide, want 280 (28 × 10)", w)
	}
	screenshot(t, ctx, "image-explorer")

	step(t, ctx, "back", chromedp.Navigate(ts.URL+"/neuron/layers.2.maxpool2d.hook_out/0"), ready(), chromedp.WaitVisible(chromedp.CSS("#ablate")))
	step(t, ctx, "ablate", chromedp.Click(chromedp.CSS("#ablate")), ready(), chromedp.WaitVisible(chromedp.CSS("#iv-after .pill")))
	if got := eval[string](t, ctx, `document.querySelector("#iv-out").innerText`); !strings.Contains(got, "layers.2.maxpool2d.hook_out[:][0]=0") || !strings.Contains(got, "KL") {
		t.Errorf("playground: %q", got)
	}

	b64, _ := digitPNG(t, 5)
	raw, _ := base64.StdEncoding.DecodeString(b64)
	file := filepath.Join(t.TempDir(), "digit.png")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "explorer", chromedp.Navigate(ts.URL+"/explore"), ready(), chromedp.WaitVisible(chromedp.CSS("#image")))
	step(t, ctx, "upload", chromedp.SetUploadFiles(chromedp.CSS("#image"), []string{file}), chromedp.WaitVisible(chromedp.CSS("#image-preview")),
		chromedp.Click(chromedp.CSS("#run")), chromedp.WaitVisible(chromedp.CSS("#unit-maps canvas")))
	if got := eval[string](t, ctx, `document.querySelector("#img-hook").value`); got != "" {
		t.Errorf("hook %q selected, want the default", got)
	}
	hook := eval[string](t, ctx, `document.querySelector("#unit-maps figure").dataset.unit.split(":")[0]`)
	want := 0
	for _, x := range ov.Hooks {
		if x.Name == hook {
			want = min(12, x.Shape[1]) // [1, channel, h, w]
		}
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#unit-maps canvas").length`); n != want || n == 0 {
		t.Errorf("%d unit maps of %s, want %d", n, hook, want)
	}
}
