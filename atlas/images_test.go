package atlas

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/glia-dev/glia/images"
)

// fakeImageModel computes a hook from the pixels in Go, so the atlas can
// be checked against the same values computed directly. Unit u at a cell
// is (u+1)·pixel/255 − 0.3·u with the grid the image itself; a patch
// layout puts CLS (a huge value the atlas must leave out) at position 0.
type fakeImageModel struct {
	layout Layout
	units  int
	h, w   int
	fail   int // ForwardImages fails from this call on (0: never)
	calls  int
}

func (f *fakeImageModel) Fingerprint() string { return "fake" }
func (f *fakeImageModel) Name() string        { return "fake image model" }
func (f *fakeImageModel) ImageShape() [3]int  { return [3]int{1, f.h, f.w} }
func (f *fakeImageModel) MatchHooks(p string) ([]string, error) {
	if p == "fake.hook" || p == DefaultHooks && f.layout == LayoutPatches || p == "layers.*.*.hook_out" && f.layout != LayoutPatches {
		return []string{"fake.hook"}, nil
	}
	return nil, fmt.Errorf("no hook matches %q", p)
}

func (f *fakeImageModel) ImageHook(name string) (ImageHook, error) {
	switch f.layout {
	case LayoutPatches:
		return ImageHookOf(name, []int{1, 1 + f.h*f.w, f.units}, f.h, f.w)
	case LayoutVector:
		return ImageHookOf(name, []int{1, f.units}, 0, 0)
	}
	return ImageHookOf(name, []int{1, f.units, f.h, f.w}, 0, 0)
}

// value is the hook's value of unit u at cell p of an image's pixels (preprocessed, 0–1).
func (f *fakeImageModel) value(pix []float32, u, p int) float32 {
	return float32(u+1)*pix[p] - 0.3*float32(u)
}

func (f *fakeImageModel) ForwardImages(pix []float32, batch int, hooks []string) (map[string][]float32, error) {
	f.calls++
	if f.fail > 0 && f.calls >= f.fail {
		return nil, errors.New("the fake model fails on purpose")
	}
	cells := f.h * f.w
	var out []float32
	for b := range batch {
		img := pix[b*cells : (b+1)*cells]
		switch f.layout {
		case LayoutPatches:
			for range f.units {
				out = append(out, 1000) // CLS
			}
			for p := range cells {
				for u := range f.units {
					out = append(out, f.value(img, u, p))
				}
			}
		case LayoutVector:
			for u := range f.units {
				out = append(out, f.value(img, u, 0))
			}
		default:
			for u := range f.units {
				for p := range cells {
					out = append(out, f.value(img, u, p))
				}
			}
		}
	}
	return map[string][]float32{hooks[0]: out}, nil
}

// writeIDX writes n random h×w images as an IDX file; every fifth image
// repeats the one before it (ties), and pixels are coarse (repeated values).
func writeIDX(t testing.TB, path string, n, h, w int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := binary.BigEndian.AppendUint32(nil, 0x803)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, uint32(h))
	b = binary.BigEndian.AppendUint32(b, uint32(w))
	prev := make([]byte, h*w)
	for i := range n {
		img := make([]byte, h*w)
		if i%5 == 4 {
			copy(img, prev)
		} else {
			for j := range img {
				img[j] = byte(rng.IntN(16) * 17)
			}
		}
		b = append(b, img...)
		prev = img
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func buildFakeImages(t *testing.T, f *fakeImageModel, n int, mod func(*ImageBuildOptions)) (*Atlas, *images.Set, string) {
	t.Helper()
	dir := t.TempDir()
	idx := filepath.Join(dir, "set.u8")
	writeIDX(t, idx, n, f.h, f.w, 7)
	set, err := images.OpenSet(idx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	opt := DefaultImageBuildOptions()
	opt.Out, opt.Images, opt.Pre, opt.TopK, opt.Batch = filepath.Join(dir, "img.db"), set, images.Default(f.h, f.w), 5, 7
	if f.layout == LayoutVector {
		opt.Hooks = "fake.hook" // the default leaves out 1×1 grids
	}
	if mod != nil {
		mod(&opt)
	}
	if _, err := BuildImages(context.Background(), f, opt); err != nil {
		t.Fatal(err)
	}
	a, err := Open(opt.Out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, set, opt.Out
}

// TestImageAtlasMatchesDirect checks every unit against values computed
// directly: the exact 0.99 quantile (numpy's linear interpolation), the
// top images by spatial max with ties to the earlier image, their argmax
// and maps, the statistics; for three layouts.
func TestImageAtlasMatchesDirect(t *testing.T) {
	for _, layout := range []Layout{LayoutChannels, LayoutPatches, LayoutVector} {
		t.Run(layout.String(), func(t *testing.T) {
			f := &fakeImageModel{layout: layout, units: 3, h: 5, w: 6}
			if layout == LayoutVector {
				f.w, f.h = 1, 1
			}
			const n = 40
			a, set, _ := buildFakeImages(t, f, n, nil)
			if err := a.Verify(); err != nil {
				t.Fatal(err)
			}
			cells := f.h * f.w
			all := make([][]float32, n) // preprocessed pixels
			for i := range n {
				im, err := set.Image(i)
				if err != nil {
					t.Fatal(err)
				}
				in, _ := images.Default(f.h, f.w).Apply(im, 1)
				all[i] = in.Pix
			}
			for u := range f.units {
				r, err := a.ImageUnit("fake.hook", u)
				if err != nil {
					t.Fatal(err)
				}
				var vals []float32
				type cand struct {
					act float32
					img int
					arg int
				}
				var cands []cand
				var sum float64
				for i := range n {
					c := cand{act: float32(math.Inf(-1)), img: i}
					for p := range cells {
						v := f.value(all[i], u, p)
						vals = append(vals, v)
						sum += float64(v)
						if v > c.act {
							c.act, c.arg = v, p
						}
					}
					cands = append(cands, c)
				}
				slices.Sort(vals)
				pos := 0.99 * float64(len(vals)-1)
				lo := int(math.Floor(pos))
				want := float64(vals[lo])
				if lo+1 < len(vals) {
					want += (pos - float64(lo)) * (float64(vals[lo+1]) - float64(vals[lo]))
				}
				if r.Quantile == nil || *r.Quantile != want || r.QuantileErr != 0 || r.QuantileMethod != QuantileExact {
					t.Errorf("unit %d: quantile %v ± %g (%s), want %v exact", u, r.Quantile, r.QuantileErr, r.QuantileMethod, want)
				}
				sort.SliceStable(cands, func(i, j int) bool { return cands[i].act > cands[j].act })
				if len(r.Exemplars) != 5 {
					t.Fatalf("unit %d: %d exemplars, want 5", u, len(r.Exemplars))
				}
				for k, e := range r.Exemplars {
					c := cands[k]
					if e.Image != c.img || e.Activation != c.act || e.Argmax != [2]int{c.arg / f.w, c.arg % f.w} || e.Source != set.Name(c.img) {
						t.Errorf("unit %d exemplar %d: image %d act %g argmax %v, want image %d act %g argmax %v", u, k, e.Image, e.Activation, e.Argmax, c.img, c.act, [2]int{c.arg / f.w, c.arg % f.w})
					}
					step := float64(e.Activation-slices.Min(e.Map)) / 255
					for p, v := range e.Map {
						if d := math.Abs(float64(v - f.value(all[e.Image], u, p))); d > step/2+1e-6 {
							t.Errorf("unit %d exemplar %d cell %d: %g, want %g (quantisation step %g)", u, k, p, v, f.value(all[e.Image], u, p), step)
							break
						}
					}
				}
				if r.Count != int64(n*cells) || math.Abs(r.Mean-sum/float64(n*cells)) > 1e-9 || *r.Max != float64(vals[len(vals)-1]) || *r.Min != float64(vals[0]) {
					t.Errorf("unit %d: count %d mean %g min %g max %g, want %d %g %g %g", u, r.Count, r.Mean, *r.Min, *r.Max, n*cells, sum/float64(n*cells), vals[0], vals[len(vals)-1])
				}
			}
		})
	}
}

// TestImageQuantileHistogram: past its memory budget the quantile is read
// off the histogram, within the error bound it stores.
func TestImageQuantileHistogram(t *testing.T) {
	f := &fakeImageModel{layout: LayoutChannels, units: 3, h: 5, w: 6}
	exact, _, _ := buildFakeImages(t, f, 40, nil)
	est, _, _ := buildFakeImages(t, f, 40, func(o *ImageBuildOptions) { o.QuantileBudget = 1 })
	for u := range 3 {
		a, _ := exact.ImageUnit("fake.hook", u)
		b, _ := est.ImageUnit("fake.hook", u)
		if b.QuantileMethod != QuantileHistogram || math.Abs(*a.Quantile-*b.Quantile) > b.QuantileErr {
			t.Errorf("unit %d: estimate %g ± %g (%s), exact %g", u, *b.Quantile, b.QuantileErr, b.QuantileMethod, *a.Quantile)
		}
		t.Logf("unit %d: exact %g, histogram %g (bound %g)", u, *a.Quantile, *b.Quantile, b.QuantileErr)
	}
}

// TestUpsampleMatchesTorch: values from torch.nn.functional.interpolate(
// mode="bilinear", align_corners=False), torch 2.x.
func TestUpsampleMatchesTorch(t *testing.T) {
	tests := []struct {
		m      []float32
		gh, gw int
		h, w   int
		want   []float32
		name   string
	}{
		{[]float32{1, 2, 3, 4}, 2, 2, 4, 4, []float32{1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4}, "2x2 to 4x4"},
		{[]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 3, 4, 7, 5, []float32{0.0, 0.7000000476837158, 1.5, 2.299999952316284, 3.0, 0.5714285969734192,
			1.2714285850524902, 2.0714285373687744, 2.8714284896850586, 3.5714285373687744, 2.2857143878936768, 2.9857144355773926, 3.7857143878936768,
			4.585714340209961, 5.285714626312256, 4.0, 4.699999809265137, 5.5, 6.300000190734863, 7.0, 5.714285850524902, 6.414286136627197,
			7.214285850524902, 8.01428508758545, 8.714285850524902, 7.428571701049805, 8.128571510314941, 8.928571701049805, 9.728571891784668,
			10.428571701049805, 8.0, 8.699999809265137, 9.5, 10.300000190734863, 11.0}, "3x4 to 7x5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Upsample(tc.m, tc.gh, tc.gw, tc.h, tc.w)
			for i := range got {
				if math.Abs(float64(got[i]-tc.want[i])) > 1e-5 {
					t.Fatalf("cell %d: %g, want %g\n got %v", i, got[i], tc.want[i], got)
				}
			}
		})
	}
}

// TestImageAtlasOut: an existing file is refused without Force and a
// foreign one never replaced; a failing build (a model error, a damaged
// image) leaves --out as it was and no temporary file.
func TestImageAtlasOut(t *testing.T) {
	f := &fakeImageModel{layout: LayoutChannels, units: 2, h: 4, w: 4}
	_, set, out := buildFakeImages(t, f, 12, nil)
	before, _ := os.ReadFile(out)
	opt := DefaultImageBuildOptions()
	opt.Out, opt.Images, opt.Pre, opt.Batch = out, set, images.Default(4, 4), 4
	var ee *ExistsError
	if _, err := BuildImages(context.Background(), f, opt); !errors.As(err, &ee) || ee.NotAtlas != nil {
		t.Errorf("existing atlas without Force: %v, want an ExistsError", err)
	}
	opt.Force = true
	f.fail, f.calls = 2, 0
	if _, err := BuildImages(context.Background(), f, opt); err == nil || !strings.Contains(err.Error(), "fails on purpose") {
		t.Errorf("failing model: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := BuildImages(ctx, f, opt); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "unchanged") {
		t.Errorf("cancelled: %v", err)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Error("a failed build changed --out")
	}
	if _, err := os.Stat(out + ".building"); err == nil {
		t.Error("a failed build left its temporary file")
	}
	foreign := filepath.Join(t.TempDir(), "notes.db")
	os.WriteFile(foreign, []byte("not a database at all, some notes"), 0o644)
	opt.Out = foreign
	f.fail = 0
	if _, err := BuildImages(context.Background(), f, opt); !errors.As(err, &ee) || ee.NotAtlas == nil {
		t.Errorf("foreign file with Force: %v, want an ExistsError naming it not an atlas", err)
	}
	if b, _ := os.ReadFile(foreign); string(b) != "not a database at all, some notes" {
		t.Error("a foreign file was touched")
	}
	// A damaged PNG in a directory set is reported before anything runs.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.png"), []byte("\x89PNG\r\n\x1a\nbroken"), 0o644)
	var ie *images.Error
	if _, err := images.OpenSet(dir); !errors.As(err, &ie) || !strings.Contains(err.Error(), "a.png") {
		t.Errorf("damaged png: %v, want an images.Error naming it", err)
	}
}

// TestImageOptionErrors: options out of range are OptionErrors naming the field.
func TestImageOptionErrors(t *testing.T) {
	f := &fakeImageModel{layout: LayoutChannels, units: 1, h: 2, w: 2}
	dir := t.TempDir()
	writeIDX(t, filepath.Join(dir, "s.u8"), 3, 2, 2, 1)
	set, err := images.OpenSet(filepath.Join(dir, "s.u8"))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	for _, tc := range []struct {
		field string
		mod   func(*ImageBuildOptions)
	}{
		{"TopK", func(o *ImageBuildOptions) { o.TopK = 0 }},
		{"Quantile", func(o *ImageBuildOptions) { o.Quantile = 1 }},
		{"Batch", func(o *ImageBuildOptions) { o.Batch = 0 }},
		{"Pre", func(o *ImageBuildOptions) { o.Pre = nil }},
	} {
		opt := DefaultImageBuildOptions()
		opt.Out, opt.Images, opt.Pre = filepath.Join(dir, "x.db"), set, images.Default(2, 2)
		tc.mod(&opt)
		var oe *OptionError
		if _, err := BuildImages(context.Background(), f, opt); !errors.As(err, &oe) || oe.Option != tc.field {
			t.Errorf("%s: %v, want an OptionError for it", tc.field, err)
		}
	}
}

func TestImageHookOf(t *testing.T) {
	for _, tc := range []struct {
		shape      []int
		rows, cols int
		want       ImageHook
		err        bool
	}{
		{[]int{1, 16, 28, 28}, 0, 0, ImageHook{Name: "h", Units: 16, GridH: 28, GridW: 28, Layout: LayoutChannels}, false},
		{[]int{1, 17, 128}, 4, 4, ImageHook{Name: "h", Units: 128, GridH: 4, GridW: 4, Layout: LayoutPatches}, false},
		{[]int{1, 17, 4, 16}, 4, 4, ImageHook{Name: "h", Units: 64, GridH: 4, GridW: 4, Layout: LayoutPatches}, false},
		{[]int{1, 10}, 0, 0, ImageHook{Name: "h", Units: 10, GridH: 1, GridW: 1, Layout: LayoutVector}, false},
		{[]int{1, 4, 17, 17}, 4, 4, ImageHook{}, true}, // attention pattern
		{[]int{2, 10}, 0, 0, ImageHook{}, true},
		{[]int{1, 2, 3}, 0, 0, ImageHook{}, true},
	} {
		got, err := ImageHookOf("h", tc.shape, tc.rows, tc.cols)
		if (err != nil) != tc.err || !tc.err && got != tc.want {
			t.Errorf("%v: %+v, %v; want %+v (error %v)", tc.shape, got, err, tc.want, tc.err)
		}
	}
}

// FuzzImageExemplarsBlob: any bytes decode without panic or oversized
// allocation; what decodes re-encodes to the same bytes.
func FuzzImageExemplarsBlob(f *testing.F) {
	h := ImageHook{Name: "h", Units: 2, GridH: 2, GridW: 3}
	f.Add(encodeImageExemplars(nil, []imgExemplar{{act: 2, image: 1, argmax: 4, lo: -1, hi: 2, q: []byte{0, 9, 255, 3, 255, 1}},
		{act: 1, image: 0, argmax: 0, lo: 1, hi: 1, q: make([]byte, 6)}}, 2, 3))
	f.Add(encodeImageExemplars(nil, nil, 2, 3))
	f.Add([]byte{1, 255, 255, 2, 0, 3, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ex, err := decodeImageExemplars(b, h, 15, 10, 0)
		if err != nil {
			var be *BlobError
			if !errors.As(err, &be) || be.Hook != "h" {
				t.Fatalf("error %v is not a BlobError naming the hook", err)
			}
			return
		}
		if again := encodeImageExemplars(nil, ex, 2, 3); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, read %x", again, b)
		}
	})
}

// dumpImageAtlas is every row of an image atlas' data tables.
func dumpImageAtlas(t *testing.T, path string) []string {
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var out []string
	for _, table := range []string{"units", "image_units", "images"} {
		out = append(out, queryRows(t, a.DB(), table, "SELECT * FROM "+table+" ORDER BY id")...)
	}
	return out
}

// TestImageAtlasResume: a build that fails part way keeps its checkpoint;
// resumed, it ends with the rows of an uninterrupted build (the exact
// quantile's kept values included). A checkpoint of other settings or
// another image set is refused.
func TestImageAtlasResume(t *testing.T) {
	dir := t.TempDir()
	idx := filepath.Join(dir, "set.u8")
	writeIDX(t, idx, 40, 5, 6, 3)
	set, err := images.OpenSet(idx)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	opts := func(out string) ImageBuildOptions {
		o := DefaultImageBuildOptions()
		o.Out, o.Images, o.Pre, o.TopK, o.Batch, o.CheckpointEvery = out, set, images.Default(5, 6), 5, 7, 0
		return o
	}
	for _, layout := range []Layout{LayoutChannels, LayoutPatches} {
		whole := filepath.Join(dir, layout.String()+"-whole.db")
		if _, err := BuildImages(context.Background(), &fakeImageModel{layout: layout, units: 3, h: 5, w: 6}, opts(whole)); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, layout.String()+".db")
		f := &fakeImageModel{layout: layout, units: 3, h: 5, w: 6, fail: 4}
		_, err := BuildImages(context.Background(), f, opts(out))
		if err == nil || !strings.Contains(err.Error(), "the first 21 of 40 images are checkpointed") {
			t.Fatalf("failing build: %v", err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatal("a failed build wrote --out")
		}
		bad := opts(out)
		bad.Resume, bad.TopK = true, 4
		if _, err := BuildImages(context.Background(), f, bad); err == nil || !strings.Contains(err.Error(), "the hooks and settings differ") {
			t.Errorf("resume with another top-k: %v", err)
		}
		f.fail = 0
		o := opts(out)
		o.Resume = true
		res, err := BuildImages(context.Background(), f, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Resumed != 21 {
			t.Errorf("resumed from %d images, want 21", res.Resumed)
		}
		if got, want := dumpImageAtlas(t, out), dumpImageAtlas(t, whole); !slices.Equal(got, want) {
			t.Errorf("resumed atlas differs from an uninterrupted one (%d and %d rows)", len(got), len(want))
		}
		if _, err := os.Stat(out + ".building"); err == nil {
			t.Error("the checkpoint file is left after the build")
		}
	}
	o := opts(filepath.Join(dir, "none.db"))
	o.Resume = true
	if _, err := BuildImages(context.Background(), &fakeImageModel{layout: LayoutChannels, units: 3, h: 5, w: 6}, o); err == nil || !strings.Contains(err.Error(), "nothing to resume") {
		t.Errorf("resume without a checkpoint: %v", err)
	}
}
