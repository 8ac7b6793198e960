package train

import (
	"fmt"

	"github.com/glia-dev/glia/engine"
)

// HeadScores are per-head attention scores, [layer][head].
type HeadScores struct {
	Induction [][]float64 // mean attention from each repeated token to the token after its first occurrence
	PrevToken [][]float64 // mean attention from each token to the one before it
}

// InductionScores measures every head of m on the task's held-out
// sequences (TransformerLens's induction and previous-token scores).
func InductionScores(m *engine.Model, task *Induction) (HeadScores, error) {
	b, spans := task.EvalSpans()
	ids := make([][]int32, b.B)
	for i := range ids {
		ids[i] = b.IDs[i*b.T : (i+1)*b.T]
	}
	d := m.Dims()
	hooks := make([]string, d.Layers)
	for l := range hooks {
		hooks[l] = fmt.Sprintf("blocks.%d.attn.hook_pattern", l)
	}
	res, err := m.Run(engine.Request{IDs: ids, Hooks: hooks, NoLogits: true})
	if err != nil {
		return HeadScores{}, err
	}
	T := b.T
	var s HeadScores
	for _, name := range hooks {
		p := res.Acts[name] // [batch, head, q, k]
		heads := p.Shape[1]
		at := func(bi, hd, q, k int) float64 { return float64(p.Data[((bi*heads+hd)*T+q)*T+k]) }
		ind, prev := make([]float64, heads), make([]float64, heads)
		for hd := range heads {
			var si, sp float64
			ni := 0
			for bi, s := range spans {
				// A repeated token at q first occurred at q-Half; the
				// token after that occurrence is at q-Half+1.
				for q := s.Start + s.Half; q < T; q++ {
					si += at(bi, hd, q, q-s.Half+1)
					ni++
				}
				for q := 1; q < T; q++ {
					sp += at(bi, hd, q, q-1)
				}
			}
			ind[hd] = si / float64(max(ni, 1))
			prev[hd] = sp / float64(b.B*(T-1))
		}
		s.Induction = append(s.Induction, ind)
		s.PrevToken = append(s.PrevToken, prev)
	}
	return s, nil
}
