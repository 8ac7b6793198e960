package format

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestCheckFinite(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	ninf := float32(math.Inf(-1))
	tests := []struct {
		name  string
		data  []float32
		index int // -1: finite
		count int
		kind  string
	}{
		{"empty", nil, -1, 0, ""},
		{"finite", []float32{0, -1, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32}, -1, 0, ""},
		{"nan", []float32{1, 2, nan, 3, nan}, 2, 2, "NaN"},
		{"inf", []float32{inf}, 0, 1, "+Inf"},
		{"neg inf", []float32{1, ninf, nan}, 1, 2, "-Inf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckFinite("w", tc.data)
			if tc.index < 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var nf *NonFiniteError
			if !errors.As(err, &nf) {
				t.Fatalf("want *NonFiniteError, got %v", err)
			}
			if nf.Index != tc.index || nf.Count != tc.count || nf.Name != "w" {
				t.Fatalf("got %+v", nf)
			}
			if !strings.Contains(err.Error(), tc.kind) || !strings.HasPrefix(err.Error(), "format: ") {
				t.Fatalf("message %q", err)
			}
		})
	}
}
