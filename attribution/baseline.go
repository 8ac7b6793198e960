package attribution

import (
	"bufio"
	"io"
	"slices"
	"strings"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
)

// Mean baselines: IG from the hook's average activation instead of zero,
// the "typical input" baseline that keeps norms reading the hook away from
// their α = 0 discontinuity. A mean is one value per element of a position
// (the hook's shape without batch and position), repeated at every
// position of the prompt.

// perPos is the size of one position of hook, which must have exactly one
// position axis, axis 1.
func perPos(op string, m *engine.Model, hook string) (int, error) {
	h, err := m.HookPoint(hook)
	if err != nil {
		return 0, err
	}
	if !slices.Equal(h.PosAxes, []int{1}) {
		return 0, errorf(op, "%s has position axes %v: a mean baseline needs one, axis 1 ([batch, pos, ...])", hook, h.PosAxes)
	}
	n := 1
	for _, d := range h.Shape[2:] {
		n *= d
	}
	return n, nil
}

// CorpusMean is the mean of hook's activation over every token of seqs
// (each run on its own, BOS included where the sequences carry it).
func CorpusMean(m *engine.Model, hook string, seqs [][]int32) ([]float32, error) {
	const op = "mean"
	n, err := perPos(op, m, hook)
	if err != nil {
		return nil, err
	}
	sum := make([]float64, n)
	count := 0
	for _, s := range seqs {
		if len(s) == 0 {
			continue
		}
		r, err := m.Run(engine.Request{IDs: [][]int32{s}, Hooks: []string{hook}, NoLogits: true})
		if err != nil {
			return nil, err
		}
		for i, v := range r.Acts[hook].Data {
			sum[i%n] += float64(v)
		}
		count += len(s)
	}
	if count == 0 {
		return nil, errorf(op, "the corpus has no tokens")
	}
	out := make([]float32, n)
	for i, s := range sum {
		out[i] = float32(s / float64(count))
	}
	return out, nil
}

// CorpusSequences tokenizes text as the model does, one sequence per
// non-empty line (BOS first), cut to ctx tokens, until maxTokens tokens.
func CorpusSequences(m *engine.Model, r io.Reader, ctx, maxTokens int) ([][]int32, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	var out [][]int32
	total := 0
	for sc.Scan() && total < maxTokens {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		ids, err := m.Encode(line, true)
		if err != nil {
			return nil, err
		}
		ids = ids[:min(len(ids), ctx, maxTokens-total)]
		out = append(out, ids)
		total += len(ids)
	}
	if err := sc.Err(); err != nil {
		return nil, errorf("mean", "reading the corpus: %v", err)
	}
	return out, nil
}

// AtlasMean is the per-unit mean an atlas recorded for hook over its
// corpus (units flattened row-major after [batch, pos], as the atlas
// numbers them).
func AtlasMean(m *engine.Model, a *atlas.Atlas, hook string) ([]float32, error) {
	const op = "mean"
	n, err := perPos(op, m, hook)
	if err != nil {
		return nil, err
	}
	rows, err := a.DB().Query("SELECT unit, mean FROM units WHERE hook = ?", hook)
	if err != nil {
		return nil, errorf(op, "reading %s's means from the atlas: %v", hook, err)
	}
	defer rows.Close()
	out := make([]float32, n)
	seen := 0
	for rows.Next() {
		var u int
		var mean float64
		if err := rows.Scan(&u, &mean); err != nil {
			return nil, errorf(op, "reading %s's means from the atlas: %v", hook, err)
		}
		if u < 0 || u >= n {
			return nil, errorf(op, "the atlas has unit %d of %s, the model %d units a position", u, hook, n)
		}
		out[u] = float32(mean)
		seen++
	}
	if err := rows.Err(); err != nil {
		return nil, errorf(op, "reading %s's means from the atlas: %v", hook, err)
	}
	if seen != n {
		return nil, errorf(op, "the atlas holds means for %d of %s's %d units (is it built over this hook and model?)", seen, hook, n)
	}
	return out, nil
}
