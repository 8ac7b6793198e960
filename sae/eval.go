package sae

import (
	"math"

	"github.com/glia-dev/glia/engine"
)

// Eval accumulates SAELens's reconstruction metrics over held-out
// activation vectors.
type Eval struct {
	SAE        *SAE
	n          float64
	sse, sumSq float64
	sum        []float64 // per dimension, for the variance
	active     float64
	fired      []float64
	Denseness  float64 // firing frequency above which a feature counts as dense (default 0.1)
}

// NewEval starts an evaluation of s.
func NewEval(s *SAE) *Eval {
	return &Eval{SAE: s, sum: make([]float64, s.Cfg.OutWidth()), fired: make([]float64, s.Cfg.DSAE), Denseness: 0.1}
}

// Add runs rows vectors x [rows, d_in] through the SAE and counts them.
func (e *Eval) Add(x []float32, rows int) { e.AddPairs(x, x, rows) }

// AddPairs runs a transcoder on inputs x [rows, d_in] and compares its
// outputs with y [rows, d_out] (an SAE's y is x).
func (e *Eval) AddPairs(x, y []float32, rows int) {
	d, n := e.SAE.Cfg.OutWidth(), e.SAE.Cfg.DSAE
	acts, recon := e.SAE.Forward(x, rows)
	for r := range rows {
		for j := range d {
			v := float64(y[r*d+j])
			diff := float64(recon[r*d+j]) - v
			e.sse += diff * diff
			e.sumSq += v * v
			e.sum[j] += v
		}
		for i, a := range acts[r*n : (r+1)*n] {
			if a != 0 {
				e.active++
				e.fired[i]++
			}
		}
	}
	e.n += float64(rows)
}

// Metrics are an SAE's figures on held-out data. The spliced ones (CE and
// KL) are filled by the caller, which runs the model.
type Metrics struct {
	Vectors      int     `json:"vectors"`
	L0           float64 `json:"l0"`                 // mean active features per vector
	ExplainedVar float64 `json:"explained_variance"` // 1 − Σ‖x − x̂‖² / Σ‖x − mean‖²
	MSE          float64 `json:"mse"`                // mean squared error per value
	Dead         int     `json:"dead"`               // features that never fired
	Dense        int     `json:"dense"`              // features firing on more than Denseness of vectors
	CEClean      float64 `json:"ce_clean,omitempty"`
	CESAE        float64 `json:"ce_sae,omitempty"`
	CEZero       float64 `json:"ce_zero,omitempty"`
	CEScore      float64 `json:"ce_score,omitempty"` // (CE_zero − CE_sae)/(CE_zero − CE_clean)
	KLSAE        float64 `json:"kl_sae,omitempty"`
	KLZero       float64 `json:"kl_zero,omitempty"`
	KLScore      float64 `json:"kl_score,omitempty"` // (KL_zero − KL_sae)/KL_zero
	// SpliceMaxDiff is the largest logit change from splicing the SAE with
	// its error kept (reconstruction + error): zero up to rounding.
	SpliceMaxDiff float64 `json:"splice_max_logit_diff,omitempty"`
}

// Metrics returns the reconstruction figures so far.
func (e *Eval) Metrics() Metrics {
	m := Metrics{Vectors: int(e.n)}
	if e.n == 0 {
		return m
	}
	var meanSq float64
	for _, s := range e.sum {
		meanSq += s * s / e.n
	}
	m.L0 = e.active / e.n
	m.ExplainedVar = 1 - e.sse/(e.sumSq-meanSq)
	m.MSE = e.sse / (e.n * float64(e.SAE.Cfg.OutWidth()))
	for _, f := range e.fired {
		if f == 0 {
			m.Dead++
		}
		if f/e.n > e.Denseness {
			m.Dense++
		}
	}
	return m
}

// CrossEntropy is the mean next-token cross-entropy of logits [b, t, V]
// against ids [b][t] (positions 0..t−2 predict 1..t−1), summed into sum and
// counted into n.
func CrossEntropy(logits []float32, ids [][]int32, vocab int, sum *float64, n *int) {
	t := len(ids[0])
	for b, row := range ids {
		for p := 0; p+1 < t; p++ {
			l := logits[(b*t+p)*vocab : (b*t+p+1)*vocab]
			*sum += engine.LogSumExp(l) - float64(l[row[p+1]])
			*n++
		}
	}
}

// KL sums KL(p‖q) of the next-token distributions of logits p and q
// [b, t, V] over the positions CrossEntropy counts.
func KL(p, q []float32, b, t, vocab int, sum *float64) {
	for r := range b {
		for pos := 0; pos+1 < t; pos++ {
			lp := p[(r*t+pos)*vocab : (r*t+pos+1)*vocab]
			lq := q[(r*t+pos)*vocab : (r*t+pos+1)*vocab]
			zp, zq := engine.LogSumExp(lp), engine.LogSumExp(lq)
			var kl float64
			for i := range lp {
				a := float64(lp[i]) - zp
				kl += math.Exp(a) * (a - (float64(lq[i]) - zq))
			}
			*sum += kl
		}
	}
}
