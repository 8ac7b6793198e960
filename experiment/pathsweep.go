package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/intervene"
	. "github.com/gomlx/gomlx/core/graph"
)

// SweepOptions choose the heads of a path-patching sweep.
type SweepOptions struct {
	// Senders are the sender heads (default: every head of every layer
	// but the last).
	Senders []Head
	// Receivers are the receiver inputs (default: the query, key and
	// value of every head of every layer but the first; k and v count kv
	// heads).
	Receivers []Receiver
	// Rows bounds the rows of one forward (default 256); a forward holds
	// at least one sender with all its receivers.
	Rows int
	// Context, when set, stops the sweep between forwards.
	Context context.Context
}

// SweepResult is a path-patching sweep: every sender head × every receiver
// input above it, each cell one path patched alone.
type SweepResult struct {
	Senders   []Head     `json:"senders"`
	Receivers []Receiver `json:"receivers"`
	// Names label senders ("0.3") and receivers ("1.2k").
	SenderNames   []string    `json:"sender_names"`
	ReceiverNames []string    `json:"receiver_names"`
	Pairs         []SweepPair `json:"pairs"`
	// Mean is the normalised effect averaged over pairs, [sender][receiver];
	// NaN (null) where the receiver is not above the sender.
	Mean Values `json:"mean_effect"`
	// Drop is 1 − Mean: the share of the clean − corrupt metric difference
	// that the single path carries (0: none, 1: all of it).
	Drop     Values  `json:"drop"`
	Forwards int     `json:"forwards"`
	Graphs   int     `json:"graphs"` // distinct row layouts, each compiled once per prompt length
	Seconds  float64 `json:"seconds"`
}

// SweepPair is one pair's sweep.
type SweepPair struct {
	Clean   float64 `json:"clean_metric"`
	Corrupt float64 `json:"corrupt_metric"`
	Patched Values  `json:"patched_metric"` // [sender][receiver]
	Effect  Values  `json:"effect"`         // (patched − corrupt) / (clean − corrupt)
}

// PathSweep patches every sender → receiver path alone (PathPatch with one
// sender and one receiver, for every pair of them) in one forward per
// chunk of senders, whose rows are laid out so that the graph depends on
// the layout alone, not on the prompts' values: it is compiled once per
// layout and prompt length and reused by every pair.
//
// The rows of a forward, all on one pair:
//
//	0      the clean prompt, run plainly;
//	1      the corrupt prompt, run plainly;
//	2…     one row per sender (pass 1 of PathPatch): the clean prompt
//	       with every head's hook_z and every hook_mlp_out taken from row
//	       0 in the same forward, and the sender's head from row 1;
//	then   one row per (sender, receiver above it) (pass 2): the clean
//	       prompt with the receiver's head at its hook_q/k/v taken from
//	       the sender's pass-1 row in the same forward.
//
// A pass-1 row freezes every layer below the chunk's highest receiver, so
// its q, k and v at any layer L hold the clean input changed only through
// the direct sender → L paths: one pass-1 row serves every receiver. The
// clean and corrupt prompts of a pair must have the same length.
func PathSweep(m *engine.Model, pairs []Pair, o SweepOptions) (*SweepResult, error) {
	t0 := time.Now()
	if err := checkPairs(m, pairs); err != nil {
		return nil, err
	}
	for i, p := range pairs {
		if len(p.Clean) != len(p.Corrupt) {
			return nil, fmt.Errorf("pair %d: the clean prompt has %d tokens and the corrupt one %d; a sweep needs them aligned token for token", i, len(p.Clean), len(p.Corrupt))
		}
	}
	s, err := planPathSweep(m, o)
	if err != nil {
		return nil, err
	}
	res := &SweepResult{Senders: s.senders, Receivers: s.receivers, Graphs: len(s.chunks)}
	for _, h := range s.senders {
		res.SenderNames = append(res.SenderNames, fmt.Sprintf("%d.%d", h.Layer, h.Head))
	}
	for _, r := range s.receivers {
		res.ReceiverNames = append(res.ReceiverNames, r.String())
	}
	for _, p := range pairs {
		sp := SweepPair{Patched: nanGrid(len(s.senders), len(s.receivers))}
		for _, c := range s.chunks {
			if ctx := o.Context; ctx != nil && ctx.Err() != nil {
				return nil, fmt.Errorf("experiment: path sweep stopped after %d forwards: %w", res.Forwards, context.Cause(ctx))
			}
			ids := make([][]int32, c.rows())
			for r := range ids {
				ids[r] = p.Clean
			}
			ids[1] = p.Corrupt
			out, err := m.Run(engine.Request{IDs: ids, Interventions: c.interventions})
			if err != nil {
				return nil, err
			}
			res.Forwards++
			sp.Clean, sp.Corrupt = metricAt(out.Logits, 0, p), metricAt(out.Logits, 1, p)
			for i, x := range c.paths {
				sp.Patched[x.sender][x.receiver] = metricAt(out.Logits, 2+len(c.senders)+i, p)
			}
		}
		sp.Effect = normalise(sp.Patched, sp.Clean, sp.Corrupt)
		res.Pairs = append(res.Pairs, sp)
	}
	res.Mean = nanGrid(len(s.senders), len(s.receivers))
	res.Drop = nanGrid(len(s.senders), len(s.receivers))
	for i := range res.Mean {
		for j := range res.Mean[i] {
			if math.IsNaN(res.Pairs[0].Patched[i][j]) {
				continue
			}
			var sum float64
			for _, sp := range res.Pairs {
				sum += sp.Effect[i][j]
			}
			res.Mean[i][j] = sum / float64(len(pairs))
			res.Drop[i][j] = 1 - res.Mean[i][j]
		}
	}
	res.Seconds = time.Since(t0).Seconds()
	return res, nil
}

func nanGrid(rows, cols int) Values {
	v := make(Values, rows)
	for i := range v {
		v[i] = nanRow(cols)
	}
	return v
}

// SweepCell is one sender → receiver path and its mean drop.
type SweepCell struct {
	Sender   Head     `json:"sender"`
	Receiver Receiver `json:"receiver"`
	Name     string   `json:"name"` // "0.1 → 1.2k"
	Drop     float64  `json:"drop"`
}

// Top lists the k paths of largest drop, largest first.
func (r *SweepResult) Top(k int) []SweepCell {
	var cells []SweepCell
	for i, row := range r.Drop {
		for j, d := range row {
			if !math.IsNaN(d) {
				cells = append(cells, SweepCell{r.Senders[i], r.Receivers[j], r.SenderNames[i] + " → " + r.ReceiverNames[j], d})
			}
		}
	}
	sort.SliceStable(cells, func(a, b int) bool { return cells[a].Drop > cells[b].Drop })
	return cells[:min(k, len(cells))]
}

// Grid is the sweep's heat map: sender heads × receiver inputs, the drop.
func (r *SweepResult) Grid() Grid {
	title := "path patching sweep: share of clean − corrupt carried by each path"
	if len(r.Pairs) > 1 {
		title += fmt.Sprintf(" (mean over %d pairs)", len(r.Pairs))
	}
	return Grid{Title: title, RowTitle: "sender head", ColTitle: "receiver input", Value: "1 − normalised effect",
		Rows: r.SenderNames, Cols: r.ReceiverNames, Values: r.Drop}
}

// pathSweep is a planned sweep: its heads and its forwards.
type pathSweep struct {
	senders   []Head
	receivers []Receiver
	chunks    []*sweepChunk
}

// sweepChunk is one forward's layout (see PathSweep).
type sweepChunk struct {
	senders       []int // into pathSweep.senders; pass-1 row 2+i
	paths         []sweepPath
	interventions []engine.Intervention
}

// sweepPath is a pass-2 row: a sender and a receiver, as indices.
type sweepPath struct{ sender, receiver int }

func (c *sweepChunk) rows() int { return 2 + len(c.senders) + len(c.paths) }

func planPathSweep(m *engine.Model, o SweepOptions) (*pathSweep, error) {
	d := m.Dims()
	if o.Rows <= 0 {
		o.Rows = 256
	}
	s := &pathSweep{senders: o.Senders, receivers: o.Receivers}
	if s.senders == nil {
		for l := range d.Layers - 1 {
			for h := range d.Heads {
				s.senders = append(s.senders, Head{l, h})
			}
		}
	}
	if s.receivers == nil {
		for l := 1; l < d.Layers; l++ {
			for _, in := range []byte("qkv") {
				n := d.KVHeads
				if in == 'q' || n == 0 {
					n = d.Heads
				}
				for h := range n {
					s.receivers = append(s.receivers, Receiver{l, h, in})
				}
			}
		}
	}
	for _, h := range s.senders {
		if h.Layer >= d.Layers || h.Head >= d.Heads {
			return nil, fmt.Errorf("sender %d.%d: the model has %d layers of %d heads", h.Layer, h.Head, d.Layers, d.Heads)
		}
	}
	for _, r := range s.receivers {
		lay, err := intervene.HookLayout(m, r.hook())
		if err != nil {
			return nil, err
		}
		if r.Head >= lay.UnitCount() {
			return nil, fmt.Errorf("receiver %s: %s has %d heads", r, r.hook(), lay.UnitCount())
		}
	}
	// Greedy chunks of whole senders: a sender's pass-1 row and its paths.
	var c *sweepChunk
	for i, h := range s.senders {
		var paths []sweepPath
		for j, r := range s.receivers {
			if r.Layer > h.Layer {
				paths = append(paths, sweepPath{i, j})
			}
		}
		if len(paths) == 0 {
			continue
		}
		if c == nil || c.rows()+1+len(paths) > o.Rows {
			c = &sweepChunk{}
			s.chunks = append(s.chunks, c)
		}
		c.senders = append(c.senders, i)
		c.paths = append(c.paths, paths...)
	}
	if len(s.chunks) == 0 {
		return nil, fmt.Errorf("no receiver lies above any sender: a path needs a receiver in a later layer than its sender")
	}
	for _, c := range s.chunks {
		ivs, err := s.interventions(m, c)
		if err != nil {
			return nil, err
		}
		c.interventions = ivs
	}
	return s, nil
}

// interventions build chunk c's graph: pass-1 rows frozen, pass-2 rows'
// receivers replaced. Their key is a digest of the layout alone.
func (s *pathSweep) interventions(m *engine.Model, c *sweepChunk) ([]engine.Intervention, error) {
	top := 0
	for _, x := range c.paths {
		top = max(top, s.receivers[x.receiver].Layer)
	}
	var layout strings.Builder
	for _, i := range c.senders {
		fmt.Fprintf(&layout, "%d.%d,", s.senders[i].Layer, s.senders[i].Head)
	}
	layout.WriteString("|")
	for _, x := range c.paths {
		fmt.Fprintf(&layout, "%d:%s,", x.sender, s.receivers[x.receiver])
	}
	sum := sha256.Sum256([]byte(layout.String()))
	key := "pathsweep:" + hex.EncodeToString(sum[:12])

	// Pass-1 rows [2, 2+S) read row 0 (clean) everywhere and row 1
	// (corrupt) in their sender's head. Rows are sliced and broadcast, not
	// gathered: the backend's gather is slow, and only the replaced rows
	// are touched.
	S := len(c.senders)
	var ivs []engine.Intervention
	for l := range top {
		z := fmt.Sprintf("blocks.%d.attn.hook_z", l)
		if _, err := intervene.HookLayout(m, z); err != nil {
			return nil, err
		}
		heads := make([]int, S) // the head each pass-1 row takes from the corrupt row, or -1
		any := false
		for k, i := range c.senders {
			heads[k] = -1
			if s.senders[i].Layer == l {
				heads[k], any = s.senders[i].Head, true
			}
		}
		ivs = append(ivs, engine.Intervention{Hook: z, Key: key, Fn: func(x *Node) *Node {
			return patchRows(x, []rowPatch{{2, 2 + S, func(x, rows *Node) *Node {
				if !any {
					return rowOf(x, 0, S)
				}
				return Where(headMask(rows, heads), rowOf(x, 1, S), rowOf(x, 0, S))
			}}})
		}})
		mlp := fmt.Sprintf("blocks.%d.hook_mlp_out", l)
		if _, err := m.HookPoint(mlp); err == nil { // attention-only models have none
			ivs = append(ivs, engine.Intervention{Hook: mlp, Key: key, Fn: func(x *Node) *Node {
				return patchRows(x, []rowPatch{{2, 2 + S, func(x, _ *Node) *Node { return rowOf(x, 0, S) }}})
			}})
		}
	}
	// Pass-2 rows take their receiver's head from their sender's pass-1
	// row: one patch per run of consecutive rows with the same sender and
	// receiver hook.
	row1 := map[int]int{}
	for k, i := range c.senders {
		row1[i] = 2 + k
	}
	runs := map[string][]rowPatch{}
	var hooks []string
	for k := 0; k < len(c.paths); {
		x := c.paths[k]
		h := s.receivers[x.receiver].hook()
		e := k
		var heads []int
		for e < len(c.paths) && c.paths[e].sender == x.sender && s.receivers[c.paths[e].receiver].hook() == h {
			heads = append(heads, s.receivers[c.paths[e].receiver].Head)
			e++
		}
		if runs[h] == nil {
			hooks = append(hooks, h)
		}
		src, a := row1[x.sender], 2+S+k
		runs[h] = append(runs[h], rowPatch{a, a + len(heads), func(x, rows *Node) *Node {
			return Where(headMask(rows, heads), rowOf(x, src, len(heads)), rows)
		}})
		k = e
	}
	for _, h := range hooks {
		ivs = append(ivs, engine.Intervention{Hook: h, Key: key, Fn: func(x *Node) *Node { return patchRows(x, runs[h]) }})
	}
	return ivs, nil
}

// rowPatch replaces rows [a, b) of a hook x by fn(x, those rows).
type rowPatch struct {
	a, b int
	fn   func(x, rows *Node) *Node
}

// patchRows applies patches (in row order, not overlapping) to x [batch,
// ...]; rows outside them pass through.
func patchRows(x *Node, patches []rowPatch) *Node {
	var parts []*Node
	at := 0
	for _, p := range patches {
		if p.a > at {
			parts = append(parts, SliceAxis(x, 0, AxisRange(at, p.a)))
		}
		parts = append(parts, p.fn(x, SliceAxis(x, 0, AxisRange(p.a, p.b))))
		at = p.b
	}
	if n := x.Shape().Dimensions[0]; at < n {
		parts = append(parts, SliceAxis(x, 0, AxisRange(at, n)))
	}
	return Concatenate(parts, 0)
}

// rowOf is row r of x [batch, ...] repeated n times.
func rowOf(x *Node, r, n int) *Node {
	dims := append([]int{n}, x.Shape().Dimensions[1:]...)
	return BroadcastToDims(SliceAxis(x, 0, AxisElem(r)), dims...)
}

// headMask is true on head heads[i] of row i of a [rows, pos, head,
// d_head] hook (nowhere in a row whose head is -1).
func headMask(x *Node, heads []int) *Node {
	dims := x.Shape().Dimensions
	if len(dims) != 4 || dims[0] != len(heads) {
		panic(fmt.Sprintf("experiment: path sweep: hook of shape %v for %d rows; want [rows, pos, head, d_head]", dims, len(heads)))
	}
	mask := make([]bool, dims[0]*dims[2])
	for r, h := range heads {
		if h >= 0 {
			mask[r*dims[2]+h] = true
		}
	}
	m := Reshape(Const(x.Graph(), mask), dims[0], 1, dims[2], 1)
	return BroadcastToDims(m, dims...)
}
