package explain

import (
	"fmt"
	"math"
	"sort"
)

// Distribution summarises scores: quantiles and the fraction at or above 0.5.
type Distribution struct {
	N         int       `json:"n"`         // units
	Undefined int       `json:"undefined"` // units whose score is undefined (constant simulation or activations)
	Quantiles []float64 `json:"quantiles"` // at QuantileLevels
	Mean      float64   `json:"mean"`
	AtLeast05 int       `json:"at_least_0_5"`
}

// QuantileLevels are the levels of Distribution.Quantiles.
var QuantileLevels = []float64{0, 0.1, 0.25, 0.5, 0.75, 0.9, 1}

// Distribute summarises scores (NaN: undefined).
func Distribute(scores []float64) Distribution {
	d := Distribution{N: len(scores)}
	var s []float64
	for _, v := range scores {
		if math.IsNaN(v) {
			d.Undefined++
			continue
		}
		s = append(s, v)
		d.Mean += v
		if v >= 0.5 {
			d.AtLeast05++
		}
	}
	if len(s) == 0 {
		return d
	}
	d.Mean /= float64(len(s))
	sort.Float64s(s)
	for _, q := range QuantileLevels {
		d.Quantiles = append(d.Quantiles, s[int(math.Round(q*float64(len(s)-1)))])
	}
	return d
}

func (d Distribution) String() string {
	if len(d.Quantiles) == 0 {
		return fmt.Sprintf("%d units, no defined scores", d.N)
	}
	q := d.Quantiles
	return fmt.Sprintf("%d units (%d undefined): min %.3f, p10 %.3f, p25 %.3f, median %.3f, p75 %.3f, p90 %.3f, max %.3f; mean %.3f; %d (%.1f%%) score >= 0.5",
		d.N, d.Undefined, q[0], q[1], q[2], q[3], q[4], q[5], q[6], d.Mean, d.AtLeast05, 100*float64(d.AtLeast05)/float64(max(1, d.N)))
}
