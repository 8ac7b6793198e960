package images

import (
	"image"
	"os"
	"strconv"
	"strings"
)

// Set is an ordered image set read one image at a time (bounded memory):
// PNG and JPEG files, directories of them, and IDX files, as the image
// atlas takes them. OpenSet checks every file's header before anything is
// read, so a bad file is reported before work starts.
type Set struct {
	items []setItem
	idx   map[string]*idxFile
}

type setItem struct {
	path string
	n    int // image within an IDX file; -1 for a PNG/JPEG file
}

type idxFile struct {
	f          *os.File
	rows, cols int64
	n          int // images in the file
}

// OpenSet resolves specs in order, each one of:
//
//	DIR         the .png/.jpg/.jpeg files in it, sorted by name
//	FILE.png    one image (also .jpg, .jpeg)
//	FILE        every image of an IDX file (MNIST's .u8 / -ubyte files)
//	FILE:N      the first N images of an IDX file
//
// Close releases the IDX files.
func OpenSet(specs ...string) (*Set, error) {
	s := &Set{idx: map[string]*idxFile{}}
	for _, spec := range specs {
		if err := s.add(spec); err != nil {
			s.Close()
			return nil, err
		}
	}
	if len(s.items) == 0 {
		return nil, errorf(strings.Join(specs, " "), -1, nil, "no images")
	}
	return s, nil
}

func (s *Set) add(spec string) error {
	path, limit := spec, -1
	if i := strings.LastIndex(spec, ":"); i > 0 {
		if n, err := strconv.Atoi(spec[i+1:]); err == nil {
			if n < 1 {
				return errorf(spec, -1, nil, "image count %d: give N ≥ 1 in FILE:N (the first N images)", n)
			}
			path, limit = spec[:i], n
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return errorf(path, -1, err, "cannot open")
	}
	if st.IsDir() {
		if limit > 0 {
			return errorf(spec, -1, nil, ":N counts the images of an IDX file, not of a directory")
		}
		files, err := List(path)
		if err != nil {
			return err
		}
		for _, f := range files {
			if err := s.addPicture(f); err != nil {
				return err
			}
		}
		return nil
	}
	switch strings.ToLower(path[strings.LastIndex(path, ".")+1:]) {
	case "png", "jpg", "jpeg":
		if limit > 0 {
			return errorf(spec, -1, nil, ":N counts the images of an IDX file, not of a PNG or JPEG file")
		}
		return s.addPicture(path)
	}
	return s.addIDX(path, limit)
}

// addPicture checks a PNG or JPEG file's header and size.
func (s *Set) addPicture(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return errorf(path, -1, err, "cannot open")
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		return errorf(path, -1, err, "not a PNG or JPEG image")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return errorf(path, -1, ErrTooLarge, "%s image of %d×%d pixels (at most %d pixels are read)", format, cfg.Width, cfg.Height, MaxPixels)
	}
	s.items = append(s.items, setItem{path: path, n: -1})
	return nil
}

// addIDX checks an IDX image file's header as DecodeIDX does and keeps it
// open to read images from.
func (s *Set) addIDX(path string, limit int) error {
	x := s.idx[path]
	if x == nil {
		f, size, err := openSized(path)
		if err != nil {
			return err
		}
		n, rows, cols, err := idxHeader(path, f, size)
		if err != nil {
			f.Close()
			return err
		}
		x = &idxFile{f: f, rows: rows, cols: cols, n: int(n)}
		s.idx[path] = x
	}
	n := x.n
	if limit > n {
		return errorf(path, 4, nil, "has %d images; %d were asked for", n, limit)
	}
	if limit > 0 {
		n = limit
	}
	for i := range n {
		s.items = append(s.items, setItem{path: path, n: i})
	}
	return nil
}

// Len is the number of images.
func (s *Set) Len() int { return len(s.items) }

// Name is image i's source: its file, or FILE:N for image N of an IDX file
// (the form Load reads).
func (s *Set) Name(i int) string {
	it := s.items[i]
	if it.n < 0 {
		return it.path
	}
	return it.path + ":" + strconv.Itoa(it.n)
}

// Image reads image i (values 0–255, as Load).
func (s *Set) Image(i int) (*Image, error) {
	it := s.items[i]
	if it.n < 0 {
		return Read(it.path)
	}
	x := s.idx[it.path]
	buf := make([]byte, x.rows*x.cols)
	off := 16 + int64(it.n)*x.rows*x.cols
	if _, err := x.f.ReadAt(buf, off); err != nil {
		return nil, errorf(it.path, off, err, "reading image %d", it.n)
	}
	im := New(1, int(x.rows), int(x.cols))
	for j, b := range buf {
		im.Pix[j] = float32(b)
	}
	return im, nil
}

// Close closes the IDX files.
func (s *Set) Close() error {
	for _, x := range s.idx {
		x.f.Close()
	}
	s.idx = map[string]*idxFile{}
	return nil
}
