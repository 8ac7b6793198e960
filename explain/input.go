package explain

import (
	"math"
	"sort"

	"github.com/glia-dev/glia/atlas"
)

// span is one stored context of a unit, with the window positions of its
// tokens (to keep held-out tokens apart from explanation tokens).
type span struct {
	kind   string // top, band, random
	rank   int
	shard  int
	window int64
	start  int
	center int
	tokens []int32
	acts   []float32
	text   []string
	keep   []bool // held-out only: tokens not covered by an explanation span
}

func toSpan(kind string, rank int, e atlas.Example) span {
	return span{kind: kind, rank: rank, shard: e.Shard, window: e.Window, start: e.Start, center: e.Center, tokens: e.Tokens, acts: e.Acts, text: e.Text}
}

// Split divides a unit's stored examples into the explanation set (the
// even-ranked top examples and the first example of each band) and the
// held-out set (odd-ranked top examples, the other band examples, the random
// examples). Held-out tokens whose window position is also covered by an
// explanation example are dropped, so nothing a label is built from is
// scored again.
func split(r *atlas.UnitReport) (expl, held []span) {
	for i, e := range r.Top {
		if i%2 == 0 {
			expl = append(expl, toSpan("top", i, e))
		} else {
			held = append(held, toSpan("top", i, e))
		}
	}
	for _, b := range r.Bands {
		for i, e := range b.Examples {
			if i == 0 {
				expl = append(expl, toSpan("band", i, e))
			} else {
				held = append(held, toSpan("band", i, e))
			}
		}
	}
	for i, e := range r.Random {
		held = append(held, toSpan("random", i, e))
	}
	type key struct {
		shard  int
		window int64
		pos    int
	}
	seen := map[key]bool{}
	for _, s := range expl {
		for j := range s.tokens {
			seen[key{s.shard, s.window, s.start + j}] = true
		}
	}
	heldSeen := map[key]bool{}
	for i := range held {
		s := &held[i]
		s.keep = make([]bool, len(s.tokens))
		for j := range s.tokens {
			k := key{s.shard, s.window, s.start + j}
			s.keep[j] = !seen[k] && !heldSeen[k] // also count each held-out token once
			heldSeen[k] = true
		}
	}
	return expl, held
}

// TokenStat is one input token or bigram's association with the unit.
type TokenStat struct {
	Prev     int32   `json:"prev"` // -1 for a single token
	Token    int32   `json:"token"`
	Text     string  `json:"text"`                // the token's display form
	PrevText string  `json:"prev_text,omitempty"` // the previous token's, for a bigram
	Count    int     `json:"count"`               // occurrences in the explanation examples
	Above    int     `json:"above"`               // of which the activation exceeds the threshold
	Mean     float64 `json:"mean"`                // smoothed mean activation at the token
	PMI      float64 `json:"pmi"`                 // log P(act>thr | token) / P(act>thr), smoothed
}

// InputSide is what the explanation examples say about the unit's inputs.
type InputSide struct {
	Threshold  float64     `json:"threshold"` // act > threshold counts as firing (a fraction of the max seen)
	Tokens     int         `json:"tokens"`    // tokens in the explanation examples
	BaseRate   float64     `json:"base_rate"` // fraction of them above the threshold
	ByMean     []TokenStat `json:"by_mean"`
	ByPMI      []TokenStat `json:"by_pmi"`
	BigramMean []TokenStat `json:"bigrams_by_mean"`
	BigramPMI  []TokenStat `json:"bigrams_by_pmi"`
	all        []TokenStat // every token and bigram with enough count
	mean       float64
}

// Options tune the statistics.
type Options struct {
	MinCount   int     // a token or bigram needs this many occurrences (2)
	Smooth     float64 // add-k smoothing toward the base rate / mean (1)
	ThreshFrac float64 // firing threshold as a fraction of the max activation seen (0.5)
	List       int     // entries per list (10)
	MaxCues    int     // cues a label may use (5)
	Facets     int     // at most this many facets (4)
	Seed       uint64  // k-means seed (1)
}

func (o Options) withDefaults() Options {
	if o.MinCount <= 0 {
		o.MinCount = 2
	}
	if o.Smooth <= 0 {
		o.Smooth = 1
	}
	if o.ThreshFrac <= 0 {
		o.ThreshFrac = 0.5
	}
	if o.List <= 0 {
		o.List = 10
	}
	if o.MaxCues <= 0 {
		o.MaxCues = 5
	}
	if o.Facets <= 0 {
		o.Facets = 4
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

type acc struct {
	n, above   int
	sum        float64
	text, prev string
}

func inputSide(expl []span, o Options) *InputSide {
	in := &InputSide{}
	var maxAct float64
	var total float64
	for _, s := range expl {
		for _, a := range s.acts {
			maxAct = max(maxAct, float64(a))
			total += float64(a)
			in.Tokens++
		}
	}
	if in.Tokens == 0 {
		return in
	}
	in.mean = total / float64(in.Tokens)
	in.Threshold = o.ThreshFrac * maxAct // 0 when nothing is positive: then nothing fires
	type bk struct{ prev, tok int32 }
	toks, bis := map[int32]*acc{}, map[bk]*acc{}
	nAbove := 0
	for _, s := range expl {
		for j, t := range s.tokens {
			a := float64(s.acts[j])
			above := a > in.Threshold
			if above {
				nAbove++
			}
			add := func(c *acc) {
				c.n++
				c.sum += a
				if above {
					c.above++
				}
			}
			c := toks[t]
			if c == nil {
				c = &acc{text: s.text[j]}
				toks[t] = c
			}
			add(c)
			if j > 0 {
				k := bk{s.tokens[j-1], t}
				c := bis[k]
				if c == nil {
					c = &acc{text: s.text[j], prev: s.text[j-1]}
					bis[k] = c
				}
				add(c)
			}
		}
	}
	in.BaseRate = float64(nAbove) / float64(in.Tokens)
	stat := func(prev, tok int32, c *acc) TokenStat {
		st := TokenStat{Prev: prev, Token: tok, Text: c.text, PrevText: c.prev, Count: c.n, Above: c.above}
		st.Mean = (c.sum + o.Smooth*in.mean) / (float64(c.n) + o.Smooth)
		if in.BaseRate > 0 {
			p := (float64(c.above) + o.Smooth*in.BaseRate) / (float64(c.n) + o.Smooth)
			st.PMI = math.Log(p / in.BaseRate)
		}
		return st
	}
	var single, double []TokenStat
	for t, c := range toks {
		if c.n >= o.MinCount {
			single = append(single, stat(-1, t, c))
		}
	}
	for k, c := range bis {
		if c.n >= o.MinCount {
			double = append(double, stat(k.prev, k.tok, c))
		}
	}
	in.ByMean = topStats(single, o.List, func(s TokenStat) float64 { return s.Mean })
	in.ByPMI = topStats(positive(single), o.List, func(s TokenStat) float64 { return s.PMI })
	in.BigramMean = topStats(double, o.List, func(s TokenStat) float64 { return s.Mean })
	in.BigramPMI = topStats(positive(double), o.List, func(s TokenStat) float64 { return s.PMI })
	// A fixed order (maps iterate randomly): cue selection breaks ties by it.
	in.all = topStats(append(single, double...), len(single)+len(double), func(s TokenStat) float64 { return s.Mean })
	return in
}

// topStats sorts by key (ties: count, then token ids) and keeps n.
func topStats(s []TokenStat, n int, key func(TokenStat) float64) []TokenStat {
	out := append([]TokenStat(nil), s...)
	sort.Slice(out, func(i, j int) bool {
		a, b := key(out[i]), key(out[j])
		if a != b {
			return a > b
		}
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		if out[i].Token != out[j].Token {
			return out[i].Token < out[j].Token
		}
		return out[i].Prev < out[j].Prev
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// positive keeps the stats with PMI > 0 (seen firing more than the base rate).
func positive(s []TokenStat) []TokenStat {
	var out []TokenStat
	for _, t := range s {
		if t.PMI > 0 {
			out = append(out, t)
		}
	}
	return out
}
