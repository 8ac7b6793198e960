package images

import (
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSet: an IDX file reads as DecodeIDX does, FILE:N takes its first N
// images, a directory its PNG and JPEG files in name order; bad specs are
// *Error naming the file, before any image is read.
func TestSet(t *testing.T) {
	want, err := readIDX(mnistImages, 5)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, name := range []string{"b.png", "a.png", "notes.txt"} {
		f, _ := os.Create(filepath.Join(dir, name))
		im := image.NewGray(image.Rect(0, 0, 3, 2))
		im.SetGray(1, 1, color.Gray{Y: uint8(100 + i)})
		png.Encode(f, im)
		f.Close()
	}
	s, err := OpenSet(mnistImages+":5", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Len() != 7 {
		t.Fatalf("%d images, want 5 + 2", s.Len())
	}
	for i := range 5 {
		im, err := s.Image(i)
		if err != nil || !slices.Equal(im.Pix, want[i].Pix) || s.Name(i) != mnistImages+":"+string(rune('0'+i)) {
			t.Fatalf("image %d (%s): %v", i, s.Name(i), err)
		}
	}
	if s.Name(5) != filepath.Join(dir, "a.png") || s.Name(6) != filepath.Join(dir, "b.png") {
		t.Errorf("directory order: %s, %s", s.Name(5), s.Name(6))
	}
	if im, err := s.Image(5); err != nil || im.At(0, 1, 1) != 101 {
		t.Errorf("a.png: %v", err)
	}
	all, err := OpenSet(mnistImages)
	if err != nil {
		t.Fatal(err)
	}
	n := all.Len()
	all.Close()
	short := filepath.Join(dir, "short.u8")
	b, _ := os.ReadFile(mnistImages)
	os.WriteFile(short, b[:len(b)-1], 0o644)
	for _, c := range []struct{ spec, want string }{
		{mnistImages + ":0", "N ≥ 1"},
		{mnistImages + ":999999", "were asked for"},
		{dir + ":3", "not of a directory"},
		{filepath.Join(dir, "a.png:1"), "not of a PNG"},
		{filepath.Join(dir, "notes.txt"), "not IDX uint8 images"},
		{short, "header announces"},
		{filepath.Join(dir, "missing.png"), "cannot open"},
		{t.TempDir(), "no .png"},
	} {
		_, err := OpenSet(c.spec)
		var ie *Error
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an *Error containing %q", c.spec, err, c.want)
		}
	}
	if n != 1000 {
		t.Errorf("the whole IDX file: %d images", n)
	}
}
