package experiment

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/intervene"
)

// Head names one attention head.
type Head struct{ Layer, Head int }

// Receiver is a head's input that path patching replaces: its query, key or
// value (hook_q, hook_k, hook_v; Head indexes that hook's head axis, so for
// grouped-query models k and v count kv heads).
type Receiver struct {
	Layer, Head int
	Input       byte // 'q', 'k' or 'v'
}

func (r Receiver) String() string { return fmt.Sprintf("%d.%d%c", r.Layer, r.Head, r.Input) }

func (r Receiver) hook() string { return fmt.Sprintf("blocks.%d.attn.hook_%c", r.Layer, r.Input) }

// ParseReceivers reads "9.6q,9.9q,10.0" (LAYER.HEAD[q|k|v]; without a
// letter, all three inputs).
func ParseReceivers(s string) ([]Receiver, error) {
	var out []Receiver
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		inputs := "qkv"
		if c := f[len(f)-1]; c == 'q' || c == 'k' || c == 'v' {
			inputs, f = string(c), f[:len(f)-1]
		}
		h, err := ParseHead(f)
		if err != nil {
			return nil, fmt.Errorf("receiver %q: %w", f, err)
		}
		for _, c := range []byte(inputs) {
			out = append(out, Receiver{h.Layer, h.Head, c})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no receivers in %q", s)
	}
	return out, nil
}

// ParseHead reads LAYER.HEAD.
func ParseHead(s string) (Head, error) {
	a, b, ok := strings.Cut(s, ".")
	l, err1 := strconv.Atoi(a)
	h, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || l < 0 || h < 0 {
		return Head{}, fmt.Errorf("want LAYER.HEAD, got %q", s)
	}
	return Head{l, h}, nil
}

// PathResult is a path patching sweep: one cell per sender set.
type PathResult struct {
	Receivers []Receiver `json:"receivers"`
	Senders   [][]Head   `json:"senders"`
	Pairs     []PathPair `json:"pairs"`
	Mean      []float64  `json:"mean_effect"` // per sender set, over pairs
	Forwards  int        `json:"forwards"`
	Seconds   float64    `json:"seconds"`
}

// PathPair is one pair's path patching result.
type PathPair struct {
	Clean   float64   `json:"clean_metric"`
	Corrupt float64   `json:"corrupt_metric"`
	Patched []float64 `json:"patched_metric"` // per sender set
	Effect  []float64 `json:"effect"`         // (patched − corrupt) / (clean − corrupt): 1 = the path does not matter
}

// PathPatch patches the paths from each set of sender heads to the
// receivers, as in Wang et al. (IOI), in two passes per batch of rows:
//
//  1. Run the clean prompt with every head's hook_z at every layer below
//     the last receiver frozen to its clean value, except the senders',
//     which take their corrupt value, and every hook_mlp_out below the last
//     receiver frozen to clean. Record the receivers' hook_q/k/v: their
//     input as changed only through the direct sender → receiver paths.
//  2. Run the clean prompt with the receivers' hook_q/k/v (their heads
//     only) replaced by the recorded values; everything downstream is
//     recomputed. The metric of this run is the path-patched metric.
//
// Senders must lie below their receivers' layers to have a path.
func PathPatch(m *engine.Model, pairs []Pair, senders [][]Head, receivers []Receiver, batch int) (*PathResult, error) {
	t0 := time.Now()
	if err := checkPairs(m, pairs); err != nil {
		return nil, err
	}
	if batch <= 0 {
		batch = 16
	}
	d := m.Dims()
	top := 0
	for _, r := range receivers {
		lay, err := intervene.HookLayout(m, r.hook())
		if err != nil {
			return nil, err
		}
		if r.Head >= lay.UnitCount() {
			return nil, fmt.Errorf("receiver %d.%d%c: %s has %d heads", r.Layer, r.Head, r.Input, r.hook(), lay.UnitCount())
		}
		top = max(top, r.Layer)
	}
	for _, set := range senders {
		for _, h := range set {
			if h.Layer >= d.Layers || h.Head >= d.Heads {
				return nil, fmt.Errorf("sender %d.%d: the model has %d layers of %d heads", h.Layer, h.Head, d.Layers, d.Heads)
			}
		}
	}
	var zHooks, mlpHooks, recvHooks []string
	for l := range top {
		zHooks = append(zHooks, fmt.Sprintf("blocks.%d.attn.hook_z", l))
		mlpHooks = append(mlpHooks, fmt.Sprintf("blocks.%d.hook_mlp_out", l))
	}
	seen := map[string]bool{}
	for _, r := range receivers {
		if !seen[r.hook()] {
			seen[r.hook()] = true
			recvHooks = append(recvHooks, r.hook())
		}
	}
	for _, h := range append(append([]string{}, zHooks...), mlpHooks...) {
		if _, err := intervene.HookLayout(m, h); err != nil {
			return nil, err
		}
	}
	a := align(pairs)
	T := a.t
	base, err := baseRun(m, pairs, a, append(append([]string{}, zHooks...), mlpHooks...), batch)
	if err != nil {
		return nil, err
	}
	res := &PathResult{Receivers: receivers, Senders: senders}
	for i := range pairs {
		res.Pairs = append(res.Pairs, PathPair{Clean: base.clean[i], Corrupt: base.corrupt[i], Patched: make([]float64, len(senders))})
	}
	type row struct{ pair, set int }
	var rows []row
	for i := range pairs {
		for s := range senders {
			rows = append(rows, row{i, s})
		}
	}
	for s := 0; s < len(rows); s += batch {
		chunk := rows[s:min(s+batch, len(rows))]
		B := len(chunk)
		ids := make([][]int32, B)
		masks := make([][]bool, B)
		for r, x := range chunk {
			ids[r], masks[r] = a.clean[x.pair], a.cleanMask[x.pair]
		}
		// Pass 1: freeze everything to clean, senders to corrupt.
		var ivs []engine.Intervention
		for l, h := range zHooks {
			lay, _ := intervene.HookLayout(m, h)
			per := lay.PosSize()
			dh := lay.Rest()[1]
			value := make([]float32, B*T*per)
			for r, x := range chunk {
				blk := value[r*T*per : (r+1)*T*per]
				copy(blk, base.cleanActs[h][x.pair])
				cor := base.corruptActs[h][x.pair]
				for _, sh := range senders[x.set] {
					if sh.Layer != l {
						continue
					}
					for g := range T {
						if !a.both(x.pair, g) {
							continue
						}
						o := g*per + sh.Head*dh
						copy(blk[o:o+dh], cor[o:o+dh])
					}
				}
			}
			ivs = append(ivs, setRows(h, B, per, nil, value, B))
		}
		for _, h := range mlpHooks {
			lay, _ := intervene.HookLayout(m, h)
			per := lay.PosSize()
			value := make([]float32, B*T*per)
			for r, x := range chunk {
				copy(value[r*T*per:], base.cleanActs[h][x.pair])
			}
			ivs = append(ivs, setRows(h, B, per, nil, value, B))
		}
		p1, err := m.Run(engine.Request{IDs: ids, Mask: maskOrNil(masks), Hooks: recvHooks, Interventions: ivs, NoLogits: true})
		if err != nil {
			return nil, err
		}
		// Pass 2: clean run with the receivers' inputs replaced.
		ivs = nil
		for _, h := range recvHooks {
			lay, _ := intervene.HookLayout(m, h)
			per := lay.PosSize()
			dh := lay.Rest()[1]
			mask := make([]bool, B*T*per)
			for r := range chunk {
				for _, rc := range receivers {
					if rc.hook() != h {
						continue
					}
					for g := range T {
						o := r*T*per + g*per + rc.Head*dh
						for j := o; j < o+dh; j++ {
							mask[j] = true
						}
					}
				}
			}
			ivs = append(ivs, setRows(h, B, per, mask, p1.Acts[h].Data, B))
		}
		p2, err := m.Run(engine.Request{IDs: ids, Mask: maskOrNil(masks), Interventions: ivs})
		if err != nil {
			return nil, err
		}
		res.Forwards += 2
		for r, x := range chunk {
			res.Pairs[x.pair].Patched[x.set] = metricAt(p2.Logits, r, pairs[x.pair])
		}
	}
	res.Mean = make([]float64, len(senders))
	for i := range res.Pairs {
		pp := &res.Pairs[i]
		pp.Effect = make([]float64, len(senders))
		for s, v := range pp.Patched {
			pp.Effect[s] = (v - pp.Corrupt) / (pp.Clean - pp.Corrupt)
			res.Mean[s] += pp.Effect[s] / float64(len(pairs))
		}
	}
	res.Seconds = time.Since(t0).Seconds()
	return res, nil
}
