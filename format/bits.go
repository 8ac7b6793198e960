package format

import (
	"errors"
	"io"
	"math"
	"unsafe"
)

// Float16ToFloat32 converts IEEE 754 binary16 bits exactly (subnormals, ±Inf
// and NaN payloads included).
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch exp {
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}

// NativeLittle reports whether this machine is little-endian, so that
// little-endian float32 data can be used as it is stored.
var NativeLittle = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// UnpermuteRows converts a [rows, cols] projection stored for interleaved
// rotary pairs (llama2.c, GGUF) to Hugging Face's rotate_half layout, in
// place: within each of the heads blocks of d = rows/heads rows, output row r
// is stored row 2r for r < d/2 and stored row 2(r-d/2)+1 otherwise.
func UnpermuteRows(w []float32, rows, cols, heads int) {
	if heads <= 0 || rows%heads != 0 || (rows/heads)%2 != 0 || len(w) != rows*cols {
		return
	}
	d := rows / heads
	tmp := make([]float32, d*cols)
	for h := range heads {
		blk := w[h*d*cols : (h+1)*d*cols]
		copy(tmp, blk)
		for r := range d {
			src := 2 * r
			if r >= d/2 {
				src = 2*(r-d/2) + 1
			}
			copy(blk[r*cols:(r+1)*cols], tmp[src*cols:(src+1)*cols])
		}
	}
}

// ReadFullAt fills b from r at off. A short read is an error: the reader's,
// or io.ErrUnexpectedEOF where it gave none or io.EOF.
func ReadFullAt(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
