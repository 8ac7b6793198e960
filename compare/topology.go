package compare

import (
	"math"
	"slices"
)

// GeoTopological is the geo-topological transform of Lin & Kriegeskorte
// 2023 (rsatoolbox transform.py): dissimilarities below the low quantile
// become 0, above the up quantile 1, and those between are scaled
// linearly from 0 to 1. Quantiles are numpy's default (linear
// interpolation between order statistics). It needs 0 ≤ low < up ≤ 1
// and a non-constant RDM. (rsatoolbox 0.3.2 sets values above the up
// quantile to 1 after scaling the band in place, so where that quantile
// is below 1 it also sets scaled band values above it to 1; here each
// value is judged by its original dissimilarity, as the paper defines.)
func (r *RDM) GeoTopological(low, up float64) (*RDM, error) {
	if !(low >= 0 && low < up && up <= 1) {
		return nil, errorf("topology", "quantiles low %g and up %g: want 0 ≤ low < up ≤ 1", low, up)
	}
	s := slices.Clone(r.Dist)
	slices.Sort(s)
	lo, hi := quantile7(s, low), quantile7(s, up)
	if !(hi > lo) {
		return nil, errorf("topology", "the %g and %g quantiles are equal (%g): nothing to scale", low, up, lo)
	}
	out := &RDM{N: r.N, Dist: make([]float64, len(r.Dist))}
	for i, v := range r.Dist {
		switch {
		case v < lo:
			out.Dist[i] = 0
		case v > hi:
			out.Dist[i] = 1
		default:
			out.Dist[i] = (v - lo) / (hi - lo)
		}
	}
	return out, nil
}

// Geodesic is rsatoolbox's geodesic transform: the dissimilarities are
// min–max scaled to [0, 1], pairs at 1 lose their edge, and each
// dissimilarity becomes the shortest-path length between the two stimuli
// over the remaining edges (Floyd–Warshall, O(n³)); pairs left
// unconnected are +Inf, as in rsatoolbox. One difference: rsatoolbox
// builds the graph with networkx from the dense matrix, which drops
// edges of weight 0 as well; here a pair at 0 stays joined at length 0
// (after a geo-topological transform, 0 means "the same place").
func (r *RDM) Geodesic() (*RDM, error) {
	mn, mx := slices.Min(r.Dist), slices.Max(r.Dist)
	if !(mx > mn) {
		return nil, errorf("topology", "a constant RDM has no geodesic transform")
	}
	n := r.N
	d := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			switch {
			case i == j:
				d[i*n+j] = 0
			default:
				v := (r.At(i, j) - mn) / (mx - mn)
				if v >= 1 {
					v = math.Inf(1)
				}
				d[i*n+j] = v
			}
		}
	}
	for k := 0; k < n; k++ {
		for i := 0; i < n; i++ {
			dik := d[i*n+k]
			if math.IsInf(dik, 1) {
				continue
			}
			for j := 0; j < n; j++ {
				if v := dik + d[k*n+j]; v < d[i*n+j] {
					d[i*n+j] = v
				}
			}
		}
	}
	out := &RDM{N: n, Dist: make([]float64, 0, len(r.Dist))}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			out.Dist = append(out.Dist, d[i*n+j])
		}
	}
	return out, nil
}

// quantile7 is numpy's default quantile of sorted s (Hyndman & Fan type 7).
func quantile7(s []float64, p float64) float64 {
	h := p * float64(len(s)-1)
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}
