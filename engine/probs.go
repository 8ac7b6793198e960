package engine

import (
	"math"
	"sort"
)

// Probs turns one row of logits into probabilities (in float64, so small
// probabilities survive).
func Probs(logits []float32) []float64 {
	mx := math.Inf(-1)
	for _, l := range logits {
		mx = math.Max(mx, float64(l))
	}
	p := make([]float64, len(logits))
	var sum float64
	for i, l := range logits {
		p[i] = math.Exp(float64(l) - mx)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// LogSumExp is log Σ exp(logits), in float64 with the maximum shifted out:
// a cross-entropy is LogSumExp(row) − row[target].
func LogSumExp(logits []float32) float64 {
	mx := math.Inf(-1)
	for _, l := range logits {
		mx = max(mx, float64(l))
	}
	var s float64
	for _, l := range logits {
		s += math.Exp(float64(l) - mx)
	}
	return mx + math.Log(s)
}

// Ranked is one entry of a next-token distribution.
type Ranked struct {
	ID    int
	Prob  float64
	Logit float32
}

// TopTokens returns the k most likely tokens of a logits row, most likely first
// (ties to the lower id).
func TopTokens(logits []float32, k int) []Ranked {
	p := Probs(logits)
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	k = min(k, len(idx))
	out := make([]Ranked, k)
	for i, id := range idx[:k] {
		out[i] = Ranked{ID: id, Prob: p[id], Logit: logits[id]}
	}
	return out
}
