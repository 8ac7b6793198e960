package intervene

import (
	"fmt"
	"sync"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
)

// AtlasMeans reads per-unit means from an atlas database (its units table),
// for mean ablation without rereading a corpus.
type AtlasMeans struct {
	Path  string
	mu    sync.Mutex // Mean may be called from concurrent runs (glia serve --max-runs 2)
	cache map[string][]float32
}

func (a *AtlasMeans) Name() string { return "atlas:" + a.Path }

func (a *AtlasMeans) Mean(m *engine.Model, hook string) ([]float32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if v, ok := a.cache[hook]; ok {
		return v, nil
	}
	lay, err := HookLayout(m, hook)
	if err != nil {
		return nil, err
	}
	if len(lay.Rest()) != 1 {
		return nil, fmt.Errorf("atlas means cover [batch,pos,unit] hooks, not %s (shape %v): %w", hook, lay.Shape, ErrUseCorpusMeans)
	}
	db, err := atlas.Open(a.Path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if fp := db.Meta.ModelFingerprint; fp != "" && fp != m.Fingerprint() {
		return nil, fmt.Errorf("atlas %s was built for model %s (fingerprint %s), not %s (%s)", a.Path, db.Meta.ModelName, fp, m.Name, m.Fingerprint())
	}
	n := lay.UnitCount()
	out := make([]float32, n)
	seen := make([]bool, n)
	rows, err := db.DB().Query("SELECT unit, mean FROM units WHERE hook = ?", hook)
	if err != nil {
		return nil, fmt.Errorf("atlas %s: %w", a.Path, err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var u int
		var mean float64
		if err := rows.Scan(&u, &mean); err != nil {
			return nil, fmt.Errorf("atlas %s: %w", a.Path, err)
		}
		if u >= 0 && u < n && !seen[u] {
			out[u], seen[u] = float32(mean), true
			got++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("atlas %s: %w", a.Path, err)
	}
	if got == 0 {
		return nil, fmt.Errorf("atlas %s holds no statistics for %s (built for other hooks?): %w", a.Path, hook, ErrUseCorpusMeans)
	}
	if got < n {
		return nil, fmt.Errorf("atlas %s holds means for %d of the %d units of %s", a.Path, got, n, hook)
	}
	if a.cache == nil {
		a.cache = map[string][]float32{}
	}
	a.cache[hook] = out
	return out, nil
}
