package server

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image"
	"image/png"
	"math"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/gradcam"
	"github.com/glia-dev/glia/images"
)

const mnistIDX = "../testdata/images/mnist/mnist-1k.u8"

var visionModels struct {
	once sync.Once
	m    map[string]*engine.Model
	err  error
}

// visionServer serves a trained MNIST model (mnist-cnn or mnist-vit),
// loaded once per test binary.
func visionServer(t testing.TB, name string) (*httptest.Server, *engine.Model) {
	t.Helper()
	visionModels.once.Do(func() {
		visionModels.m = map[string]*engine.Model{}
		for _, n := range []string{"mnist-cnn", "mnist-vit"} {
			m, err := engine.Load("../testdata/trained/" + n)
			if err != nil {
				visionModels.err = err
				return
			}
			visionModels.m[n] = m
		}
	})
	if visionModels.err != nil {
		t.Fatal(visionModels.err)
	}
	m := visionModels.m[name]
	s, err := New(Config{Model: m})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	return ts, m
}

// digitPNG is MNIST test image i as a grey PNG, base64, and as read.
func digitPNG(t testing.TB, i int) (string, *images.Image) {
	t.Helper()
	im, err := images.Load(mnistIDX + ":" + strconv.Itoa(i))
	if err != nil {
		t.Fatal(err)
	}
	g := image.NewGray(image.Rect(0, 0, im.W, im.H))
	for p, v := range im.Pix {
		g.Pix[p] = uint8(v)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, g); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), im
}

// enginePixels is what `glia run --image FILE.u8:i` feeds the engine.
func enginePixels(t testing.TB, m *engine.Model, ims ...*images.Image) *engine.Array {
	t.Helper()
	shape, _ := m.ImageShape()
	pix, err := images.ForModel(m.Name, shape, ims)
	if err != nil {
		t.Fatal(err)
	}
	return &engine.Array{Shape: []int{len(ims), shape[0], shape[1], shape[2]}, Data: pix}
}

func sameFloats(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestImageCacheEqualsEngine: /api/cache on PNG uploads gives the engine's
// logits and hooks on the images read from the IDX file, bit for bit, for
// both families, with the gradient of a class.
func TestImageCacheEqualsEngine(t *testing.T) {
	for _, c := range []struct{ model, hook string }{{"mnist-cnn", "layers.3.conv2d.hook_out"}, {"mnist-vit", "blocks.0.mlp.hook_post"}} {
		t.Run(c.model, func(t *testing.T) {
			ts, m := visionServer(t, c.model)
			b0, im0 := digitPNG(t, 0)
			b1, im1 := digitPNG(t, 1)
			var got api.CacheResponse
			body := api.CacheRequest{Images: []string{b0, b1}, Hooks: []string{c.hook}, Grad: &api.CacheGrad{Batch: 1, Pos: -1, Token: 3}}
			if code := call(t, ts, "POST", "/api/cache", body, &got); code != 200 {
				t.Fatalf("status %d", code)
			}
			want, err := m.Run(engine.Request{Pixels: enginePixels(t, m, im0, im1), Hooks: []string{c.hook}, Grad: &engine.GradTarget{Batch: 1, Token: 3}})
			if err != nil {
				t.Fatal(err)
			}
			if got.Logits == nil || len(got.Logits.Shape) != 3 || got.Logits.Shape[0] != 2 || got.Logits.Shape[1] != 1 || len(got.Lengths) != 2 {
				t.Fatalf("logits %v, lengths %v", got.Logits, got.Lengths)
			}
			sameFloats(t, "logits", unwire(t, *got.Logits).Data, want.Logits.Data)
			sameFloats(t, c.hook, unwire(t, got.Acts[c.hook]).Data, want.Acts[c.hook].Data)
			sameFloats(t, "grad:"+c.hook, unwire(t, got.Grads[c.hook]).Data, want.Grads[c.hook].Data)
		})
	}
}

// TestImageRunAndIntervene: the explorer ranks the hook's channels by
// their maximum and returns their maps as the engine computes them; a
// zeroed classifier output gives the uniform distribution over the ten
// classes.
func TestImageRunAndIntervene(t *testing.T) {
	ts, m := visionServer(t, "mnist-cnn")
	b64, im := digitPNG(t, 2)
	const hook = "layers.4.relu.hook_out" // [1, 32, 14, 14]
	var r api.RunResponse
	if code := call(t, ts, "POST", "/api/run", api.RunRequest{Image: b64, Hook: hook, Units: []string{hook + ":7"}, Top: 4}, &r); code != 200 {
		t.Fatalf("status %d", code)
	}
	want, err := m.Run(engine.Request{Pixels: enginePixels(t, m, im), Hooks: []string{hook}})
	if err != nil {
		t.Fatal(err)
	}
	a := want.Acts[hook].Data
	plane := 14 * 14
	if r.Image == nil || r.Image.Layout != "channels" || r.Image.GridH != 14 || r.Image.Units != 32 || len(r.Top) != 1 || len(r.Top[0]) != 4 || len(r.Image.Maps) != 4 {
		t.Fatalf("image run: %+v", r.Image)
	}
	sameFloats(t, "unit 7's map", r.Units[0].Acts, a[7*plane:8*plane])
	best, bestU := float32(math.Inf(-1)), -1
	for u := range 32 {
		for _, v := range a[u*plane : (u+1)*plane] {
			if v > best {
				best, bestU = v, u
			}
		}
	}
	if r.Top[0][0].ID != hook+":"+strconv.Itoa(bestU) || r.Top[0][0].Act != best {
		t.Errorf("top unit %+v, want %s:%d at %v", r.Top[0][0], hook, bestU, best)
	}
	sameFloats(t, "top map", r.Image.Maps[0], a[bestU*plane:(bestU+1)*plane])
	top := engine.TopTokens(want.Logits.Data, 1)[0]
	if r.Next[0].ID != top.ID || r.Next[0].Token != strconv.Itoa(top.ID) {
		t.Errorf("top class %+v, want %d", r.Next[0], top.ID)
	}

	// Ablating channel 5 of the last ReLU (the image atlas' "ablate" link:
	// HOOK[:,unit]=0) zeroes that channel's average after the pooling and
	// leaves the other 63 as they were.
	const pool = "layers.8.adaptive_avgpool2d.hook_out" // [1, 64, 1, 1]
	var base, ablated api.CacheResponse
	for i, specs := range [][]string{nil, {"layers.7.relu.hook_out[:,5]=0"}} {
		out := []*api.CacheResponse{&base, &ablated}[i]
		if code := call(t, ts, "POST", "/api/cache", api.CacheRequest{Image: b64, Hooks: []string{pool}, Specs: specs}, out); code != 200 {
			t.Fatalf("cache %v: status %d", specs, code)
		}
	}
	b, a := unwire(t, base.Acts[pool]).Data, unwire(t, ablated.Acts[pool]).Data
	for c := range 64 {
		if want := map[bool]float32{true: 0, false: b[c]}[c == 5]; a[c] != want {
			t.Errorf("channel %d after ablating 5: %v, want %v", c, a[c], want)
		}
	}
	if b[5] == 0 {
		t.Errorf("channel 5 is zero before the ablation: the test shows nothing")
	}

}

// TestImageRunViT: a ViT hook's unit map is its value at each patch, CLS
// (position 0) left out, on the patch grid.
func TestImageRunViT(t *testing.T) {
	ts, m := visionServer(t, "mnist-vit")
	b64, im := digitPNG(t, 3)
	const hook = "blocks.1.mlp.hook_post"
	var r api.RunResponse
	if code := call(t, ts, "POST", "/api/run", api.RunRequest{Image: b64, Hook: hook, Units: []string{hook + ":9"}, Top: 2}, &r); code != 200 {
		t.Fatalf("status %d", code)
	}
	want, err := m.Run(engine.Request{Pixels: enginePixels(t, m, im), Hooks: []string{hook}})
	if err != nil {
		t.Fatal(err)
	}
	a := want.Acts[hook] // [1, 1+patches, d_mlp]
	rows, cols, _ := m.PatchGrid()
	d := a.Shape[2]
	if r.Image.Layout != "patches" || r.Image.GridH != rows || r.Image.GridW != cols || r.Image.Units != d || a.Shape[1] != 1+rows*cols {
		t.Fatalf("image run %+v for %v", r.Image, a.Shape)
	}
	wantMap := make([]float32, rows*cols)
	for p := range wantMap {
		wantMap[p] = a.Data[(1+p)*d+9]
	}
	sameFloats(t, "unit 9's patches", r.Units[0].Acts, wantMap)
}

// TestImageIntervene: zeroing a ViT's last residual stream leaves the
// classifier only the final norm's bias, so two different digits get one
// and the same class distribution, which their baselines are not.
func TestImageIntervene(t *testing.T) {
	ts, _ := visionServer(t, "mnist-vit")
	var ivs [2]api.InterveneResponse
	for i, digit := range []int{0, 1} {
		b64, _ := digitPNG(t, digit)
		if code := call(t, ts, "POST", "/api/intervene", api.InterveneRequest{Image: b64, Specs: []string{"blocks.1.hook_resid_post[:,:]=0"}}, &ivs[i]); code != 200 {
			t.Fatalf("intervene status %d", code)
		}
		if len(ivs[i].After) != 10 || ivs[i].KL <= 0 || len(ivs[i].Tokens) != 0 {
			t.Fatalf("intervene: %+v", ivs[i])
		}
	}
	if ivs[0].Base[0].ID == ivs[1].Base[0].ID {
		t.Errorf("both digits' baselines say %d", ivs[0].Base[0].ID)
	}
	for k := range 10 {
		if a, b := ivs[0].After[k], ivs[1].After[k]; a.ID != b.ID || math.Abs(a.Prob-b.Prob) > 1e-6 {
			t.Errorf("after the ablation, class %d: %+v vs %+v", k, a, b)
		}
	}
}

// TestGradCAMEndpoint: /api/gradcam answers package gradcam's arrays for
// the uploaded image (a ViT: CLS dropped, patches on the grid), and an
// overlay PNG of the input's size times scale.
func TestGradCAMEndpoint(t *testing.T) {
	for _, c := range []struct {
		model, method string
		class         int
	}{{"mnist-cnn", "gradcam", 3}, {"mnist-vit", "hirescam", 5}} {
		t.Run(c.model, func(t *testing.T) {
			ts, m := visionServer(t, c.model)
			b64, im := digitPNG(t, 4)
			class := c.class
			var got api.GradCAMResponse
			if code := call(t, ts, "POST", "/api/gradcam", api.GradCAMRequest{Image: b64, Class: &class, Method: c.method, Scale: 2}, &got); code != 200 {
				t.Fatalf("status %d", code)
			}
			method, _ := gradcam.ParseMethod(c.method)
			want, err := gradcam.ComputeWith(m, *enginePixels(t, m, im), class, "", method)
			if err != nil {
				t.Fatal(err)
			}
			if got.Hook != want.Hook || got.Class != class || got.Patches != want.Patches || got.GridH != want.GridH || got.H != 28 {
				t.Fatalf("got %s class %d patches %v grid %d, want %s %d %v %d", got.Hook, got.Class, got.Patches, got.GridH, want.Hook, class, want.Patches, want.GridH)
			}
			sameFloats(t, "heat", got.Heat, want.Heat)
			sameFloats(t, "cam", got.Cam, want.Cam)
			sameFloats(t, "weights", got.Weights, want.Weights)
			ov, err := png.Decode(bytes.NewReader(got.Overlay))
			if err != nil {
				t.Fatal(err)
			}
			if b := ov.Bounds(); b.Dx() != 56 || b.Dy() != 56 {
				t.Errorf("overlay %v, want 56×56", b)
			}
		})
	}
}

// TestImageInputErrors: each wrong input is a 4xx naming the field.
func TestImageInputErrors(t *testing.T) {
	cnn, _ := visionServer(t, "mnist-cnn")
	_, text := newTestServer(t, Config{})
	b64, _ := digitPNG(t, 0)
	ten := 10
	var huge bytes.Buffer
	if err := png.Encode(&huge, image.NewGray(image.Rect(0, 0, 2049, 2049))); err != nil {
		t.Fatal(err)
	}
	big := base64.StdEncoding.EncodeToString(huge.Bytes())
	for _, c := range []struct {
		name string
		ts   *httptest.Server
		path string
		body any
		code int
		want string
	}{
		{"image to a text model", text, "/api/run", api.RunRequest{Image: b64}, 400, `"image"`},
		{"images to a text model", text, "/api/cache", api.CacheRequest{Images: []string{b64}}, 400, `"image"`},
		{"image to text intervene", text, "/api/intervene", api.InterveneRequest{Image: b64, Specs: []string{"blocks.0.mlp.hook_post[:,0]=0"}}, 400, `"image"`},
		{"gradcam of a text model", text, "/api/gradcam", api.GradCAMRequest{Image: b64}, 400, "reads text"},
		{"prompt to an image model", cnn, "/api/run", api.RunRequest{Prompt: "hello"}, 400, `"prompt"`},
		{"ids to an image model", cnn, "/api/cache", api.CacheRequest{IDs: []int32{1, 2}}, 400, `"ids"`},
		{"no image", cnn, "/api/intervene", api.InterveneRequest{Specs: []string{"layers.4.relu.hook_out[:,0]=0"}}, 400, `"image"`},
		{"not base64", cnn, "/api/run", api.RunRequest{Image: "%%%"}, 400, "base64"},
		{"not an image", cnn, "/api/cache", api.CacheRequest{Images: []string{b64, base64.StdEncoding.EncodeToString([]byte("GIF89a"))}}, 400, "images[1]"},
		{"image and images", cnn, "/api/cache", api.CacheRequest{Image: b64, Images: []string{b64}}, 400, "not both"},
		{"too many pixels", cnn, "/api/run", api.RunRequest{Image: big}, 413, "2049×2049"},
		{"not an image hook", cnn, "/api/run", api.RunRequest{Image: b64, Hook: "blocks.0.mlp.hook_post"}, 400, "no hook point"},
		{"grad position", cnn, "/api/cache", api.CacheRequest{Image: b64, Hooks: []string{"layers.0.conv2d.hook_out"}, Grad: &api.CacheGrad{Pos: 3}}, 400, "grad.pos"},
		{"class out of range", cnn, "/api/gradcam", api.GradCAMRequest{Image: b64, Class: &ten}, 400, `"class"`},
		{"method", cnn, "/api/gradcam", api.GradCAMRequest{Image: b64, Method: "lime"}, 400, `"method"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var e api.Error
			if code := call(t, c.ts, "POST", c.path, c.body, &e); code != c.code || !strings.Contains(e.Error, c.want) {
				t.Errorf("%d %q, want %d with %q", code, e.Error, c.code, c.want)
			}
		})
	}
}

// FuzzImageAPI posts arbitrary bodies to the image routes (route picks
// one) of a server on the trained MNIST CNN; seeds hold a real PNG. As
// FuzzAPI: every answer is JSON, every error says what, and nothing is a
// 5xx but a deadline's 503.
//
//	GOEXPERIMENT=simd go test ./server -run '^$' -fuzz FuzzImageAPI -fuzztime 60s
func FuzzImageAPI(f *testing.F) {
	b64, _ := digitPNG(f, 0)
	routes := []string{"/api/run", "/api/cache", "/api/intervene", "/api/gradcam"}
	for route, body := range []string{
		`{"image":"` + b64 + `","hook":"layers.4.relu.hook_out","units":["layers.1.relu.hook_out:3"],"top":3}`,
		`{"images":["` + b64 + `","data:image/png;base64,` + b64 + `"],"hooks":["layers.*.conv2d.hook_out"],"grad":{"batch":1,"pos":0,"token":4}}`,
		`{"image":"` + b64 + `","specs":["layers.4.relu.hook_out[:,0:4]*=2"]}`,
		`{"image":"` + b64 + `","class":3,"hook":"layers.3.conv2d.hook_out","method":"hirescam","alpha":0.3,"scale":2}`,
	} {
		f.Add(byte(route), []byte(body))
	}
	ts, _ := visionServer(f, "mnist-cnn")
	f.Fuzz(func(t *testing.T, route byte, body []byte) {
		path := routes[int(route)%len(routes)]
		var e api.Error
		code := callRaw(t, ts, "POST", path, body, &e, "Content-Type", "application/json")
		if code == 200 {
			return
		}
		if e.Error == "" || e.Status != code {
			t.Fatalf("POST %s %q: %d without an error body", path, body, code)
		}
		if code >= 500 && code != 503 {
			t.Fatalf("POST %s %q: %d %s", path, body, code, e.Error)
		}
	})
}

// FuzzRequestImages drives the image part of every image route (base64,
// data: URLs, PNG/JPEG decoding with its pixel limit, preprocessing for the
// model) without running the model, so it explores inputs far faster than
// FuzzImageAPI, whose requests each run (and may compile) a graph: any
// input gives images of the model's shape or a 4xx error, never a panic.
func FuzzRequestImages(f *testing.F) {
	b64, _ := digitPNG(f, 0)
	for _, s := range []string{b64, "data:image/png;base64," + b64, "", "!!", base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n"))} {
		f.Add(s, false)
		f.Add(s, true)
	}
	_, m := visionServer(f, "mnist-cnn")
	s, err := New(Config{Model: m})
	if err != nil {
		f.Fatal(err)
	}
	shape, _ := m.ImageShape()
	f.Fuzz(func(t *testing.T, image string, asList bool) {
		var px *engine.Array
		var err error
		if asList {
			px, _, err = s.requestImages(m, "", []string{image, image})
		} else {
			px, _, err = s.requestImages(m, image, nil)
		}
		if err != nil {
			var e *apiError
			if !errors.As(err, &e) || e.status < 400 || e.status >= 500 {
				t.Fatalf("%q: error %v is not a 4xx", image, err)
			}
			return
		}
		if want := []int{px.Shape[0], shape[0], shape[1], shape[2]}; !slices.Equal(px.Shape, want) || len(px.Data) != px.Shape[0]*shape[0]*shape[1]*shape[2] {
			t.Fatalf("%q: pixels %v (%d values) for a model of shape %v", image, px.Shape, len(px.Data), shape)
		}
	})
}
