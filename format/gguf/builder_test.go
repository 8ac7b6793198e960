package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// Test helpers: an independent GGUF encoder used to build hostile and valid
// files and to check round trips.

type pair struct {
	k string
	v any
}

type testTensor struct {
	name   string
	typ    GGMLType
	dims   []uint64 // ne, innermost first
	data   []byte
	offset int64 // relative offset override; -1 = packed
}

func goType(v any) (ValueType, bool) {
	switch v.(type) {
	case uint8:
		return TypeUint8, true
	case int8:
		return TypeInt8, true
	case uint16:
		return TypeUint16, true
	case int16:
		return TypeInt16, true
	case uint32:
		return TypeUint32, true
	case int32:
		return TypeInt32, true
	case float32:
		return TypeFloat32, true
	case bool:
		return TypeBool, true
	case string:
		return TypeString, true
	case uint64:
		return TypeUint64, true
	case int64:
		return TypeInt64, true
	case float64:
		return TypeFloat64, true
	case []uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []bool, []string, []uint64, []int64, []float64, []any:
		return TypeArray, true
	}
	return 0, false
}

func elemType(v any) ValueType {
	switch v.(type) {
	case []uint8:
		return TypeUint8
	case []int8:
		return TypeInt8
	case []uint16:
		return TypeUint16
	case []int16:
		return TypeInt16
	case []uint32:
		return TypeUint32
	case []int32:
		return TypeInt32
	case []float32:
		return TypeFloat32
	case []bool:
		return TypeBool
	case []string:
		return TypeString
	case []uint64:
		return TypeUint64
	case []int64:
		return TypeInt64
	case []float64:
		return TypeFloat64
	}
	return TypeArray
}

func putStr(b *bytes.Buffer, s string) {
	binary.Write(b, binary.LittleEndian, uint64(len(s)))
	b.WriteString(s)
}

func putValue(b *bytes.Buffer, v any) {
	le := binary.LittleEndian
	switch x := v.(type) {
	case string:
		putStr(b, x)
	case bool:
		if x {
			b.WriteByte(1)
		} else {
			b.WriteByte(0)
		}
	case uint8, int8, uint16, int16, uint32, int32, float32, uint64, int64, float64:
		binary.Write(b, le, x)
	case []string:
		binary.Write(b, le, uint32(TypeString))
		binary.Write(b, le, uint64(len(x)))
		for _, s := range x {
			putStr(b, s)
		}
	case []bool:
		binary.Write(b, le, uint32(TypeBool))
		binary.Write(b, le, uint64(len(x)))
		for _, e := range x {
			putValue(b, e)
		}
	case []any:
		binary.Write(b, le, uint32(TypeArray))
		binary.Write(b, le, uint64(len(x)))
		for _, e := range x {
			putValue(b, e)
		}
	default:
		// numeric slices
		binary.Write(b, le, uint32(elemType(v)))
		n := 0
		switch y := v.(type) {
		case []uint8:
			n = len(y)
		case []int8:
			n = len(y)
		case []uint16:
			n = len(y)
		case []int16:
			n = len(y)
		case []uint32:
			n = len(y)
		case []int32:
			n = len(y)
		case []float32:
			n = len(y)
		case []uint64:
			n = len(y)
		case []int64:
			n = len(y)
		case []float64:
			n = len(y)
		default:
			panic(fmt.Sprintf("putValue: %T", v))
		}
		binary.Write(b, le, uint64(n))
		binary.Write(b, le, v)
	}
}

func encodeGGUF(version uint32, kvs []pair, ts []testTensor) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	binary.Write(&b, le, uint32(Magic))
	binary.Write(&b, le, version)
	binary.Write(&b, le, uint64(len(ts)))
	binary.Write(&b, le, uint64(len(kvs)))
	align := int64(DefaultAlignment)
	for _, p := range kvs {
		putStr(&b, p.k)
		vt, _ := goType(p.v)
		binary.Write(&b, le, uint32(vt))
		putValue(&b, p.v)
		if a, ok := p.v.(uint32); ok && p.k == "general.alignment" && a != 0 {
			align = int64(a)
		}
	}
	pad := func(n int64) int64 { return (n + align - 1) / align * align }
	var off int64
	offs := make([]int64, len(ts))
	for i, t := range ts {
		if t.offset >= 0 {
			offs[i] = t.offset
		} else {
			offs[i] = off
		}
		off = pad(offs[i] + int64(len(t.data)))
	}
	for i, t := range ts {
		putStr(&b, t.name)
		binary.Write(&b, le, uint32(len(t.dims)))
		binary.Write(&b, le, t.dims)
		binary.Write(&b, le, uint32(t.typ))
		binary.Write(&b, le, uint64(offs[i]))
	}
	start := int64(b.Len())
	if len(ts) > 0 {
		start = pad(start)
	}
	data := make([]byte, 0)
	for i, t := range ts {
		end := offs[i] + int64(len(t.data))
		if int64(len(data)) < end {
			data = append(data, make([]byte, end-int64(len(data)))...)
		}
		copy(data[offs[i]:], t.data)
	}
	b.Write(make([]byte, start-int64(b.Len())))
	b.Write(data)
	return b.Bytes()
}

func f32data(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func f32tensor(name string, dims []uint64, v ...float32) testTensor {
	return testTensor{name: name, typ: F32, dims: dims, data: f32data(v...), offset: -1}
}
