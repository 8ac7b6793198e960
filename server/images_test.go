package server

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/atlas/atlastest"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/images"
	"github.com/glia-dev/glia/internal/atlasmodel"
)

// newImageServer builds the image atlas of the hand-set checkerboard CNN
// (atlastest.PlantedCNN) over 60 MNIST digits and serves it with the model.
func newImageServer(t testing.TB) (*httptest.Server, []atlastest.Plant) {
	t.Helper()
	dir := t.TempDir()
	model, idx, plants, err := atlastest.PlantedCNN(dir, "../testdata/images/mnist/mnist-1k.u8", 60)
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	im, err := atlasmodel.NewImages(m)
	if err != nil {
		t.Fatal(err)
	}
	set, err := images.OpenSet(idx)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	opt := atlas.DefaultImageBuildOptions()
	opt.Out, opt.Images, opt.Pre, opt.Hooks = filepath.Join(dir, "img.db"), set, images.Default(28, 28), "layers.*.*.hook_out"
	if _, err := atlas.BuildImages(context.Background(), im, opt); err != nil {
		t.Fatal(err)
	}
	a, err := atlas.Open(opt.Out)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Atlas: a, Model: m})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close(); a.Close() })
	return ts, plants
}

// TestImageAtlasAPI: the neuron response of an image atlas carries the
// exemplars (the planted images for the checker channel), each exemplar's
// PNG has the scaled size with red only inside the mask box, and bad
// requests are errors.
func TestImageAtlasAPI(t *testing.T) {
	ts, plants := newImageServer(t)
	var n api.NeuronResponse
	if code := call(t, ts, "GET", "/api/neurons/layers.2.maxpool2d.hook_out/0", nil, &n); code != 200 {
		t.Fatalf("neuron: %d", code)
	}
	im := n.Images
	if im == nil || len(im.Exemplars) != 15 || im.GridH != 14 || im.Layout != "channels" || im.Quantile == nil || *im.Quantile != 0 {
		t.Fatalf("images: %+v", im)
	}
	planted := map[int]bool{}
	for _, p := range plants {
		planted[p.Image] = true
	}
	for _, e := range im.Exemplars {
		if !planted[e.Image] || e.Activation != 0.5 || e.MaskBox == nil {
			t.Errorf("exemplar %+v is not a planted image at 0.5 with a mask", e)
		}
	}
	e := im.Exemplars[0]
	res, err := ts.Client().Get(ts.URL + e.PNG + "?scale=3")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("png: %d %s", res.StatusCode, body)
	}
	pic, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if b := pic.Bounds(); b.Dx() != 84 || b.Dy() != 84 {
		t.Fatalf("png is %v, want 84×84", b)
	}
	box := *e.MaskBox
	for y := range 84 {
		for x := range 84 {
			r, g, _, _ := pic.At(x, y).RGBA()
			red := r > g+0x2000
			in := x/3 >= box[0] && x/3 < box[2] && y/3 >= box[1] && y/3 < box[3]
			if red && !in {
				t.Fatalf("red pixel (%d, %d) outside the mask box %v", x, y, box)
			}
		}
	}
	for _, c := range []struct {
		path string
		code int
	}{
		{"/api/neurons/layers.2.maxpool2d.hook_out/0/exemplars/15.png", 404},
		{"/api/neurons/layers.2.maxpool2d.hook_out/0/exemplars/x.png", 400},
		{"/api/neurons/layers.2.maxpool2d.hook_out/0/exemplars/0.jpg", 400},
		{"/api/neurons/layers.2.maxpool2d.hook_out/9/exemplars/0.png", 404},
		{"/api/neurons/nope/0/exemplars/0.png", 404},
		{"/api/neurons/layers.2.maxpool2d.hook_out/0/exemplars/0.png?scale=99", 400},
	} {
		var e api.Error
		if code := call(t, ts, "GET", c.path, nil, &e); code != c.code || e.Error == "" {
			t.Errorf("%s: %d %q, want %d with a JSON error", c.path, code, e.Error, c.code)
		}
	}
	// The unit list works: the checker channel ranks first by max in its hook.
	var sr api.SearchResponse
	if code := call(t, ts, "GET", "/api/search?hook=layers.1.relu.hook_out&sort=max", nil, &sr); code != 200 || len(sr.Hits) != 2 {
		t.Fatalf("search: %d, %+v", code, sr)
	}
	// A text atlas has no images.
	_, tts := newTestServer(t, Config{})
	var te api.Error
	if code := call(t, tts, "GET", "/api/neurons/blocks.1.mlp.hook_post/3/exemplars/0.png", nil, &te); code != 404 || !strings.Contains(te.Error, "text") {
		t.Errorf("text atlas png: %d %q", code, te.Error)
	}
}

// TestImageAtlasBrowser: the unit page of an image atlas shows the fifteen
// exemplars as loaded thumbnails with captions, and the overview counts
// images. GLIA_SCREENSHOTS=1 saves docs/img/imgatlas-planted.png.
func TestImageAtlasBrowser(t *testing.T) {
	ctx := browser(t)
	ts, plants := newImageServer(t)
	step(t, ctx, "overview", chromedp.Navigate(ts.URL+"/"), ready(), chromedp.WaitVisible(chromedp.CSS("#atlas-card")))
	if got := eval[string](t, ctx, `document.querySelector("#atlas-card").innerText`); !strings.Contains(got, "images") || !strings.Contains(got, "top 15 images with masks") {
		t.Errorf("atlas card: %q", got)
	}
	step(t, ctx, "image unit", chromedp.Navigate(ts.URL+"/neuron/layers.2.maxpool2d.hook_out/0"), ready(), chromedp.WaitVisible(chromedp.CSS("#exemplars img")))
	if n := eval[int](t, ctx, `[...document.querySelectorAll("#exemplars img")].filter(i => i.complete && i.naturalWidth === 168).length`); n != 15 {
		t.Errorf("%d loaded 168-pixel thumbnails, want 15", n)
	}
	planted := map[int]bool{}
	for _, p := range plants {
		planted[p.Image] = true
	}
	for _, id := range eval[[]int](t, ctx, `[...document.querySelectorAll("#exemplars figure")].map(f => +f.dataset.image)`) {
		if !planted[id] {
			t.Errorf("thumbnail of image %d, which holds no checker", id)
		}
	}
	if got := eval[string](t, ctx, `document.querySelector("#exemplars figcaption").innerText`); !strings.HasPrefix(got, "0.5") {
		t.Errorf("caption %q", got)
	}
	if got := eval[string](t, ctx, `document.querySelector("#stats").innerText`); !strings.Contains(strings.ToLower(got), "positions") {
		t.Errorf("stats: %q", got)
	}
	if os.Getenv("GLIA_SCREENSHOTS") == "1" {
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "docs", "img", "imgatlas-planted.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The unit list of a hook links to its units' pages.
	step(t, ctx, "list", chromedp.Navigate(ts.URL+"/search?hook=layers.1.relu.hook_out&sort=max"), ready(), chromedp.WaitVisible(chromedp.CSS("#results tbody tr a")))
	step(t, ctx, "open", chromedp.Click(chromedp.CSS("#results tbody tr a")), ready(), chromedp.WaitVisible(chromedp.CSS("#exemplars img")))
	if got := eval[string](t, ctx, `document.querySelector("#unit-title").textContent`); !strings.HasPrefix(got, "layers.1.relu.hook_out:") {
		t.Errorf("first unit by max: %q", got)
	}
}
