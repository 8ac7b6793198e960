package concepts

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/experiment"
	. "github.com/gomlx/gomlx/core/graph"
)

// Mode is how Verify deactivates (or amplifies) a concept's units.
type Mode string

const (
	ModeZero  Mode = "zero"  // set them to 0 (LAPE's deactivation, AurA's "Det0")
	ModeAurA  Mode = "aura"  // multiply by AurA's α = 1 − 2(AUROC − 0.5): every unit for an AUROC result, else the selected ones
	ModeScale Mode = "scale" // multiply them by Options.Factor (amplification when > 1)
)

// Corpus is a named set of windows to measure the loss on.
type Corpus struct {
	Name    string
	Windows [][]int32
}

// Cell is the next-token loss on one corpus with one concept's units
// deactivated. StdErr is the standard error of Delta over positions (a
// lower bound: positions in a window are correlated), WindowStdErr over
// windows (NaN with one window); most_affected lists the target tokens
// whose loss rose most.
type Cell struct {
	Concept string `json:"concept"`
	Units   int    `json:"units"` // units changed
	experiment.LossEffect
}

// Matrix is the concepts × corpora verification.
type Matrix struct {
	Method   Method   `json:"method"`
	Mode     Mode     `json:"mode"`
	Factor   float64  `json:"factor,omitempty"`
	Concepts []string `json:"concepts"`
	Corpora  []string `json:"corpora"`
	Cells    [][]Cell `json:"cells"` // [concept][corpus]
}

// VerifyOptions control Verify.
type VerifyOptions struct {
	Mode   Mode
	Factor float64 // ModeScale's factor
	Batch  int     // windows per forward (default 8)
}

// Verify measures, for each concept of r, the next-token loss on every
// corpus with the concept's units changed as o.Mode says, against the
// unchanged model.
func Verify(m *engine.Model, r *Result, corpora []Corpus, o VerifyOptions) (*Matrix, error) {
	if o.Mode == "" {
		o.Mode = ModeZero
	}
	if o.Batch <= 0 {
		o.Batch = 8
	}
	var all [][]int32
	span := []int{0} // corpus c's windows are all[span[c]:span[c+1]]
	for _, cp := range corpora {
		if len(cp.Windows) == 0 {
			return nil, errorf("verify", "corpus %s has no windows", cp.Name)
		}
		all = append(all, cp.Windows...)
		span = append(span, len(all))
	}
	before, err := windowLosses(m, all, o.Batch, nil)
	if err != nil {
		return nil, err
	}
	mx := &Matrix{Method: r.Method, Mode: o.Mode, Factor: o.Factor, Concepts: r.Concepts}
	for _, c := range corpora {
		mx.Corpora = append(mx.Corpora, c.Name)
	}
	for _, concept := range r.Concepts {
		scale, err := scales(r, concept, o)
		if err != nil {
			return nil, err
		}
		after := before
		if len(scale) > 0 {
			if after, err = windowLosses(m, all, o.Batch, interventions(concept, scale)); err != nil {
				return nil, err
			}
		}
		row := make([]Cell, len(corpora))
		for c, cp := range corpora {
			b, a := before[span[c]:span[c+1]], after[span[c]:span[c+1]]
			e, err := experiment.CompareLosses(m, cp.Name, cp.Windows, b, a, 5)
			if err != nil {
				return nil, err
			}
			row[c] = Cell{Concept: concept, Units: len(scale), LossEffect: *e}
		}
		mx.Cells = append(mx.Cells, row)
	}
	return mx, nil
}

// scales is the factor per unit for one concept.
func scales(r *Result, concept string, o VerifyOptions) (map[Unit]float64, error) {
	out := map[Unit]float64{}
	switch o.Mode {
	case ModeZero:
		for _, u := range r.Units(concept) {
			out[u] = 0
		}
	case ModeScale:
		for _, u := range r.Units(concept) {
			out[u] = o.Factor
		}
	case ModeAurA:
		if a, ok := r.Alpha[concept]; ok {
			for i, v := range a {
				if v < 1 {
					out[r.All[i]] = v
				}
			}
			break
		}
		for _, x := range r.Rows {
			if x.Concept == concept {
				out[Unit{x.Hook, x.Unit}] = x.Alpha
			}
		}
	default:
		return nil, errorf("verify", "unknown mode %q (zero, aura, scale)", o.Mode)
	}
	return out, nil
}

// interventions multiply each hook's units by their factors.
func interventions(concept string, scale map[Unit]float64) []engine.Intervention {
	byHook := map[string]map[int]float64{}
	for u, v := range scale {
		if byHook[u.Hook] == nil {
			byHook[u.Hook] = map[int]float64{}
		}
		byHook[u.Hook][u.Index] = v
	}
	hooks := make([]string, 0, len(byHook))
	for h := range byHook {
		hooks = append(hooks, h)
	}
	sort.Strings(hooks)
	var out []engine.Intervention
	for _, h := range hooks {
		units := byHook[h]
		idx := make([]int, 0, len(units))
		for i := range units {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		sum := sha256.New()
		for _, i := range idx {
			binary.Write(sum, binary.LittleEndian, [2]float64{float64(i), units[i]})
		}
		out = append(out, engine.Intervention{Hook: h, Key: fmt.Sprintf("concepts:%x", sum.Sum(nil)[:12]), Fn: func(x *Node) *Node {
			d := x.Shape().Dimensions[x.Rank()-1]
			vec := make([]float32, d)
			for i := range vec {
				vec[i] = 1
			}
			for i, v := range units {
				if i < d {
					vec[i] = float32(v)
				}
			}
			dims := make([]int, x.Rank())
			for i := range dims {
				dims[i] = 1
			}
			dims[len(dims)-1] = d
			c := Reshape(Const(x.Graph(), vec), dims...)
			return Mul(x, ConvertDType(c, x.DType()))
		}})
	}
	return out
}

// windowLosses is −log p(next token) at each predicted position of each
// window (NaN where the target is BOS).
func windowLosses(m *engine.Model, windows [][]int32, batch int, ivs []engine.Intervention) ([][]float64, error) {
	bos := m.BOS()
	var out [][]float64
	err := fixedBatches(m, windows, batch, engine.Request{Interventions: ivs}, func(res *engine.Result, rows [][]int32, width int) {
		for b, row := range rows {
			out = append(out, experiment.TokenLosses(res.Logits, b, width, row, bos))
		}
	})
	return out, err
}

// OwnFirst is the fraction of concepts (that are also corpora) whose own
// units' ablation raises the loss on their own corpus more than any other
// concept's does (by column), and the fraction whose ablation raises their
// own corpus's loss more than any other corpus's (by row).
func (mx *Matrix) OwnFirst() (byColumn, byRow float64, n int) {
	col := map[string]int{}
	for j, c := range mx.Corpora {
		col[c] = j
	}
	var nc, nr int
	for i, concept := range mx.Concepts {
		j, ok := col[concept]
		if !ok {
			continue
		}
		n++
		own := mx.Cells[i][j].Delta
		bestCol, bestRow := true, true
		for k := range mx.Concepts {
			if k != i && mx.Cells[k][j].Delta >= own {
				bestCol = false
			}
		}
		for k := range mx.Corpora {
			if k != j && mx.Cells[i][k].Delta >= own {
				bestRow = false
			}
		}
		if bestCol {
			nc++
		}
		if bestRow {
			nr++
		}
	}
	if n == 0 {
		return math.NaN(), math.NaN(), 0
	}
	return float64(nc) / float64(n), float64(nr) / float64(n), n
}
