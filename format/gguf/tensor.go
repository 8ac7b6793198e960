package gguf

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/glia-dev/glia/format"
)

var _ format.TensorSource = (*File)(nil)

const chunkBytes = 1 << 20

// Float32 reads one tensor (GGUF name) as float32 in row-major order,
// dequantising F16, BF16, F64, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q8_1. Other
// types are an ErrUnsupported error naming the type.
func (f *File) Float32(name string) ([]float32, error) {
	t, ok := f.tensors[name]
	if !ok {
		return nil, newErr(f.path, name, -1, ErrNotFound, nil, "no such tensor")
	}
	if !t.Type.Dequantizable() {
		return nil, newErr(f.path, name, t.Offset, ErrUnsupported, nil, "tensor type %s cannot be converted to float32", t.Type)
	}
	bs, ts := int64(t.Type.BlockSize()), int64(t.Type.TypeSize())
	nblocks := t.Size / ts
	out := make([]float32, nblocks*bs)
	if len(out) == 0 {
		return out, nil
	}
	if t.Type == F32 && format.NativeLittle {
		b := unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 4*len(out))
		if err := f.readAt(name, b, t.Offset); err != nil {
			return nil, err
		}
		return out, nil
	}
	per := max(1, chunkBytes/ts) // blocks per chunk
	buf := make([]byte, min(nblocks, per)*ts)
	for i := int64(0); i < nblocks; i += per {
		k := min(per, nblocks-i)
		b := buf[:k*ts]
		off := t.Offset + i*ts
		if err := f.readAt(name, b, off); err != nil {
			return nil, err
		}
		dequantize(t.Type, out[i*bs:(i+k)*bs], b)
	}
	return out, nil
}

// ReadRaw returns a tensor's bytes as stored.
func (f *File) ReadRaw(name string) ([]byte, error) {
	t, ok := f.tensors[name]
	if !ok {
		return nil, newErr(f.path, name, -1, ErrNotFound, nil, "no such tensor")
	}
	b := make([]byte, t.Size)
	if err := f.readAt(name, b, t.Offset); err != nil {
		return nil, err
	}
	return b, nil
}

func (f *File) readAt(name string, b []byte, off int64) error {
	if err := format.ReadFullAt(f.r, b, off); err != nil {
		return newErr(f.path, name, off, ErrTruncated, err, "short read of %d bytes", len(b))
	}
	return nil
}

// dequantize decodes whole blocks of src into dst.
func dequantize(t GGMLType, dst []float32, src []byte) {
	le := binary.LittleEndian
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = f16(le.Uint16(src[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(le.Uint16(src[2*i:])) << 16)
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(src[8*i:])))
		}
	case Q8_0: // d f16, qs[32] int8
		for b := 0; b < len(dst)/32; b++ {
			blk := src[34*b:]
			d := f16(le.Uint16(blk))
			y := dst[32*b : 32*b+32]
			for j := range 32 {
				y[j] = float32(int8(blk[2+j])) * d
			}
		}
	case Q8_1: // d f16, s f16, qs[32] int8
		for b := 0; b < len(dst)/32; b++ {
			blk := src[36*b:]
			d := f16(le.Uint16(blk))
			y := dst[32*b : 32*b+32]
			for j := range 32 {
				y[j] = float32(int8(blk[4+j])) * d
			}
		}
	case Q4_0: // d f16, qs[16]: low nibbles are elements 0..15, high 16..31
		for b := 0; b < len(dst)/32; b++ {
			blk := src[18*b:]
			d := f16(le.Uint16(blk))
			y := dst[32*b : 32*b+32]
			for j := range 16 {
				q := blk[2+j]
				y[j] = float32(int(q&0xf)-8) * d
				y[j+16] = float32(int(q>>4)-8) * d
			}
		}
	case Q4_1: // d f16, m f16, qs[16]
		for b := 0; b < len(dst)/32; b++ {
			blk := src[20*b:]
			d := f16(le.Uint16(blk))
			m := f16(le.Uint16(blk[2:]))
			y := dst[32*b : 32*b+32]
			for j := range 16 {
				q := blk[4+j]
				y[j] = float32(q&0xf)*d + m
				y[j+16] = float32(q>>4)*d + m
			}
		}
	case Q5_0: // d f16, qh uint32 (5th bits), qs[16]
		for b := 0; b < len(dst)/32; b++ {
			blk := src[22*b:]
			d := f16(le.Uint16(blk))
			qh := le.Uint32(blk[2:])
			y := dst[32*b : 32*b+32]
			for j := range 16 {
				q := blk[6+j]
				h0 := int((qh >> j) & 1 << 4)
				h1 := int((qh >> (j + 16)) & 1 << 4)
				y[j] = float32((int(q&0xf)|h0)-16) * d
				y[j+16] = float32((int(q>>4)|h1)-16) * d
			}
		}
	case Q5_1: // d f16, m f16, qh uint32, qs[16]
		for b := 0; b < len(dst)/32; b++ {
			blk := src[24*b:]
			d := f16(le.Uint16(blk))
			m := f16(le.Uint16(blk[2:]))
			qh := le.Uint32(blk[4:])
			y := dst[32*b : 32*b+32]
			for j := range 16 {
				q := blk[8+j]
				h0 := int((qh >> j) & 1 << 4)
				h1 := int((qh >> (j + 16)) & 1 << 4)
				y[j] = float32(int(q&0xf)|h0)*d + m
				y[j+16] = float32(int(q>>4)|h1)*d + m
			}
		}
	}
}
