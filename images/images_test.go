package images

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const (
	mnistImages = "../testdata/images/mnist/mnist-1k.u8"
	mnistLabels = "../testdata/images/mnist/mnist-1k-labels.u8"
)

func TestReadMNIST(t *testing.T) {
	ims, labels, err := ReadMNIST(mnistImages, mnistLabels, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ims) != 1000 || len(labels) != 1000 {
		t.Fatalf("read %d images, %d labels; want 1000", len(ims), len(labels))
	}
	// Round-robin by digit (testdata/images/mnist/README.md).
	for i := range 10 {
		if labels[i] != i {
			t.Errorf("label %d = %d, want %d", i, labels[i], i)
		}
	}
	var ink float64
	for _, v := range ims[0].Pix {
		if v < 0 || v > 255 {
			t.Fatalf("pixel %v outside 0–255", v)
		}
		ink += float64(v)
	}
	if ims[0].C != 1 || ims[0].H != 28 || ims[0].W != 28 || ink == 0 {
		t.Errorf("image 0 is %d×%d×%d with ink %v", ims[0].C, ims[0].H, ims[0].W, ink)
	}
	some, _, err := ReadMNIST(mnistImages, mnistLabels, 7)
	if err != nil || len(some) != 7 || !slices.Equal(some[6].Pix, ims[6].Pix) {
		t.Errorf("limit 7: %d images, %v", len(some), err)
	}
}

func TestBadIDX(t *testing.T) {
	good, err := os.ReadFile(mnistImages)
	if err != nil {
		t.Fatal(err)
	}
	be := func(b []byte, off int, v uint32) []byte {
		b = append([]byte(nil), b...)
		b[off], b[off+1], b[off+2], b[off+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		return b
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"short", good[:10], "needs 16 bytes"},
		{"magic", be(good, 0, 0x801), "is not IDX uint8 images"},
		{"count", be(good, 4, 1<<30), "header announces 1073741824 images"},
		{"huge side", be(good, 8, 1<<20), "out of range"},
		{"zero side", be(good, 12, 0), "out of range"},
		{"truncated", good[:16+784*3+5], "the file has 2373 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeIDX("x.u8", bytes.NewReader(c.data), int64(len(c.data)), 0)
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
				t.Errorf("error %v, want it to say %q", err, c.want)
			}
		})
	}
}

func FuzzIDX(f *testing.F) {
	good, err := os.ReadFile(mnistImages)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[:16+784*2])
	f.Add([]byte{0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7})
	f.Add([]byte{0, 0, 8, 1, 0, 0, 0, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		if ims, err := DecodeIDX("f", bytes.NewReader(data), int64(len(data)), 0); err == nil {
			var n int
			for _, im := range ims {
				n += len(im.Pix)
			}
			if 16+n != len(data) {
				t.Fatalf("read %d pixels from %d bytes", n, len(data))
			}
		}
		if ls, err := DecodeLabels("f", bytes.NewReader(data), int64(len(data)), 0); err == nil && 8+len(ls) != len(data) {
			t.Fatalf("read %d labels from %d bytes", len(ls), len(data))
		}
	})
}

func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 3, 2)))
	f.Add(buf.Bytes())
	buf.Reset()
	jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 4, 4)), nil)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := Decode("f", bytes.NewReader(data))
		if err == nil && len(im.Pix) != im.C*im.H*im.W {
			t.Fatalf("%d values for %d×%d×%d", len(im.Pix), im.C, im.H, im.W)
		}
	})
}

func TestDecodeRefusesHugeHeader(t *testing.T) {
	// A PNG header announcing 100000×100000 pixels with no data: refused
	// before decoding allocates 10 GB.
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1)))
	b := buf.Bytes()
	ihdr := bytes.Index(b, []byte("IHDR")) + 4
	for _, off := range []int{0, 4} {
		b[ihdr+off], b[ihdr+off+1], b[ihdr+off+2], b[ihdr+off+3] = 0, 1, 0x86, 0xa0 // 100000
	}
	binary.BigEndian.PutUint32(b[ihdr+13:], crc32.ChecksumIEEE(b[ihdr-4:ihdr+13]))
	_, err := Decode("big.png", bytes.NewReader(b))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("error %v, want ErrTooLarge", err)
	}
}

func TestReadPNGAndJPEG(t *testing.T) {
	dir := t.TempDir()
	grey := image.NewGray(image.Rect(0, 0, 5, 3))
	rgba := image.NewNRGBA(image.Rect(0, 0, 5, 3))
	for y := range 3 {
		for x := range 5 {
			grey.SetGray(x, y, color.Gray{uint8(10*x + 50*y)})
			rgba.SetNRGBA(x, y, color.NRGBA{uint8(40 * x), uint8(80 * y), 7, 128})
		}
	}
	write := func(name string, enc func(*os.File) error) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := enc(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return p
	}
	gp := write("a.png", func(f *os.File) error { return png.Encode(f, grey) })
	cp := write("b.png", func(f *os.File) error { return png.Encode(f, rgba) })
	jp := write("c.jpg", func(f *os.File) error { return jpeg.Encode(f, grey, &jpeg.Options{Quality: 100}) })
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)

	g, err := Read(gp)
	if err != nil || g.C != 1 || g.H != 3 || g.W != 5 || g.At(0, 2, 4) != 140 {
		t.Errorf("grey PNG: %+v %v", g, err)
	}
	c, err := Read(cp)
	// Alpha is dropped and the colour kept (un-premultiplied), as PIL's convert("RGB").
	if err != nil || c.C != 3 || c.At(0, 1, 3) != 120 || c.At(1, 1, 3) != 80 || c.At(2, 1, 3) != 7 {
		t.Errorf("RGBA PNG: %v, pixel (3,1) = %v %v %v", err, c.At(0, 1, 3), c.At(1, 1, 3), c.At(2, 1, 3))
	}
	j, err := Read(jp)
	if err != nil || j.C != 1 || math.Abs(float64(j.At(0, 2, 4))-140) > 2 {
		t.Errorf("grey JPEG: %v, pixel %v", err, j.At(0, 2, 4))
	}
	names, err := List(dir)
	if err != nil || len(names) != 3 || names[0] != gp || names[2] != jp {
		t.Errorf("List: %v %v", names, err)
	}
	if _, err := List(t.TempDir()); err == nil {
		t.Error("List of an empty directory: no error")
	}
}

// TestResizeMatchesPIL compares with PIL's resize of float images
// (tools/vision/pil_resize.py).
func TestResizeMatchesPIL(t *testing.T) {
	b, err := os.ReadFile("testdata/pil_resize.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			H, W, Resample int
			OutH           int `json:"out_h"`
			OutW           int `json:"out_w"`
			Src, Want      []float32
		}
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	for _, c := range ref.Cases {
		got := Resize(&Image{C: 1, H: c.H, W: c.W, Pix: c.Src}, c.OutH, c.OutW, c.Resample)
		var worst float64
		for i, w := range c.Want {
			worst = max(worst, math.Abs(float64(got.Pix[i]-w)))
		}
		t.Logf("%d×%d → %d×%d resample %d: max diff %.3g", c.H, c.W, c.OutH, c.OutW, c.Resample, worst)
		if worst > 1e-3 {
			t.Errorf("%d×%d → %d×%d resample %d: max diff %.3g from PIL", c.H, c.W, c.OutH, c.OutW, c.Resample, worst)
		}
	}
}

func TestPreprocess(t *testing.T) {
	cfg := `{"do_normalize": true, "do_rescale": true, "do_resize": true, "image_mean": [0.5, 0.25, 0.5],
	  "image_std": [0.5, 0.5, 0.25], "resample": 2, "rescale_factor": 0.00392156862745098, "size": {"height": 4, "width": 6}}`
	p, err := ParsePreprocessor("p.json", []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	im := New(1, 2, 3)
	for i := range im.Pix {
		im.Pix[i] = 255
	}
	out, err := p.Apply(im, 3)
	if err != nil {
		t.Fatal(err)
	}
	// 255 → 1 → (1-mean)/std per channel.
	want := []float32{1, 1.5, 2}
	if out.C != 3 || out.H != 4 || out.W != 6 {
		t.Fatalf("shape %d×%d×%d", out.C, out.H, out.W)
	}
	for c, w := range want {
		if v := out.At(c, 3, 5); math.Abs(float64(v-w)) > 1e-6 {
			t.Errorf("channel %d = %v, want %v", c, v, w)
		}
	}
	if side, err := ParsePreprocessor("p.json", []byte(`{"size": 32}`)); err != nil || side.Height != 32 || side.Width != 32 || !side.DoNormalize {
		t.Errorf("size 32: %+v %v", side, err)
	}
	for _, bad := range []string{`{"size": {"shortest_edge": 224}}`, `{"size": {"height": 0, "width": 3}}`, `{"image_std": [0, 1, 1]}`,
		`{"resample": 5}`, `{"image_mean": [1, 2]}`, `[`, `{"size": "big"}`} {
		if _, err := ParsePreprocessor("p.json", []byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func FuzzPreprocessor(f *testing.F) {
	f.Add([]byte(`{"size": {"height": 3, "width": 2}, "image_mean": [0.1], "image_std": [2]}`), uint8(1))
	f.Add([]byte(`{"do_resize": false, "resample": 0}`), uint8(3))
	f.Fuzz(func(t *testing.T, cfg []byte, c uint8) {
		p, err := ParsePreprocessor("f", cfg)
		if err != nil || p.DoResize && p.Height*p.Width > 1<<16 {
			return
		}
		im := New(int(c%2)*2+1, 5, 4)
		out, err := p.Apply(im, 3)
		if err == nil && len(out.Pix) != out.C*out.H*out.W {
			t.Fatalf("%d values for %d×%d×%d", len(out.Pix), out.C, out.H, out.W)
		}
	})
}
