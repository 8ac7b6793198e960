package images

import (
	"encoding/binary"
	"io"
	"os"
)

// IDX magic numbers (big-endian): unsigned bytes, 3 and 1 dimensions.
const (
	idxImages = 0x00000803
	idxLabels = 0x00000801
	maxSide   = 4096 // no IDX image set glia reads has larger images
)

// ReadMNIST reads an IDX image file and its label file (MNIST's format:
// big-endian uint32 header, then uint8 pixels or labels). limit > 0 reads
// only the first limit images. Pixels keep their 0–255 values.
func ReadMNIST(imagesPath, labelsPath string, limit int) ([]*Image, []int, error) {
	ims, err := readIDX(imagesPath, limit)
	if err != nil {
		return nil, nil, err
	}
	labels, err := readLabels(labelsPath, limit)
	if err != nil {
		return nil, nil, err
	}
	if len(labels) != len(ims) {
		return nil, nil, errorf(labelsPath, 4, nil, "%d labels for the %d images of %s", len(labels), len(ims), imagesPath)
	}
	return ims, labels, nil
}

func openSized(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, errorf(path, -1, err, "cannot open")
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, errorf(path, -1, err, "cannot stat")
	}
	return f, st.Size(), nil
}

func readIDX(path string, limit int) ([]*Image, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeIDX(path, f, size, limit)
}

// DecodeIDX reads IDX images (magic 0x803) from r of size bytes.
func DecodeIDX(path string, r io.ReaderAt, size int64, limit int) ([]*Image, error) {
	n, rows, cols, err := idxHeader(path, r, size)
	if err != nil {
		return nil, err
	}
	if limit > 0 && int64(limit) < n {
		n = int64(limit)
	}
	buf := make([]byte, rows*cols)
	out := make([]*Image, n)
	for i := range out {
		off := 16 + int64(i)*rows*cols
		if _, err := r.ReadAt(buf, off); err != nil {
			return nil, errorf(path, off, err, "reading image %d", i)
		}
		im := New(1, int(rows), int(cols))
		for j, b := range buf {
			im.Pix[j] = float32(b)
		}
		out[i] = im
	}
	return out, nil
}

// idxHeader reads and checks an IDX image file's header: the image count
// and size, which must account for every byte of the file.
func idxHeader(path string, r io.ReaderAt, size int64) (n, rows, cols int64, err error) {
	var hdr [16]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return 0, 0, 0, errorf(path, 0, err, "IDX image header needs 16 bytes (the file has %d)", size)
	}
	if m := binary.BigEndian.Uint32(hdr[0:]); m != idxImages {
		return 0, 0, 0, errorf(path, 0, nil, "magic 0x%08x is not IDX uint8 images (0x%08x)", m, idxImages)
	}
	n, rows, cols = int64(binary.BigEndian.Uint32(hdr[4:])), int64(binary.BigEndian.Uint32(hdr[8:])), int64(binary.BigEndian.Uint32(hdr[12:]))
	if rows == 0 || cols == 0 || rows > maxSide || cols > maxSide {
		return 0, 0, 0, errorf(path, 8, ErrTooLarge, "image size %d×%d is out of range [1, %d]", rows, cols, maxSide)
	}
	if want := 16 + n*rows*cols; want != size {
		return 0, 0, 0, errorf(path, 4, nil, "header announces %d images of %d×%d (%d bytes) but the file has %d bytes", n, rows, cols, want, size)
	}
	return n, rows, cols, nil
}

func readLabels(path string, limit int) ([]int, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeLabels(path, f, size, limit)
}

// DecodeLabels reads IDX labels (magic 0x801) from r of size bytes.
func DecodeLabels(path string, r io.ReaderAt, size int64, limit int) ([]int, error) {
	var hdr [8]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return nil, errorf(path, 0, err, "IDX label header needs 8 bytes (the file has %d)", size)
	}
	if m := binary.BigEndian.Uint32(hdr[0:]); m != idxLabels {
		return nil, errorf(path, 0, nil, "magic 0x%08x is not IDX uint8 labels (0x%08x)", m, idxLabels)
	}
	n := int64(binary.BigEndian.Uint32(hdr[4:]))
	if 8+n != size {
		return nil, errorf(path, 4, nil, "header announces %d labels but the file has %d bytes after the header", n, size-8)
	}
	if limit > 0 && int64(limit) < n {
		n = int64(limit)
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, 8); err != nil && !(err == io.EOF && n == 0) {
		return nil, errorf(path, 8, err, "reading labels")
	}
	out := make([]int, n)
	for i, b := range buf {
		out[i] = int(b)
	}
	return out, nil
}
