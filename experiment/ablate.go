package experiment

import (
	"fmt"
	"math"
	"sort"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/intervene"
)

// TokenEffect is how an intervention changed the loss of predicting one
// token, over all its occurrences as a target.
type TokenEffect struct {
	ID        int     `json:"id"`
	Token     string  `json:"token"`
	Count     int     `json:"count"`
	MeanDelta float64 `json:"mean_delta"`
	SumDelta  float64 `json:"sum_delta"`
}

// LossEffect is the next-token loss on a corpus with and without the
// interventions.
type LossEffect struct {
	Corpus  string  `json:"corpus"`
	Windows int     `json:"windows"`
	Tokens  int     `json:"tokens"` // predicted positions
	Before  float64 `json:"loss_before"`
	After   float64 `json:"loss_after"`
	Delta   float64 `json:"delta"`
	// StdErr is the standard error of Delta over predicted positions
	// (std of the per-position paired difference / √n; positions in one
	// window are correlated, so read it as a lower bound).
	StdErr float64 `json:"stderr"`
	// WindowStdErr is the standard error over windows (the std of the
	// per-window mean differences / √windows), NaN with one window.
	WindowStdErr float64       `json:"window_stderr"`
	Top          []TokenEffect `json:"most_affected"`
}

// AblateOptions control LossOnCorpus.
type AblateOptions struct {
	Batch int // windows per forward (default 8)
	Top   int // most affected target tokens to report (default 10)
}

// LossOnCorpus runs windows with and without ivs and compares next-token
// cross-entropy at every position whose target is a real token other than
// BOS (a document start is not predictable).
func LossOnCorpus(m *engine.Model, name string, windows [][]int32, ivs []engine.Intervention, o AblateOptions) (*LossEffect, error) {
	if len(windows) == 0 {
		return nil, fmt.Errorf("corpus %s: no windows", name)
	}
	bos := m.BOS()
	var before, after [][]float64
	collect := func(dst *[][]float64) func(res *engine.Result, rows [][]int32, width int) error {
		return func(res *engine.Result, rows [][]int32, width int) error {
			for b, r := range rows {
				*dst = append(*dst, TokenLosses(res.Logits, b, width, r, bos))
			}
			return nil
		}
	}
	if err := intervene.Batches(m, windows, o.Batch, engine.Request{}, collect(&before)); err != nil {
		return nil, err
	}
	if err := intervene.Batches(m, windows, o.Batch, engine.Request{Interventions: ivs}, collect(&after)); err != nil {
		return nil, err
	}
	return CompareLosses(m, name, windows, before, after, o.Top)
}

// CompareLosses summarises per-position next-token losses of windows
// before and after an intervention (before[w][p] predicts windows[w][p+1];
// NaN where nothing is predicted): means, the paired difference with its
// standard errors, and the top most affected target tokens.
func CompareLosses(m *engine.Model, name string, windows [][]int32, before, after [][]float64, top int) (*LossEffect, error) {
	e := &LossEffect{Corpus: name, Windows: len(windows)}
	var sb, sa, sd, sd2 float64
	var wmeans []float64
	tok := map[int32]*TokenEffect{}
	for w := range windows {
		var wd float64
		wn := 0
		for p, lb := range before[w] {
			if math.IsNaN(lb) {
				continue
			}
			la := after[w][p]
			d := la - lb
			sb, sa, sd, sd2 = sb+lb, sa+la, sd+d, sd2+d*d
			e.Tokens++
			wd += d
			wn++
			id := windows[w][p+1]
			te := tok[id]
			if te == nil {
				te = &TokenEffect{ID: int(id)}
				tok[id] = te
			}
			te.Count++
			te.SumDelta += d
		}
		if wn > 0 {
			wmeans = append(wmeans, wd/float64(wn))
		}
	}
	if e.Tokens == 0 {
		return nil, fmt.Errorf("corpus %s: no predictable positions", name)
	}
	n := float64(e.Tokens)
	e.Before, e.After, e.Delta = sb/n, sa/n, sd/n
	if e.Tokens > 1 {
		v := (sd2 - sd*sd/n) / (n - 1)
		e.StdErr = math.Sqrt(math.Max(v, 0) / n)
	}
	e.WindowStdErr = stderr(wmeans)
	for _, te := range tok {
		te.MeanDelta = te.SumDelta / float64(te.Count)
		te.Token = m.TokenText(int32(te.ID))
	}
	all := make([]*TokenEffect, 0, len(tok))
	for _, te := range tok {
		all = append(all, te)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].SumDelta != all[j].SumDelta {
			return all[i].SumDelta > all[j].SumDelta
		}
		return all[i].ID < all[j].ID
	})
	k := top
	if k <= 0 {
		k = 10
	}
	for _, te := range all[:min(k, len(all))] {
		e.Top = append(e.Top, *te)
	}
	return e, nil
}

func stderr(x []float64) float64 {
	if len(x) < 2 {
		return math.NaN()
	}
	var s, s2 float64
	for _, v := range x {
		s += v
		s2 += v * v
	}
	n := float64(len(x))
	v := (s2 - s*s/n) / (n - 1)
	return math.Sqrt(math.Max(v, 0) / n)
}

// TokenLosses is −log p(row[p+1] | row[..p]) for p < len(row)−1, NaN where
// the target is BOS.
func TokenLosses(logits engine.Array, b, width int, row []int32, bos int32) []float64 {
	v := logits.Shape[2]
	out := make([]float64, max(len(row)-1, 0))
	for p := range out {
		if row[p+1] == bos {
			out[p] = math.NaN()
			continue
		}
		l := logits.Data[(b*width+p)*v : (b*width+p+1)*v]
		out[p] = engine.LogSumExp(l) - float64(l[row[p+1]])
	}
	return out
}
