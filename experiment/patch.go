package experiment

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/hook"
	"github.com/glia-dev/glia/intervene"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Pair is one clean/corrupt prompt pair and the tokens of its logit-diff
// metric: logit[A] − logit[B] at the last position.
type Pair struct {
	Clean, Corrupt []int32
	A, B           int32
}

// PatchOptions select what a sweep patches.
type PatchOptions struct {
	// Kind is the hook of every layer to patch, as TransformerLens's
	// get_act_name: resid_pre, resid_mid, resid_post, attn_out, mlp_out,
	// z, mlp_post (= post).
	Kind string
	// Per is the cell: pos (layer × position, all units), head (layer ×
	// head, all positions; z), neuron (layer × unit, all positions) or
	// layer (every position and unit of a layer).
	Per string
	// Batch is the number of patched rows per forward (default 16).
	Batch int
}

// PairPatch is one pair's sweep.
type PairPatch struct {
	Len     int         `json:"len"` // aligned length: max(len(clean), len(corrupt))
	Clean   float64     `json:"clean_metric"`
	Corrupt float64     `json:"corrupt_metric"`
	Patched [][]float64 `json:"patched_metric"` // [layer][col]; NaN where the cell does not exist
	Effect  [][]float64 `json:"effect"`         // (patched − corrupt) / (clean − corrupt)
}

// PatchResult is a sweep over every layer × column.
type PatchResult struct {
	Kind     string      `json:"kind"`
	Per      string      `json:"per"`
	Hooks    []string    `json:"hooks"`
	Cols     int         `json:"cols"` // positions (the longest pair), heads, units, or 1
	Pairs    []PairPatch `json:"pairs"`
	Mean     [][]float64 `json:"mean_effect,omitempty"` // over pairs, when they align (same length, or not per pos)
	Forwards int         `json:"forwards"`              // patched forwards run (besides the clean/corrupt pass)
	Rows     int         `json:"rows"`                  // patched rows (cells × pairs)
	Skipped  int         `json:"skipped"`               // cells before the prompts differ: the corrupt metric, not run
	Seconds  float64     `json:"seconds"`
}

// hookKind maps a CLI kind to get_act_name's.
func hookKind(kind string) string {
	switch kind {
	case "mlp_post":
		return "post"
	case "mlp_pre":
		return "pre"
	}
	return kind
}

// aligned is a batch of pairs left-padded to one length T: each pair's
// clean and corrupt end at position T−1.
type aligned struct {
	t                          int
	clean, corrupt             [][]int32
	cleanMask, corruptMask     [][]bool
	cleanOff, corruptOff, pOff []int // first real position of clean, corrupt, and of the pair's aligned span
}

func align(pairs []Pair) aligned {
	a := aligned{}
	for _, p := range pairs {
		a.t = max(a.t, len(p.Clean), len(p.Corrupt))
	}
	pad := func(ids []int32) ([]int32, []bool, int) {
		off := a.t - len(ids)
		row, mask := make([]int32, a.t), make([]bool, a.t)
		for i, id := range ids {
			row[off+i], mask[off+i] = id, true
		}
		return row, mask, off
	}
	for _, p := range pairs {
		r, m, o := pad(p.Clean)
		a.clean, a.cleanMask, a.cleanOff = append(a.clean, r), append(a.cleanMask, m), append(a.cleanOff, o)
		r, m, o = pad(p.Corrupt)
		a.corrupt, a.corruptMask, a.corruptOff = append(a.corrupt, r), append(a.corruptMask, m), append(a.corruptOff, o)
		a.pOff = append(a.pOff, a.t-max(len(p.Clean), len(p.Corrupt)))
	}
	return a
}

// both reports whether aligned position g of pair i is real in both prompts.
func (a aligned) both(i, g int) bool { return g >= a.cleanOff[i] && g >= a.corruptOff[i] }

func allTrue(mask [][]bool) bool {
	for _, r := range mask {
		for _, v := range r {
			if !v {
				return false
			}
		}
	}
	return true
}

func maskOrNil(mask [][]bool) [][]bool {
	if allTrue(mask) {
		return nil
	}
	return mask
}

func metricAt(logits engine.Array, b int, p Pair) float64 {
	t, v := logits.Shape[1], logits.Shape[2]
	row := logits.Data[(b*t+t-1)*v : (b*t+t)*v]
	return float64(row[p.A]) - float64(row[p.B])
}

func checkPairs(m *engine.Model, pairs []Pair) error {
	if len(pairs) == 0 {
		return fmt.Errorf("patching needs at least one clean/corrupt pair")
	}
	v := m.Dims().Vocab
	for i, p := range pairs {
		if len(p.Clean) == 0 || len(p.Corrupt) == 0 {
			return fmt.Errorf("pair %d: empty prompt", i)
		}
		if p.A < 0 || int(p.A) >= v || p.B < 0 || int(p.B) >= v {
			return fmt.Errorf("pair %d: metric tokens %d, %d outside the vocabulary [0,%d)", i, p.A, p.B, v)
		}
	}
	return nil
}

// baseRun runs every clean and corrupt prompt once, caching hooks, and
// returns the per-pair clean and corrupt metrics and each hook's value per
// clean row ([T × per-position size]) and per corrupt row.
type baseCache struct {
	clean, corrupt         []float64
	cleanActs, corruptActs map[string][][]float32
}

func baseRun(m *engine.Model, pairs []Pair, a aligned, hooks []string, batch int) (*baseCache, error) {
	c := &baseCache{cleanActs: map[string][][]float32{}, corruptActs: map[string][][]float32{}}
	n := len(pairs)
	ids := append(append([][]int32{}, a.clean...), a.corrupt...)
	mask := append(append([][]bool{}, a.cleanMask...), a.corruptMask...)
	step := max(batch, 2)
	for s := 0; s < 2*n; s += step {
		e := min(s+step, 2*n)
		res, err := m.Run(engine.Request{IDs: ids[s:e], Mask: maskOrNil(mask[s:e]), Hooks: hooks})
		if err != nil {
			return nil, err
		}
		for r := s; r < e; r++ {
			i, clean := r, true
			if r >= n {
				i, clean = r-n, false
			}
			mv := metricAt(res.Logits, r-s, pairs[i])
			for _, h := range hooks {
				arr := res.Acts[h]
				per := len(arr.Data) / arr.Shape[0]
				row := arr.Data[(r-s)*per : (r-s+1)*per]
				if clean {
					c.cleanActs[h] = append(c.cleanActs[h], row)
				} else {
					c.corruptActs[h] = append(c.corruptActs[h], row)
				}
			}
			if clean {
				c.clean = append(c.clean, mv)
			} else {
				c.corrupt = append(c.corrupt, mv)
			}
		}
	}
	return c, nil
}

// setRows is an intervention that sets x[b] to value[b] where mask[b]
// (value and mask are [rows, T, rest...] flattened; value may hold one row
// shared by all).
func setRows(hookName string, rows, per int, mask []bool, value []float32, valueRows int) engine.Intervention {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%d|%d|%d|", hookName, rows, per, valueRows)
	mb := make([]byte, len(mask))
	for i, v := range mask {
		if v {
			mb[i] = 1
		}
	}
	h.Write(mb)
	binary.Write(h, binary.LittleEndian, value)
	key := "set:" + hex.EncodeToString(h.Sum(nil))[:24]
	return engine.Intervention{Hook: hookName, Key: key, Fn: func(x *Node) *Node {
		g := x.Graph()
		dims := x.Shape().Dimensions
		vd := append([]int{valueRows}, dims[1:]...)
		v := BroadcastToDims(ConstTensor(g, tensors.FromFlatDataAndDimensions(value, vd...)), dims...)
		if mask == nil {
			return v
		}
		mk := ConstTensor(g, tensors.FromFlatDataAndDimensions(mask, dims...))
		return Where(mk, v, x)
	}}
}

// cell is one patched row: pair i, layer l, column c.
type cell struct{ pair, layer, col int }

// Sweep patches clean activations into corrupt runs, one cell per row,
// batched: each forward holds opts.Batch rows of corrupt prompts, and each
// layer's hook is replaced by a constant of the clean values under a
// per-row mask, so the sweep costs rows/Batch forwards plus one clean and
// corrupt pass.
func Sweep(m *engine.Model, pairs []Pair, o PatchOptions) (*PatchResult, error) {
	t0 := time.Now()
	if err := checkPairs(m, pairs); err != nil {
		return nil, err
	}
	if o.Batch <= 0 {
		o.Batch = 16
	}
	if o.Kind == "" {
		o.Kind = "resid_pre"
	}
	if o.Per == "" {
		o.Per = "pos"
	}
	L := m.Dims().Layers
	var hooks []string
	var lay intervene.Layout
	for l := range L {
		name := hook.ActName(hookKind(o.Kind), l)
		ly, err := intervene.HookLayout(m, name)
		if err != nil {
			return nil, fmt.Errorf("--hook %s: %w", o.Kind, err)
		}
		if ly.PosAxis != 1 {
			return nil, fmt.Errorf("--hook %s: %s is not laid out [batch,pos,...]", o.Kind, name)
		}
		hooks, lay = append(hooks, name), ly
	}
	rest := lay.Rest()
	per := lay.PosSize()
	a := align(pairs)
	T := a.t
	var cols int
	switch o.Per {
	case "pos":
		cols = T
	case "head":
		if len(rest) != 2 {
			return nil, fmt.Errorf("--per head needs a [batch,pos,head,d_head] hook (z, q, k, v), not %s", o.Kind)
		}
		cols = rest[0]
	case "neuron":
		cols = rest[len(rest)-1]
		if len(rest) != 1 {
			return nil, fmt.Errorf("--per neuron needs a [batch,pos,unit] hook (mlp_post, resid_pre, ...), not %s", o.Kind)
		}
	case "layer":
		cols = 1
	default:
		return nil, fmt.Errorf("--per %q: want pos, head, neuron or layer", o.Per)
	}
	base, err := baseRun(m, pairs, a, hooks, o.Batch)
	if err != nil {
		return nil, err
	}
	res := &PatchResult{Kind: o.Kind, Per: o.Per, Hooks: hooks, Cols: cols}
	var cells []cell
	for i := range pairs {
		pp := PairPatch{Len: T - a.pOff[i], Clean: base.clean[i], Corrupt: base.corrupt[i]}
		for range L {
			row := make([]float64, cols)
			for c := range row {
				row[c] = math.NaN()
			}
			pp.Patched = append(pp.Patched, row)
		}
		res.Pairs = append(res.Pairs, pp)
		// Before the first position where the prompts differ (in token or
		// padding), clean and corrupt activations are the same computation
		// (attention is causal): patching there gives the corrupt metric.
		same := 0
		for same < T && a.cleanMask[i][same] == a.corruptMask[i][same] && a.clean[i][same] == a.corrupt[i][same] {
			same++
		}
		for l := range L {
			for c := range cols {
				if o.Per == "pos" && (c < a.pOff[i] || !a.both(i, c)) {
					continue
				}
				if o.Per == "pos" && c < same {
					res.Pairs[i].Patched[l][c] = base.corrupt[i]
					res.Skipped++
					continue
				}
				cells = append(cells, cell{i, l, c})
			}
		}
	}
	// cellMask marks what cell x patches in one row's [T, rest] block.
	cellMask := func(x cell, dst []bool) {
		for g := range T {
			if !a.both(x.pair, g) || (o.Per == "pos" && g != x.col) {
				continue
			}
			blk := dst[g*per : (g+1)*per]
			switch o.Per {
			case "pos", "layer":
				for j := range blk {
					blk[j] = true
				}
			case "head":
				dh := rest[1]
				for j := x.col * dh; j < (x.col+1)*dh; j++ {
					blk[j] = true
				}
			case "neuron":
				blk[x.col] = true
			}
		}
	}
	// Residual-stream hooks carry everything downstream: a row patched at
	// layer l can take the whole hook from the corrupt cache (with its cell
	// from the clean one), which makes layers below l dead code that the
	// backend never runs. Such batches hold one layer each.
	whole := (o.Kind == "resid_pre" || o.Kind == "resid_mid" || o.Kind == "resid_post") && (o.Per == "pos" || o.Per == "layer")
	var chunks [][]cell
	if whole {
		sort.SliceStable(cells, func(i, j int) bool { return cells[i].layer < cells[j].layer })
		for s := 0; s < len(cells); {
			e := s
			for e < len(cells) && e-s < o.Batch && cells[e].layer == cells[s].layer {
				e++
			}
			chunks, s = append(chunks, cells[s:e]), e
		}
	} else {
		for s := 0; s < len(cells); s += o.Batch {
			chunks = append(chunks, cells[s:min(s+o.Batch, len(cells))])
		}
	}
	for _, chunk := range chunks {
		B := len(chunk)
		ids := make([][]int32, B)
		masks := make([][]bool, B)
		onePair := true
		for r, x := range chunk {
			ids[r], masks[r] = a.corrupt[x.pair], a.corruptMask[x.pair]
			onePair = onePair && x.pair == chunk[0].pair
		}
		var ivs []engine.Intervention
		if whole {
			l := chunk[0].layer
			value := make([]float32, B*T*per)
			mask := make([]bool, T*per)
			for r, x := range chunk {
				blk := value[r*T*per : (r+1)*T*per]
				copy(blk, base.corruptActs[hooks[l]][x.pair])
				clear(mask)
				cellMask(x, mask)
				cl := base.cleanActs[hooks[l]][x.pair]
				for j, on := range mask {
					if on {
						blk[j] = cl[j]
					}
				}
			}
			ivs = append(ivs, setRows(hooks[l], B, per, nil, value, B))
		}
		for l := range L {
			if whole {
				break
			}
			var mask []bool
			for r, x := range chunk {
				if x.layer != l {
					continue
				}
				if mask == nil {
					mask = make([]bool, B*T*per)
				}
				cellMask(x, mask[r*T*per:(r+1)*T*per])
			}
			if mask == nil {
				continue
			}
			var value []float32
			vrows := 1
			if onePair {
				value = base.cleanActs[hooks[l]][chunk[0].pair]
			} else {
				vrows = B
				value = make([]float32, B*T*per)
				for r, x := range chunk {
					copy(value[r*T*per:], base.cleanActs[hooks[l]][x.pair])
				}
			}
			ivs = append(ivs, setRows(hooks[l], B, per, mask, value, vrows))
		}
		out, err := m.Run(engine.Request{IDs: ids, Mask: maskOrNil(masks), Interventions: ivs})
		if err != nil {
			return nil, err
		}
		res.Forwards++
		for r, x := range chunk {
			res.Pairs[x.pair].Patched[x.layer][x.col] = metricAt(out.Logits, r, pairs[x.pair])
		}
	}
	res.Rows = len(cells)
	for i := range res.Pairs {
		pp := &res.Pairs[i]
		pp.Effect = normalise(pp.Patched, pp.Clean, pp.Corrupt)
		// Report positions in the pair's own frame (0 = its first token).
		if o.Per == "pos" && a.pOff[i] > 0 {
			for l := range pp.Patched {
				pp.Patched[l] = append(pp.Patched[l][a.pOff[i]:], nanRow(a.pOff[i])...)
				pp.Effect[l] = append(pp.Effect[l][a.pOff[i]:], nanRow(a.pOff[i])...)
			}
		}
	}
	res.Mean = meanEffect(res.Pairs, o.Per == "pos")
	res.Seconds = time.Since(t0).Seconds()
	return res, nil
}

func nanRow(n int) []float64 {
	r := make([]float64, n)
	for i := range r {
		r[i] = math.NaN()
	}
	return r
}

func normalise(patched [][]float64, clean, corrupt float64) [][]float64 {
	out := make([][]float64, len(patched))
	for l, row := range patched {
		out[l] = make([]float64, len(row))
		for c, v := range row {
			out[l][c] = (v - corrupt) / (clean - corrupt)
		}
	}
	return out
}

// meanEffect averages effects over pairs (per position only when every
// pair has the same length).
func meanEffect(pairs []PairPatch, byPos bool) [][]float64 {
	if len(pairs) == 0 {
		return nil
	}
	if byPos {
		for _, p := range pairs {
			if p.Len != pairs[0].Len {
				return nil
			}
		}
	}
	out := make([][]float64, len(pairs[0].Effect))
	for l := range out {
		out[l] = make([]float64, len(pairs[0].Effect[l]))
		for c := range out[l] {
			s := 0.0
			for _, p := range pairs {
				s += p.Effect[l][c]
			}
			out[l][c] = s / float64(len(pairs))
		}
	}
	return out
}
