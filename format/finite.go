package format

import (
	"fmt"
	"math"
)

// NonFiniteError reports the first NaN or ±Inf found in a tensor.
type NonFiniteError struct {
	Name  string  // tensor name
	Index int     // flat (row-major) index of the first non-finite element
	Count int     // number of non-finite elements in the tensor
	Value float32 // the offending value (NaN, +Inf or -Inf)
}

func (e *NonFiniteError) Error() string {
	kind := "NaN"
	if math.IsInf(float64(e.Value), 1) {
		kind = "+Inf"
	} else if math.IsInf(float64(e.Value), -1) {
		kind = "-Inf"
	}
	return fmt.Sprintf("format: tensor %q: %s at index %d (%d non-finite values)", e.Name, kind, e.Index, e.Count)
}

// CheckFinite returns a *NonFiniteError naming the first NaN or ±Inf in data,
// or nil when every value is finite. Readers never reject non-finite weights
// themselves; the engine calls this on what it loads.
func CheckFinite(name string, data []float32) error {
	first := -1
	count := 0
	for i, v := range data {
		// v-v is 0 for finite v and NaN for NaN and ±Inf.
		if v-v != 0 {
			if first < 0 {
				first = i
			}
			count++
		}
	}
	if first < 0 {
		return nil
	}
	return &NonFiniteError{Name: name, Index: first, Count: count, Value: data[first]}
}
