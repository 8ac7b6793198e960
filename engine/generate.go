package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// GenerateOptions control sampling. Temperature 0 is greedy (argmax, ties to
// the lowest id, as torch.argmax).
type GenerateOptions struct {
	MaxNew        int
	Temperature   float64
	Seed          uint64
	StopAtEOS     bool
	Interventions []Intervention
	OnToken       func(id int32) // called as each token is chosen (streaming)
	// NoCache reruns the whole sequence at every step instead of using a
	// KV cache (generation with interventions always does).
	NoCache bool
	// Context, when set, is checked before every step: Generate returns
	// the tokens so far and its error once it is done.
	Context context.Context
}

// Generate extends prompt by up to MaxNew tokens and returns the new ids.
//
// Without interventions it keeps a KV cache: the prompt runs once, then one
// token per step. With interventions every step reruns the whole sequence,
// so an intervention sees (and changes) every position as in a plain run.
func (m *Model) Generate(prompt []int32, o GenerateOptions) ([]int32, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("engine: generate needs at least one prompt token")
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x676c6961))
	seq := append([]int32(nil), prompt...)
	eos := -1
	if m.Tokenizer != nil {
		eos = m.Tokenizer.EOS()
	}
	next := func(seq []int32) ([]float32, error) { return m.lastLogits(seq, o) }
	if len(o.Interventions) == 0 && !o.NoCache && o.MaxNew > 1 {
		r := m.newKVRun(len(prompt) + o.MaxNew)
		defer r.close()
		next = r.next
	}
	var out []int32
	for range o.MaxNew {
		if d := m.Dims(); d.MaxCtx > 0 && len(seq) >= d.MaxCtx {
			break
		}
		if o.Context != nil {
			if err := o.Context.Err(); err != nil {
				return out, err
			}
		}
		last, err := next(seq)
		if err != nil {
			return out, err
		}
		id := sample(last, o.Temperature, rng)
		seq = append(seq, id)
		out = append(out, id)
		if o.OnToken != nil {
			o.OnToken(id)
		}
		if o.StopAtEOS && int(id) == eos {
			break
		}
	}
	return out, nil
}

// lastLogits runs the whole sequence and returns the logits after its last
// token.
func (m *Model) lastLogits(seq []int32, o GenerateOptions) ([]float32, error) {
	// Right-pad to a bucket so one compiled graph serves many steps: causal
	// attention keeps padding from reaching real positions. With
	// interventions, run unpadded, so positions in their specs (-1 is the
	// last token) mean what they say.
	ids, mask := []int32(seq), []bool(nil)
	if len(o.Interventions) == 0 {
		ids, mask = m.PadToBucket(seq)
	}
	res, err := m.Run(Request{IDs: [][]int32{ids}, Mask: maskRows(mask), Interventions: o.Interventions})
	if err != nil {
		return nil, err
	}
	v := m.Dims().Vocab
	return res.Logits.Data[(len(seq)-1)*v : len(seq)*v], nil
}

func sample(logits []float32, temp float64, rng *rand.Rand) int32 {
	best := 0
	for i, l := range logits {
		if l > logits[best] {
			best = i
		}
	}
	if temp <= 0 {
		return int32(best)
	}
	mx := float64(logits[best])
	var sum float64
	p := make([]float64, len(logits))
	for i, l := range logits {
		p[i] = math.Exp((float64(l) - mx) / temp)
		sum += p[i]
	}
	r := rng.Float64() * sum
	for i, pi := range p {
		r -= pi
		if r <= 0 {
			return int32(i)
		}
	}
	return int32(len(p) - 1)
}

// PadToBucket right-pads ids to a multiple of 32 tokens (at most the
// model's context) and returns the padded row with its mask, so that one
// compiled graph serves prompts of nearby lengths. Causal attention keeps
// the padding from reaching real positions: their values are as unpadded.
func (m *Model) PadToBucket(ids []int32) ([]int32, []bool) {
	n := (len(ids) + 31) / 32 * 32
	if limit := m.Dims().MaxCtx; limit > 0 && n > limit {
		n = max(limit, len(ids))
	}
	row, mask := make([]int32, n), make([]bool, n)
	copy(row, ids)
	for i := range ids {
		mask[i] = true
	}
	return row, mask
}

func maskRows(mask []bool) [][]bool {
	if mask == nil {
		return nil
	}
	return [][]bool{mask}
}
