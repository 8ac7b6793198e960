package compare

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// Distances that need repeated measurements (a noise estimate, or
// independent partitions): RDMs of recordings only.
const (
	// Mahalanobis is MahalanobisRDM with the precision estimated from the
	// repetitions' residuals (Repeated.Noise).
	Mahalanobis Distance = "mahalanobis"
	// CrossnobisDist is Crossnobis over the repetitions as partitions:
	// one RDM for the whole recording, so no noise ceiling.
	CrossnobisDist Distance = "crossnobis"
)

// RepeatedDistances are the RDM distances a Repeated recording takes.
var RepeatedDistances = append(slices.Clone(Distances), Mahalanobis, CrossnobisDist)

// Repeated is a recording measured several times over the same stimuli
// (runs, sessions, subjects, split halves), each a stimuli × features
// matrix with rows in the same order.
type Repeated struct {
	Reps []mat.Matrix
	// RDM is how each repetition's RDM is made for rsa ("": the Spec's).
	RDM Distance
	// Noise estimates the precision of Mahalanobis and Crossnobis RDMs
	// from the repetitions' residuals; "" is the identity.
	Noise NoiseMethod
}

// Check reports an invalid RDM or Noise as a *SettingError.
func (r Repeated) Check() error {
	if r.RDM != "" && !slices.Contains(RepeatedDistances, r.RDM) {
		return &SettingError{"data_rdm", string(r.RDM), fmt.Sprintf("want one of %v", RepeatedDistances)}
	}
	if r.Noise != "" && !slices.Contains(NoiseMethods, r.Noise) {
		return &SettingError{"noise", string(r.Noise), fmt.Sprintf("want one of %v or none", NoiseMethods)}
	}
	return nil
}

// RepeatedScore is each row matrix's score against a Repeated recording.
type RepeatedScore struct {
	Scores []float64 `json:"scores"`
	// Ceiling, for rsa with one RDM per repetition: rsatoolbox's noise
	// ceiling of the repetitions' RDMs.
	Ceiling *Ceiling `json:"ceiling,omitempty"`
	// Reliability, for encoding and pls: the split-half Spearman–Brown
	// ceiling (median over targets); Ceiled is Scores divided by it, as
	// Brain-Score reports.
	Reliability *float64  `json:"reliability,omitempty"`
	Ceiled      []float64 `json:"ceiled,omitempty"`
}

// Score compares each row matrix with the recording by s. rsa compares
// the row's RDM with each repetition's and averages (rsatoolbox's
// eval_fixed), or with the one crossnobis RDM; cka compares with the mean
// over repetitions; encoding and pls fit the mean over repetitions.
func (r Repeated) Score(rows []mat.Matrix, s Spec) (*RepeatedScore, error) {
	if len(r.Reps) < 2 {
		return nil, errorf("repeats", "%d repetitions: need at least 2", len(r.Reps))
	}
	mean, err := MeanOf(r.Reps)
	if err != nil {
		return nil, err
	}
	out := &RepeatedScore{}
	switch s.Method {
	case RSAMethod:
		return r.rsa(rows, s)
	case EncodingMethod, PLSMethod:
		sh, err := SplitHalf(r.Reps, 10, 1)
		if err != nil {
			return nil, err
		}
		out.Reliability = &sh.Median
	}
	g, err := Grid(rows, []mat.Matrix{mean}, s)
	if err != nil {
		return nil, err
	}
	for _, v := range g {
		out.Scores = append(out.Scores, v[0])
		if out.Reliability != nil {
			out.Ceiled = append(out.Ceiled, v[0]/(*out.Reliability))
		}
	}
	return out, nil
}

func (r Repeated) rsa(rows []mat.Matrix, s Spec) (*RepeatedScore, error) {
	dist := r.RDM
	if dist == "" {
		dist = s.RDM
	}
	var prec mat.Symmetric
	if r.Noise != "" && (dist == Mahalanobis || dist == CrossnobisDist) {
		res, dof, err := Residuals(r.Reps)
		if err != nil {
			return nil, err
		}
		if prec, err = NoisePrecision(res, dof, r.Noise); err != nil {
			return nil, err
		}
	}
	var data []*RDM
	if dist == CrossnobisDist {
		d, err := Crossnobis(r.Reps, prec)
		if err != nil {
			return nil, err
		}
		data = []*RDM{d}
	} else {
		for _, m := range r.Reps {
			var d *RDM
			var err error
			if dist == Mahalanobis {
				d, err = MahalanobisRDM(m, prec)
			} else {
				d, err = NewRDM(m, dist)
			}
			if err != nil {
				return nil, err
			}
			data = append(data, d)
		}
	}
	for i, d := range data {
		var err error
		if data[i], err = s.transform(d); err != nil {
			return nil, err
		}
	}
	out := &RepeatedScore{}
	if len(data) > 1 {
		c, err := NoiseCeiling(data, s.Compare)
		if err != nil {
			return nil, err
		}
		out.Ceiling = &c
	}
	for i, m := range rows {
		model, err := NewRDM(m, s.RDM)
		if err == nil {
			model, err = s.transform(model)
		}
		if err != nil {
			return nil, &CellError{Row: i, Col: -1, Err: err}
		}
		var sum float64
		for _, d := range data {
			v, err := CompareRDMs(model, d, s.Compare)
			if err != nil {
				return nil, &CellError{Row: i, Col: -1, Err: err}
			}
			sum += v
		}
		out.Scores = append(out.Scores, sum/float64(len(data)))
	}
	return out, nil
}

// plsScore is Grid's pls pair: Brain-Score's median held-out r.
func plsScore(x, y mat.Matrix) (float64, error) {
	p, err := BrainScore{}.Score(x, y)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(p.Median) {
		return 0, errorf("pls", "every target's held-out r is undefined (constant targets)")
	}
	return p.Median, nil
}
