package safetensors

import (
	"encoding/binary"
	"math"

	"github.com/glia-dev/glia/format"
)

// DType is a safetensors element type, spelled as in the header ("F32", "BF16", ...).
type DType string

// The dtypes of the safetensors format.
const (
	BOOL   DType = "BOOL"
	U8     DType = "U8"
	I8     DType = "I8"
	F8E5M2 DType = "F8_E5M2"
	F8E4M3 DType = "F8_E4M3"
	F8E8M0 DType = "F8_E8M0"
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	F64    DType = "F64"
	I64    DType = "I64"
	U64    DType = "U64"
	C64    DType = "C64"
	F4     DType = "F4"
	F6E2M3 DType = "F6_E2M3"
	F6E3M2 DType = "F6_E3M2"
)

var dtypeBits = map[DType]int{
	BOOL: 8, U8: 8, I8: 8, F8E5M2: 8, F8E4M3: 8, F8E8M0: 8,
	I16: 16, U16: 16, F16: 16, BF16: 16,
	I32: 32, U32: 32, F32: 32,
	F64: 64, I64: 64, U64: 64, C64: 64,
	F4: 4, F6E2M3: 6, F6E3M2: 6,
}

// Bits is the element width in bits, or 0 for an unknown dtype.
func (d DType) Bits() int { return dtypeBits[d] }

// Known reports whether d is a dtype of the safetensors format.
func (d DType) Known() bool { return dtypeBits[d] != 0 }

// IsFloat reports whether Float32 can convert tensors of this dtype.
func (d DType) IsFloat() bool {
	switch d {
	case F32, F16, BF16, F64, F8E4M3, F8E5M2:
		return true
	}
	return false
}

// IsInt reports whether Int64s can read tensors of this dtype.
func (d DType) IsInt() bool {
	switch d {
	case BOOL, U8, I8, I16, U16, I32, U32, I64, U64:
		return true
	}
	return false
}

// Float16ToFloat32 converts IEEE 754 binary16 bits exactly (subnormals, ±Inf
// and NaN payloads included).
func Float16ToFloat32(h uint16) float32 { return format.Float16ToFloat32(h) }

// BFloat16ToFloat32 converts bfloat16 bits exactly.
func BFloat16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

var e4m3Table = func() (t [256]float32) {
	for i := range 256 {
		s := 1.0
		if i&0x80 != 0 {
			s = -1
		}
		e := (i >> 3) & 0xf
		m := i & 7
		switch {
		case e == 0xf && m == 7:
			t[i] = float32(math.NaN())
		case e == 0:
			t[i] = float32(s * math.Ldexp(float64(m), -9))
		default:
			t[i] = float32(s * math.Ldexp(1+float64(m)/8, e-7))
		}
	}
	return
}()

// convert decodes n elements of dtype d from src into dst (len(dst) == n).
func convert(d DType, dst []float32, src []byte) {
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = Float16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BFloat16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	case F8E4M3:
		for i := range dst {
			dst[i] = e4m3Table[src[i]]
		}
	case F8E5M2:
		for i := range dst {
			dst[i] = Float16ToFloat32(uint16(src[i]) << 8)
		}
	}
}
