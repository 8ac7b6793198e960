package explain

import (
	"fmt"
	"math"
	"strings"
)

// Cue is one input pattern of a label: a token, or a token after a given
// previous token, with the activation it predicts on a 0-10 scale.
type Cue struct {
	Prev     int32   `json:"prev"` // -1: any previous token
	Token    int32   `json:"token"`
	Text     string  `json:"text"`
	PrevText string  `json:"prev_text,omitempty"`
	Weight   float64 `json:"weight"` // predicted activation, 0-10
}

func (c Cue) matches(tokens []int32, j int) bool {
	if tokens[j] != c.Token {
		return false
	}
	return c.Prev < 0 || (j > 0 && tokens[j-1] == c.Prev)
}

// String is the cue as the label writes it.
func (c Cue) String() string {
	if c.Prev < 0 {
		return fmt.Sprintf("%q", c.Text)
	}
	return fmt.Sprintf("%q (after %q)", c.Text, c.PrevText)
}

// simulate predicts a unit's activation at each token from cues: the
// largest weight of a cue that matches, else 0.
func simulate(cues []Cue, tokens []int32) []float64 {
	out := make([]float64, len(tokens))
	for j := range tokens {
		for _, c := range cues {
			if c.Weight > out[j] && c.matches(tokens, j) {
				out[j] = c.Weight
			}
		}
	}
	return out
}

// pearson is the correlation of x and y; NaN when either is constant.
func pearson(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) < 2 {
		return math.NaN()
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= n
	my /= n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}

// scoreSpans correlates predictions with true activations over every
// (kept) token of the spans, all at once.
func scoreSpans(spans []span, predict func(s span) []float64) (r float64, n int) {
	var x, y []float64
	for _, s := range spans {
		p := predict(s)
		for j := range s.tokens {
			if s.keep != nil && !s.keep[j] {
				continue
			}
			x = append(x, p[j])
			y = append(y, float64(s.acts[j]))
		}
	}
	return pearson(x, y), len(x)
}

// chooseCues picks up to max cues by greedy forward selection on the
// explanation spans: each step adds the token or bigram that most raises
// the correlation of the simulated activations with the true ones there.
func chooseCues(in *InputSide, expl []span, maxCues int) []Cue {
	var cand []Cue
	for _, s := range in.all {
		if s.Mean <= in.mean {
			continue
		}
		cand = append(cand, Cue{Prev: s.Prev, Token: s.Token, Text: s.Text, PrevText: s.PrevText, Weight: s.Mean - in.mean})
	}
	if len(cand) == 0 {
		return nil
	}
	// Precompute, for each candidate, which explanation tokens it matches.
	var acts []float64
	type loc struct{ s, j int }
	var locs []loc
	for si, s := range expl {
		for j := range s.tokens {
			acts = append(acts, float64(s.acts[j]))
			locs = append(locs, loc{si, j})
		}
	}
	match := make([][]int32, len(cand))
	for ci, c := range cand {
		for i, l := range locs {
			if c.matches(expl[l.s].tokens, l.j) {
				match[ci] = append(match[ci], int32(i))
			}
		}
	}
	pred := make([]float64, len(acts))
	var chosen []int
	used := make([]bool, len(cand))
	best := math.Inf(-1)
	trial := make([]float64, len(acts))
	for len(chosen) < maxCues {
		bi, bv := -1, best
		for ci := range cand {
			if used[ci] {
				continue
			}
			copy(trial, pred)
			for _, i := range match[ci] {
				trial[i] = max(trial[i], cand[ci].Weight)
			}
			v := pearson(trial, acts)
			if math.IsNaN(v) {
				continue
			}
			if v > bv+1e-3 || (bi >= 0 && v == bv && ci < bi) {
				bi, bv = ci, v
			}
		}
		if bi < 0 {
			break
		}
		used[bi] = true
		chosen = append(chosen, bi)
		for _, i := range match[bi] {
			pred[i] = max(pred[i], cand[bi].Weight)
		}
		best = bv
	}
	out := make([]Cue, len(chosen))
	var top float64
	for i, ci := range chosen {
		out[i] = cand[ci]
		top = max(top, cand[ci].Weight)
	}
	for i := range out {
		out[i].Weight = math.Round(100*out[i].Weight/top) / 10
	}
	// Strongest first.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Weight > out[j-1].Weight; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// labelText writes the no-LLM label from the cues and the lens.
func labelText(cues []Cue, lens *NeuronLens) string {
	var parts []string
	if len(cues) > 0 {
		s := make([]string, len(cues))
		for i, c := range cues {
			s[i] = c.String()
		}
		parts = append(parts, "fires on "+strings.Join(s, ", "))
	} else {
		parts = append(parts, "no clear input token")
	}
	if lens != nil && len(lens.Promoted) > 0 {
		var s []string
		for _, t := range lens.Promoted[:min(3, len(lens.Promoted))] {
			s = append(s, fmt.Sprintf("%q", t.Text))
		}
		parts = append(parts, "promotes "+strings.Join(s, ", "))
	}
	return strings.Join(parts, "; ")
}
