package train

import (
	"fmt"

	"github.com/glia-dev/glia/experiment"
)

const streamPairs = 4 << 32

// PatchPairs are n clean/corrupt pairs of the induction task for patching.
// Clean is a task sequence whose last token lies in the second copy, so
// its next token A is known by induction. Corrupt replaces that last
// token's first occurrence (one position, h before the end) by another
// random token s: the repeat no longer tells what follows, and every
// earlier position is the same. The metric is logit[A] − logit[s].
func (t *Induction) PatchPairs(n int) ([]experiment.Pair, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	r := rng(t.Seed, streamPairs)
	b, spans := t.batch(r, n, true)
	T := b.T
	pairs := make([]experiment.Pair, n)
	for i, sp := range spans {
		clean := append([]int32(nil), b.IDs[i*T:(i+1)*T]...)
		at := T - 1 - sp.Half // the last token's first occurrence
		if at < sp.Start {
			return nil, fmt.Errorf("train: induction pair %d: the last input is not a repeated token", i)
		}
		corrupt := append([]int32(nil), clean...)
		for corrupt[at] == clean[at] {
			corrupt[at] = int32(1 + r.IntN(t.VocabSize-1))
		}
		pairs[i] = experiment.Pair{Clean: clean, Corrupt: corrupt, A: b.Targets[i*T+T-1], B: corrupt[at]}
	}
	return pairs, nil
}
