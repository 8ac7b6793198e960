package train

import (
	"fmt"
	"math"
	"sort"

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
	d := m.Dims()
	hooks := make([]string, d.Layers)
	for l := range hooks {
		hooks[l] = fmt.Sprintf("blocks.%d.attn.hook_pattern", l)
	}
	res, err := m.Run(engine.Request{IDs: b.Rows(), Hooks: hooks, NoLogits: true})
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

// Fourier is how a modular-addition model's token embedding spreads over
// the frequencies of ℤ_p: the embedding rows of tokens 0…p-1, Fourier
// transformed along the token axis, with the power of frequencies k and
// p-k summed (k = 1…⌊p/2⌋; k = 0 is the mean row).
type Fourier struct {
	Power []float64 // by frequency k = 0…⌊p/2⌋, fractions of the total
	Top   []int     // frequencies by power, highest first
	Top5  float64   // fraction of the power in the five strongest non-zero frequencies
}

// EmbeddingFourier measures m's token embedding over tokens 0…p-1.
func EmbeddingFourier(m *engine.Model, p int) (Fourier, error) {
	var e engine.Array
	var err error
	for _, name := range []string{"transformer.wte.weight", "model.embed_tokens.weight"} {
		if e, err = m.Weight(name); err == nil {
			break
		}
	}
	if err != nil {
		return Fourier{}, err
	}
	if len(e.Shape) != 2 || e.Shape[0] < p {
		return Fourier{}, fmt.Errorf("train: embedding %v has fewer than p=%d rows", e.Shape, p)
	}
	d := e.Shape[1]
	power := make([]float64, p/2+1)
	var total float64
	for k := range power {
		for j := range d {
			var re, im float64
			for a := range p {
				x := float64(e.Data[a*d+j])
				angle := 2 * math.Pi * float64(k*a) / float64(p)
				re += x * math.Cos(angle)
				im -= x * math.Sin(angle)
			}
			pw := re*re + im*im
			if k != 0 && 2*k != p {
				pw *= 2 // frequency p-k carries the same power
			}
			power[k] += pw
		}
	}
	for _, pw := range power {
		total += pw
	}
	f := Fourier{Power: make([]float64, len(power))}
	for k, pw := range power {
		f.Power[k] = pw / total
		if k > 0 {
			f.Top = append(f.Top, k)
		}
	}
	sort.Slice(f.Top, func(i, j int) bool { return f.Power[f.Top[i]] > f.Power[f.Top[j]] })
	for _, k := range f.Top[:min(5, len(f.Top))] {
		f.Top5 += f.Power[k]
	}
	return f, nil
}
