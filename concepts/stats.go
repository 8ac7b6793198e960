package concepts

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/glia-dev/glia/engine"
)

// Unit is one recorded unit: an index into a hook's last axis.
type Unit struct {
	Hook  string `json:"hook"`
	Index int    `json:"unit"`
}

// Name is the unit as the CLI writes it (glia atlas show takes it).
func (u Unit) Name() string { return u.Hook + ":" + strconv.Itoa(u.Index) }

// Link is the unit's page under glia serve.
func (u Unit) Link() string { return "/neuron/" + u.Hook + "/" + strconv.Itoa(u.Index) }

// Window is one window's response of every unit, kept in a corpus's sample.
type Window struct {
	Tokens int       // positions counted (BOS and padding are not)
	Max    []float32 // the pooled response: the maximum over the window (AurA's pooling)
	Freq   []float32 // fraction of positions with a positive activation (see SignHooks)
	Mean   []float32 // mean activation
}

// Stats is what one pass over a corpus keeps per unit.
type Stats struct {
	Name    string
	Units   []Unit
	Windows int
	Tokens  int64     // positions counted
	Pos     []int64   // positions with activation > 0 (LAPE's over_zero; see SignHooks)
	Sum     []float64 // Σ activation
	SumSq   []float64 // Σ activation²
	// Sample holds every window's responses when the corpus has at most
	// Options.Sample windows, else a uniform reservoir sample of that many
	// (Vitter's algorithm R): AUROC and the bootstrap read it.
	Sample []Window
	// Grad is CULNIG's score summed over windows: for each window, p̄ ×
	// max over positions of activation × ∂p̄/∂activation, p̄ the mean
	// probability of the correct next token. GradClamped sums max(·, 0), as
	// CULNIG does for its control set. Nil unless Options.Grad.
	Grad, GradClamped []float64
}

// Freq is the probability of a positive activation.
func (s *Stats) Freq(i int) float64 { return float64(s.Pos[i]) / float64(max(s.Tokens, 1)) }

// Mean is the mean activation.
func (s *Stats) Mean(i int) float64 { return s.Sum[i] / float64(max(s.Tokens, 1)) }

// Var is the variance of the activation (population).
func (s *Stats) Var(i int) float64 {
	n := float64(max(s.Tokens, 1))
	m := s.Sum[i] / n
	return math.Max(s.SumSq[i]/n-m*m, 0)
}

// Options control Collect.
type Options struct {
	Hooks  []string // hooks laid out [batch, pos, units] (default blocks.*.mlp.hook_post)
	Batch  int      // windows per forward (default 8)
	Sample int      // windows kept per corpus for AUROC and the bootstrap (default 1024)
	Seed   uint64   // reservoir seed (mixed with the corpus name)
	Grad   bool     // also compute CULNIG's gradient scores (a backward pass per batch)
}

func (o Options) withDefaults() Options {
	if o.Batch <= 0 {
		o.Batch = 8
	}
	if o.Sample <= 0 {
		o.Sample = 1024
	}
	return o
}

// UnitsOf lists the units of hooks, each laid out [batch, pos, units].
func UnitsOf(m *engine.Model, hooks []string) ([]Unit, error) {
	var out []Unit
	for _, h := range hooks {
		sh, err := m.HookShape(h)
		if err != nil {
			return nil, err
		}
		if len(sh) != 3 {
			return nil, errorf("units", "hook %s has shape %v; concept methods take hooks laid out [batch, pos, units] (e.g. blocks.*.mlp.hook_post)", h, sh)
		}
		for i := range sh[2] {
			out = append(out, Unit{Hook: h, Index: i})
		}
	}
	if len(out) == 0 {
		return nil, errorf("units", "no hooks given")
	}
	return out, nil
}

// SignHooks maps each mlp.hook_post in hooks to its mlp.hook_pre when the
// model has one: a positive activation is counted where the nonlinearity's
// output is positive, as LAPE counts it (act_fn(gate) > 0), and for SiLU,
// GELU and ReLU that is where its input is positive. In a gated MLP
// hook_post is act(gate)·up, whose sign is not the nonlinearity's.
func SignHooks(m *engine.Model, hooks []string) map[string]string {
	out := map[string]string{}
	for _, h := range hooks {
		if base, ok := strings.CutSuffix(h, "mlp.hook_post"); ok {
			if _, err := m.HookPoint(base + "mlp.hook_pre"); err == nil {
				out[h] = base + "mlp.hook_pre"
			}
		}
	}
	return out
}

// Collect makes one pass over a corpus's windows and keeps what every
// method needs. Windows longer than the model's context are refused.
func Collect(m *engine.Model, name string, windows [][]int32, o Options) (*Stats, error) {
	o = o.withDefaults()
	units, err := UnitsOf(m, o.Hooks)
	if err != nil {
		return nil, err
	}
	n := len(units)
	s := &Stats{Name: name, Units: units, Pos: make([]int64, n), Sum: make([]float64, n), SumSq: make([]float64, n)}
	if o.Grad {
		s.Grad, s.GradClamped = make([]float64, n), make([]float64, n)
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	rng := rand.New(rand.NewPCG(o.Seed, h.Sum64()))
	bos := m.BOS()
	signs := SignHooks(m, o.Hooks)
	req := engine.Request{Hooks: o.Hooks, NoLogits: !o.Grad}
	for _, h := range o.Hooks {
		if pre, ok := signs[h]; ok {
			req.Hooks = append(req.Hooks, pre)
		}
	}
	if o.Grad {
		req.Grad = nextTokenProb(bos)
	}
	err = fixedBatches(m, windows, o.Batch, req, func(res *engine.Result, rows [][]int32, width int) {
		for b, row := range rows {
			w := Window{Max: make([]float32, n), Freq: make([]float32, n), Mean: make([]float32, n)}
			var score []float64
			if o.Grad {
				score = make([]float64, n)
			}
			off := 0
			for _, hk := range o.Hooks {
				act, sign := res.Acts[hk], res.Acts[hk]
				if pre, ok := signs[hk]; ok {
					sign = res.Acts[pre]
				}
				d := act.Shape[2]
				var grad []float32
				if o.Grad {
					grad = res.Grads[hk].Data
				}
				for u := range d {
					mx, best := float32(math.Inf(-1)), math.Inf(-1)
					var pos int64
					var sum, sq float64
					cnt := 0
					for p, id := range row {
						if id == bos {
							continue
						}
						a := act.Data[(b*width+p)*d+u]
						cnt++
						if sign.Data[(b*width+p)*d+u] > 0 {
							pos++
						}
						mx = max(mx, a)
						sum += float64(a)
						sq += float64(a) * float64(a)
						if grad != nil {
							best = math.Max(best, float64(a)*float64(grad[(b*width+p)*d+u]))
						}
					}
					i := off + u
					s.Pos[i] += pos
					s.Sum[i] += sum
					s.SumSq[i] += sq
					w.Tokens = cnt
					if cnt > 0 {
						w.Max[i], w.Freq[i], w.Mean[i] = mx, float32(float64(pos)/float64(cnt)), float32(sum/float64(cnt))
					}
					if score != nil && cnt > 0 {
						score[i] = best
					}
				}
				off += d
			}
			if w.Tokens == 0 {
				continue
			}
			s.Tokens += int64(w.Tokens)
			if score != nil {
				pbar := meanCorrectProb(res.Logits, b, width, row, bos)
				for i, v := range score {
					v *= pbar
					s.Grad[i] += v
					s.GradClamped[i] += math.Max(v, 0)
				}
			}
			s.Windows++
			if len(s.Sample) < o.Sample {
				s.Sample = append(s.Sample, w)
			} else if j := rng.IntN(s.Windows); j < o.Sample {
				s.Sample[j] = w
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("concepts: corpus %s: %w", name, err)
	}
	if s.Windows == 0 {
		return nil, errorf("collect", "corpus %s: no windows with tokens other than BOS", name)
	}
	return s, nil
}
