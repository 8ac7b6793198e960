// Package images reads images for vision models: PNG and JPEG files,
// directories of them, and MNIST's IDX files; and prepares them as a
// model's preprocessor_config.json says (resize, rescale, normalise), the
// steps of transformers' ViTImageProcessor.
//
// An Image is planar float32, channels first ([channel, height, width]),
// with the file's values (0–255) until Preprocess rescales them. Every size
// read from a file is checked before memory is allocated for it.
package images

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// MaxPixels bounds width·height of a decoded image (64 megapixels): a
// header may announce any size, and decoding allocates it.
const MaxPixels = 1 << 26

// Image is a planar image: Pix[c*H*W + y*W + x].
type Image struct {
	C, H, W int
	Pix     []float32
}

// New is a zero image of the given size.
func New(c, h, w int) *Image { return &Image{C: c, H: h, W: w, Pix: make([]float32, c*h*w)} }

// At is the value of channel c at (x, y).
func (im *Image) At(c, y, x int) float32 { return im.Pix[(c*im.H+y)*im.W+x] }

// Set sets channel c at (x, y).
func (im *Image) Set(c, y, x int, v float32) { im.Pix[(c*im.H+y)*im.W+x] = v }

// Error is what the readers return: the file, the byte offset where it
// applies (-1 when none), and what is wrong.
type Error struct {
	Path   string
	Offset int64
	Msg    string
	Err    error // cause, may be nil
}

// ErrTooLarge marks an image or file announcing more than glia will allocate.
var ErrTooLarge = errors.New("too large")

func (e *Error) Error() string {
	s := "images: " + e.Path + ": " + e.Msg
	if e.Offset >= 0 {
		s += fmt.Sprintf(" (at byte %d)", e.Offset)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(path string, off int64, cause error, msg string, args ...any) *Error {
	return &Error{Path: path, Offset: off, Err: cause, Msg: fmt.Sprintf(msg, args...)}
}

// Read decodes a PNG or JPEG file. Grey images have one channel, others
// three (RGB; alpha is dropped, as PIL's convert("RGB") does).
func Read(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errorf(path, -1, err, "cannot open")
	}
	defer f.Close()
	return Decode(path, f)
}

// Decode reads a PNG or JPEG stream; name is for messages.
func Decode(name string, r io.ReadSeeker) (*Image, error) { return DecodeLimit(name, r, MaxPixels) }

// DecodeLimit is Decode refusing, from the header and before decoding,
// images of more than maxPixels pixels: a server's bound on what a
// request makes it allocate.
func DecodeLimit(name string, r io.ReadSeeker, maxPixels int64) (*Image, error) {
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		return nil, errorf(name, -1, err, "not a PNG or JPEG image")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, errorf(name, -1, ErrTooLarge, "%s image of %d×%d pixels (at most %d pixels are read)", format, cfg.Width, cfg.Height, maxPixels)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, errorf(name, -1, err, "cannot rewind")
	}
	src, _, err := image.Decode(r)
	if err != nil {
		return nil, errorf(name, -1, err, "cannot decode %s", format)
	}
	return FromImage(src), nil
}

// FromImage converts a Go image: one channel for grey colour models, else
// three (RGB, alpha dropped).
func FromImage(src image.Image) *Image {
	b := src.Bounds()
	grey := src.ColorModel() == color.GrayModel || src.ColorModel() == color.Gray16Model
	c := 3
	if grey {
		c = 1
	}
	im := New(c, b.Dy(), b.Dx())
	for y := range im.H {
		for x := range im.W {
			// Non-premultiplied: PIL's convert("RGB") keeps the colour and
			// drops alpha.
			var r, g, bl uint16
			if n, ok := src.(*image.NRGBA); ok {
				// Un-premultiplying 16-bit values would lose the 8-bit ones.
				px := n.NRGBAAt(b.Min.X+x, b.Min.Y+y)
				r, g, bl = uint16(px.R)*257, uint16(px.G)*257, uint16(px.B)*257
			} else {
				px := color.NRGBA64Model.Convert(src.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
				r, g, bl = px.R, px.G, px.B
			}
			if grey {
				im.Set(0, y, x, float32(r)/257)
				continue
			}
			im.Set(0, y, x, float32(r)/257)
			im.Set(1, y, x, float32(g)/257)
			im.Set(2, y, x, float32(bl)/257)
		}
	}
	return im
}

// List names the PNG and JPEG files in dir (not its subdirectories), sorted.
func List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, errorf(dir, -1, err, "cannot list")
	}
	var out []string
	for _, e := range ents {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".png", ".jpg", ".jpeg":
			if !e.IsDir() {
				out = append(out, filepath.Join(dir, e.Name()))
			}
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, errorf(dir, -1, nil, "no .png, .jpg or .jpeg files")
	}
	return out, nil
}

// Load reads an image named as the CLI takes it: a PNG or JPEG file, or
// FILE:N for image N (from 0) of an IDX file such as MNIST's.
func Load(spec string) (*Image, error) {
	if i := strings.LastIndex(spec, ":"); i > 0 {
		if n, err := strconv.Atoi(spec[i+1:]); err == nil {
			if n < 0 {
				return nil, errorf(spec, -1, nil, "image index %d is negative", n)
			}
			f, size, err := openSized(spec[:i])
			if err != nil {
				return nil, err
			}
			defer f.Close()
			ims, err := DecodeIDX(spec[:i], f, size, n+1)
			if err != nil {
				return nil, err
			}
			if n >= len(ims) {
				return nil, errorf(spec[:i], -1, nil, "has %d images; index %d is past the end", len(ims), n)
			}
			return ims[n], nil
		}
	}
	return Read(spec)
}

// PreprocessorFor is the model directory's preprocessor_config.json (for
// a single-file model, the one beside it), or, when it has none, Default
// for the model's input size.
func PreprocessorFor(dir string, h, w int) (*Preprocessor, error) {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		dir = filepath.Dir(dir)
	}
	p := filepath.Join(dir, "preprocessor_config.json")
	if _, err := os.Stat(p); err != nil {
		return Default(h, w), nil
	}
	return ReadPreprocessor(p)
}

// Stamp sets every channel of the pixels in [x0, x1) × [y0, y1) to v
// (clipped to the image): a mark such as the shortcut experiment's corner
// square.
func (im *Image) Stamp(x0, y0, x1, y1 int, v float32) {
	for c := range im.C {
		for y := max(y0, 0); y < min(y1, im.H); y++ {
			for x := max(x0, 0); x < min(x1, im.W); x++ {
				im.Set(c, y, x, v)
			}
		}
	}
}
