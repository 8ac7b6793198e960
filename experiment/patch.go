package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/glia-dev/glia/engine"
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
	// Kind is the hook of every layer to patch (default resid_pre).
	Kind Kind
	// Per is the cell (default pos).
	Per Per
	// Batch is the number of patched rows per forward (default 16).
	Batch int
	// Context, when set, stops the sweep between forwards once it is done
	// (a server's request deadline); Sweep then returns its error.
	Context context.Context
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
	Kind     Kind        `json:"kind"`
	Per      Per         `json:"per"`
	Hooks    []string    `json:"hooks"`
	Cols     int         `json:"cols"` // positions (the longest pair), heads, units, or 1
	Pairs    []PairPatch `json:"pairs"`
	Mean     [][]float64 `json:"mean_effect,omitempty"` // over pairs, when they align (same length, or not per pos)
	Forwards int         `json:"forwards"`              // patched forwards run (besides the clean/corrupt pass)
	Rows     int         `json:"rows"`                  // patched rows (cells × pairs)
	Skipped  int         `json:"skipped"`               // cells before the prompts differ: the corrupt metric, not run
	Seconds  float64     `json:"seconds"`
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
//
// It plans (planSweep: hooks, columns, cells), runs every prompt once
// (baseRun), cuts the cells into forwards (chunks), runs them (run) and
// normalises (finish).
func Sweep(m *engine.Model, pairs []Pair, o PatchOptions) (*PatchResult, error) {
	t0 := time.Now()
	s, err := planSweep(m, pairs, o)
	if err != nil {
		return nil, err
	}
	base, err := baseRun(m, pairs, s.a, s.hooks, s.o.Batch)
	if err != nil {
		return nil, err
	}
	res := s.result(base)
	if err := s.run(m, base, res); err != nil {
		return nil, err
	}
	s.finish(res)
	res.Seconds = time.Since(t0).Seconds()
	return res, nil
}

// sweep is a planned sweep.
type sweep struct {
	o     PatchOptions
	pairs []Pair
	a     aligned
	hooks []string // the patched hook of each layer
	rest  []int    // a hook's shape at one position
	per   int      // its size
	cols  int      // the grid's columns
	cells []cell   // to run
	skip  []cell   // before the prompts differ: the corrupt metric, not run
	// whole: each row sets its layer's whole hook. Residual-stream hooks
	// carry everything downstream: a row patched at layer l can take the
	// whole hook from the corrupt cache (with its cell from the clean one),
	// which makes layers below l dead code that the backend never runs.
	whole bool
}

// planSweep checks the options against the model and the pairs, and lists
// the cells.
func planSweep(m *engine.Model, pairs []Pair, o PatchOptions) (*sweep, error) {
	if err := checkPairs(m, pairs); err != nil {
		return nil, err
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &sweep{o: o, pairs: pairs, a: align(pairs)}
	if err := s.layout(m); err != nil {
		return nil, err
	}
	if err := s.columns(); err != nil {
		return nil, err
	}
	s.listCells()
	s.whole = o.Kind.residual() && (o.Per == PerPos || o.Per == PerLayer)
	return s, nil
}

// withDefaults fills in the zero options and checks the others.
func (o PatchOptions) withDefaults() (PatchOptions, error) {
	if o.Batch <= 0 {
		o.Batch = 16
	}
	var err error
	if o.Kind, err = ParseKind(string(o.Kind)); err != nil {
		return o, err
	}
	o.Per, err = ParsePer(string(o.Per))
	return o, err
}

// layout finds each layer's hook, which must be laid out [batch,pos,...].
func (s *sweep) layout(m *engine.Model) error {
	for l := range m.Dims().Layers {
		name := s.o.Kind.Hook(l)
		ly, err := intervene.HookLayout(m, name)
		if err != nil {
			return &OptionError{"kind", string(s.o.Kind), err}
		}
		if ly.PosAxis != 1 {
			return &OptionError{"kind", string(s.o.Kind), fmt.Errorf("%s is not laid out [batch,pos,...]", name)}
		}
		s.hooks, s.rest, s.per = append(s.hooks, name), ly.Rest(), ly.PosSize()
	}
	return nil
}

// columns sizes the grid: positions, heads, units, or one column a layer.
func (s *sweep) columns() error {
	switch s.o.Per {
	case PerPos:
		s.cols = s.a.t
	case PerHead:
		if len(s.rest) != 2 {
			return &OptionError{"per", string(s.o.Per), fmt.Errorf("needs a [batch,pos,head,d_head] hook (z, q, k, v), not %s", s.o.Kind)}
		}
		s.cols = s.rest[0]
	case PerNeuron:
		if len(s.rest) != 1 {
			return &OptionError{"per", string(s.o.Per), fmt.Errorf("needs a [batch,pos,unit] hook (mlp_post, resid_pre, ...), not %s", s.o.Kind)}
		}
		s.cols = s.rest[0]
	case PerLayer:
		s.cols = 1
	}
	return nil
}

// listCells lists every pair's cells. Before the first position where a
// pair's prompts differ (in token or padding), clean and corrupt
// activations are the same computation (attention is causal): patching
// there gives the corrupt metric, and those cells are not run.
func (s *sweep) listCells() {
	a, T := s.a, s.a.t
	for i := range s.pairs {
		same := 0
		for same < T && a.cleanMask[i][same] == a.corruptMask[i][same] && a.clean[i][same] == a.corrupt[i][same] {
			same++
		}
		for l := range s.hooks {
			for c := range s.cols {
				x := cell{i, l, c}
				switch {
				case s.o.Per == PerPos && (c < a.pOff[i] || !a.both(i, c)):
				case s.o.Per == PerPos && c < same:
					s.skip = append(s.skip, x)
				default:
					s.cells = append(s.cells, x)
				}
			}
		}
	}
}

// result is the sweep before any patched forward: NaN everywhere but in
// the skipped cells.
func (s *sweep) result(base *baseCache) *PatchResult {
	res := &PatchResult{Kind: s.o.Kind, Per: s.o.Per, Hooks: s.hooks, Cols: s.cols, Rows: len(s.cells), Skipped: len(s.skip)}
	for i := range s.pairs {
		pp := PairPatch{Len: s.a.t - s.a.pOff[i], Clean: base.clean[i], Corrupt: base.corrupt[i]}
		for range s.hooks {
			pp.Patched = append(pp.Patched, nanRow(s.cols))
		}
		res.Pairs = append(res.Pairs, pp)
	}
	for _, x := range s.skip {
		res.Pairs[x.pair].Patched[x.layer][x.col] = base.corrupt[x.pair]
	}
	return res
}

// chunks cuts the cells into forwards of up to Batch rows; when rows set
// their layer's whole hook, a forward holds one layer.
func (s *sweep) chunks() [][]cell {
	cells, size := s.cells, s.o.Batch
	var out [][]cell
	if !s.whole {
		for i := 0; i < len(cells); i += size {
			out = append(out, cells[i:min(i+size, len(cells))])
		}
		return out
	}
	sort.SliceStable(cells, func(i, j int) bool { return cells[i].layer < cells[j].layer })
	for i := 0; i < len(cells); {
		e := i
		for e < len(cells) && e-i < size && cells[e].layer == cells[i].layer {
			e++
		}
		out, i = append(out, cells[i:e]), e
	}
	return out
}

// run runs every chunk and records each row's metric in its cell.
func (s *sweep) run(m *engine.Model, base *baseCache, res *PatchResult) error {
	chunks := s.chunks()
	for _, chunk := range chunks {
		if ctx := s.o.Context; ctx != nil && ctx.Err() != nil {
			return fmt.Errorf("experiment: sweep stopped after %d of %d forwards: %w", res.Forwards, len(chunks), context.Cause(ctx))
		}
		out, err := m.Run(s.request(chunk, base))
		if err != nil {
			return err
		}
		res.Forwards++
		for r, x := range chunk {
			res.Pairs[x.pair].Patched[x.layer][x.col] = metricAt(out.Logits, r, s.pairs[x.pair])
		}
	}
	return nil
}

// request is one chunk's forward: the corrupt prompts, each row with its
// cell patched.
func (s *sweep) request(chunk []cell, base *baseCache) engine.Request {
	ids := make([][]int32, len(chunk))
	masks := make([][]bool, len(chunk))
	for r, x := range chunk {
		ids[r], masks[r] = s.a.corrupt[x.pair], s.a.corruptMask[x.pair]
	}
	req := engine.Request{IDs: ids, Mask: maskOrNil(masks)}
	if s.whole {
		req.Interventions = []engine.Intervention{s.wholeLayer(chunk, base)}
	} else {
		req.Interventions = s.byLayer(chunk, base)
	}
	return req
}

// wholeLayer sets the chunk's layer's hook, row by row, to the corrupt
// values with the row's cell from the clean ones.
func (s *sweep) wholeLayer(chunk []cell, base *baseCache) engine.Intervention {
	B, n := len(chunk), s.a.t*s.per
	h := s.hooks[chunk[0].layer]
	value := make([]float32, B*n)
	mask := make([]bool, n)
	for r, x := range chunk {
		blk := value[r*n : (r+1)*n]
		copy(blk, base.corruptActs[h][x.pair])
		clear(mask)
		s.cellMask(x, mask)
		cl := base.cleanActs[h][x.pair]
		for j, on := range mask {
			if on {
				blk[j] = cl[j]
			}
		}
	}
	return setRows(h, B, s.per, nil, value, B)
}

// byLayer patches, at each layer, the clean values into the cells of the
// rows at that layer; one row of values serves every row when the chunk
// holds one pair.
func (s *sweep) byLayer(chunk []cell, base *baseCache) []engine.Intervention {
	B, n := len(chunk), s.a.t*s.per
	onePair := true
	for _, x := range chunk {
		onePair = onePair && x.pair == chunk[0].pair
	}
	var ivs []engine.Intervention
	for l, h := range s.hooks {
		var mask []bool
		for r, x := range chunk {
			if x.layer != l {
				continue
			}
			if mask == nil {
				mask = make([]bool, B*n)
			}
			s.cellMask(x, mask[r*n:(r+1)*n])
		}
		if mask == nil {
			continue
		}
		value, vrows := base.cleanActs[h][chunk[0].pair], 1
		if !onePair {
			value, vrows = make([]float32, B*n), B
			for r, x := range chunk {
				copy(value[r*n:], base.cleanActs[h][x.pair])
			}
		}
		ivs = append(ivs, setRows(h, B, s.per, mask, value, vrows))
	}
	return ivs
}

// cellMask marks what cell x patches in one row's [T, rest] block.
func (s *sweep) cellMask(x cell, dst []bool) {
	for g := range s.a.t {
		if !s.a.both(x.pair, g) || (s.o.Per == PerPos && g != x.col) {
			continue
		}
		blk := dst[g*s.per : (g+1)*s.per]
		switch s.o.Per {
		case PerPos, PerLayer:
			for j := range blk {
				blk[j] = true
			}
		case PerHead:
			dh := s.rest[1]
			for j := x.col * dh; j < (x.col+1)*dh; j++ {
				blk[j] = true
			}
		case PerNeuron:
			blk[x.col] = true
		}
	}
}

// finish normalises metrics into effects, reports positions in each
// pair's own frame (0 = its first token) and averages over pairs.
func (s *sweep) finish(res *PatchResult) {
	for i := range res.Pairs {
		pp := &res.Pairs[i]
		pp.Effect = normalise(pp.Patched, pp.Clean, pp.Corrupt)
		if off := s.a.pOff[i]; s.o.Per == PerPos && off > 0 {
			for l := range pp.Patched {
				pp.Patched[l] = append(pp.Patched[l][off:], nanRow(off)...)
				pp.Effect[l] = append(pp.Effect[l][off:], nanRow(off)...)
			}
		}
	}
	res.Mean = meanEffect(res.Pairs, s.o.Per == PerPos)
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
