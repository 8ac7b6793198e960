package gguf

import (
	"math"
	"slices"
	"strconv"
)

// Keys lists the metadata keys, sorted.
func (f *File) Keys() []string { return slices.Clone(f.keys) }

// Value returns a metadata value as decoded: a Go scalar (uint8 ... float64,
// bool, string), a typed slice for arrays, or []any for arrays of arrays.
func (f *File) Value(key string) (any, bool) {
	v, ok := f.kv[key]
	return v, ok
}

// Type returns a metadata value's GGUF type.
func (f *File) Type(key string) (ValueType, bool) {
	t, ok := f.kvTypes[key]
	return t, ok
}

func (f *File) mismatch(key, want string) error {
	return keyErr(f.path, key, -1, ErrType, nil, "value is %s, not %s", f.kvTypes[key], want)
}

// String returns a string value. ok is false when the key is absent; err is
// non-nil when it holds another type. All accessors follow this pattern.
func (f *File) String(key string) (string, bool, error) {
	v, ok := f.kv[key]
	if !ok {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", false, f.mismatch(key, "string")
	}
	return s, true, nil
}

// Uint returns any integer value that is non-negative, as uint64.
func (f *File) Uint(key string) (uint64, bool, error) {
	v, ok := f.kv[key]
	if !ok {
		return 0, false, nil
	}
	switch x := v.(type) {
	case uint8:
		return uint64(x), true, nil
	case uint16:
		return uint64(x), true, nil
	case uint32:
		return uint64(x), true, nil
	case uint64:
		return x, true, nil
	}
	if i, isInt := signed(v); isInt {
		if i < 0 {
			return 0, false, keyErr(f.path, key, -1, ErrType, nil, "value %d is negative", i)
		}
		return uint64(i), true, nil
	}
	return 0, false, f.mismatch(key, "an unsigned integer")
}

func signed(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// Int returns any integer value as int64 (uint64 above MaxInt64 is an error).
func (f *File) Int(key string) (int64, bool, error) {
	v, ok := f.kv[key]
	if !ok {
		return 0, false, nil
	}
	if i, isInt := signed(v); isInt {
		return i, true, nil
	}
	switch x := v.(type) {
	case uint8:
		return int64(x), true, nil
	case uint16:
		return int64(x), true, nil
	case uint32:
		return int64(x), true, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, false, keyErr(f.path, key, -1, ErrType, nil, "value %d overflows int64", x)
		}
		return int64(x), true, nil
	}
	return 0, false, f.mismatch(key, "an integer")
}

// Float returns a float32 or float64 value as float64. A float32 is widened
// through its shortest decimal form, so a stored 1e-5 reads as 1e-5 rather
// than 9.999999747378752e-06.
func (f *File) Float(key string) (float64, bool, error) {
	v, ok := f.kv[key]
	if !ok {
		return 0, false, nil
	}
	switch x := v.(type) {
	case float32:
		w, err := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
		if err != nil { // ±Inf, NaN
			w = float64(x)
		}
		return w, true, nil
	case float64:
		return x, true, nil
	}
	return 0, false, f.mismatch(key, "a float")
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, bool, error) {
	v, ok := f.kv[key]
	if !ok {
		return false, false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, false, f.mismatch(key, "bool")
	}
	return b, true, nil
}

// Strings returns an array of strings. The slice is shared: do not modify it.
func (f *File) Strings(key string) ([]string, bool, error) {
	v, ok := f.kv[key]
	if !ok {
		return nil, false, nil
	}
	s, isStrs := v.([]string)
	if !isStrs {
		return nil, false, f.mismatch(key, "an array of strings")
	}
	return s, true, nil
}

// Float32s returns an array of float32 (float64 arrays are converted). A
// float32 array is shared with the File: do not modify it.
func (f *File) Float32s(key string) ([]float32, bool, error) {
	v, ok := f.kv[key]
	if !ok {
		return nil, false, nil
	}
	switch x := v.(type) {
	case []float32:
		return x, true, nil
	case []float64:
		out := make([]float32, len(x))
		for i, y := range x {
			out[i] = float32(y)
		}
		return out, true, nil
	}
	return nil, false, f.mismatch(key, "an array of floats")
}

// Int32s returns an array of integers as int32; elements that do not fit are
// an error. An int32 array is shared with the File: do not modify it.
func (f *File) Int32s(key string) ([]int32, bool, error) {
	v, ok := f.kv[key]
	if !ok {
		return nil, false, nil
	}
	if x, is := v.([]int32); is {
		return x, true, nil
	}
	var n int
	var at func(int) (int64, bool)
	switch x := v.(type) {
	case []int8:
		n, at = len(x), func(i int) (int64, bool) { return int64(x[i]), true }
	case []uint8:
		n, at = len(x), func(i int) (int64, bool) { return int64(x[i]), true }
	case []int16:
		n, at = len(x), func(i int) (int64, bool) { return int64(x[i]), true }
	case []uint16:
		n, at = len(x), func(i int) (int64, bool) { return int64(x[i]), true }
	case []uint32:
		n, at = len(x), func(i int) (int64, bool) { return int64(x[i]), true }
	case []int64:
		n, at = len(x), func(i int) (int64, bool) { return x[i], true }
	case []uint64:
		n, at = len(x), func(i int) (int64, bool) { return int64(x[i]), x[i] <= math.MaxInt64 }
	default:
		return nil, false, f.mismatch(key, "an array of integers")
	}
	out := make([]int32, n)
	for i := range n {
		v, fits := at(i)
		if !fits || v < math.MinInt32 || v > math.MaxInt32 {
			return nil, false, keyErr(f.path, key, -1, ErrType, nil, "element %d does not fit in int32", i)
		}
		out[i] = int32(v)
	}
	return out, true, nil
}
