package concepts

import (
	"math"
	"math/rand/v2"

	"github.com/glia-dev/glia/engine"
)

// GenOptions control GenerationShift.
type GenOptions struct {
	Factor  float64 // units multiplied by this (e.g. 2 or 5)
	Samples int     // generations per concept (default 16)
	Len     int     // tokens per generation (default 48)
	Seed    uint64
}

// GenShift says which corpus generations resemble, with each concept's
// units amplified: row 0 is the unchanged model ("(none)").
type GenShift struct {
	Method   Method      `json:"method"`
	Factor   float64     `json:"factor"`
	Concepts []string    `json:"concepts"`
	Corpora  []string    `json:"corpora"`
	LogLik   [][]float64 `json:"loglik"` // mean log-probability per generated token under each corpus's unigram model
	Share    [][]float64 `json:"share"`  // fraction of generations whose likeliest corpus it is
}

// GenerationShift samples generations (temperature 1, from BOS, or from the first
// token of the first corpus's first window when the model has no BOS) with
// each concept's units scaled by o.Factor, and scores them under each
// corpus's unigram model (add-one smoothed token counts of its windows).
func GenerationShift(m *engine.Model, r *Result, corpora []Corpus, o GenOptions) (*GenShift, error) {
	if o.Samples <= 0 {
		o.Samples = 16
	}
	if o.Len <= 0 {
		o.Len = 48
	}
	if mc := m.Dims().MaxCtx; mc > 0 && o.Len+1 > mc {
		o.Len = mc - 1
	}
	uni := unigrams(m, corpora)
	prompt := m.BOS()
	if prompt < 0 {
		prompt = corpora[0].Windows[0][0]
	}
	g := &GenShift{Method: r.Method, Factor: o.Factor, Concepts: append([]string{"(none)"}, r.Concepts...)}
	for _, c := range corpora {
		g.Corpora = append(g.Corpora, c.Name)
	}
	for i, concept := range g.Concepts {
		var ivs []engine.Intervention
		if i > 0 {
			scale, err := scales(r, concept, VerifyOptions{Mode: ModeScale, Factor: o.Factor})
			if err != nil {
				return nil, err
			}
			ivs = interventions(concept, scale)
		}
		gens, err := sampleBatch(m, prompt, o, ivs)
		if err != nil {
			return nil, err
		}
		ll := make([]float64, len(corpora))
		share := make([]float64, len(corpora))
		for _, gen := range gens {
			best, bestC := math.Inf(-1), 0
			for c, u := range uni {
				var s float64
				for _, id := range gen {
					s += u[id]
				}
				s /= float64(len(gen))
				ll[c] += s / float64(len(gens))
				if s > best {
					best, bestC = s, c
				}
			}
			share[bestC] += 1 / float64(len(gens))
		}
		g.LogLik, g.Share = append(g.LogLik, ll), append(g.Share, share)
	}
	return g, nil
}

// unigrams is log P(token) per corpus, add-one smoothed over the vocabulary.
func unigrams(m *engine.Model, corpora []Corpus) [][]float64 {
	v := m.Dims().Vocab
	bos := m.BOS()
	out := make([][]float64, len(corpora))
	for c, cp := range corpora {
		counts := make([]float64, v)
		total := float64(v)
		for _, w := range cp.Windows {
			for _, id := range w {
				if id != bos {
					counts[id]++
					total++
				}
			}
		}
		out[c] = make([]float64, v)
		for i := range counts {
			out[c][i] = math.Log((counts[i] + 1) / total)
		}
	}
	return out
}

// sampleBatch generates o.Samples sequences at once in one fixed shape
// [samples, Len+1]: positions not yet generated are masked, and causal
// attention keeps them from reaching earlier ones, so one graph serves
// every step (scaling a unit at every position is the same padded or not).
func sampleBatch(m *engine.Model, prompt int32, o GenOptions, ivs []engine.Intervention) ([][]int32, error) {
	n, width := o.Samples, o.Len+1
	ids := make([][]int32, n)
	mask := make([][]bool, n)
	for i := range ids {
		ids[i], mask[i] = make([]int32, width), make([]bool, width)
		ids[i][0], mask[i][0] = prompt, true
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x67656e))
	v := m.Dims().Vocab
	for p := 0; p+1 < width; p++ {
		res, err := m.Run(engine.Request{IDs: ids, Mask: mask, Interventions: ivs})
		if err != nil {
			return nil, err
		}
		for i := range ids {
			probs := engine.Probs(res.Logits.Data[(i*width+p)*v : (i*width+p+1)*v])
			x, id := rng.Float64(), 0
			for id < v-1 && x >= probs[id] {
				x -= probs[id]
				id++
			}
			ids[i][p+1], mask[i][p+1] = int32(id), true
		}
	}
	out := make([][]int32, n)
	for i := range ids {
		out[i] = ids[i][1:]
	}
	return out, nil
}
