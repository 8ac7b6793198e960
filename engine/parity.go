package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/glia-dev/glia/format/safetensors"
	"github.com/gomlx/compute/dtypes"
)

// ParityTolerance is the float32 bar against transformers: 1e-4 absolute,
// or relative to the tensor's largest magnitude when that is above 1.
const ParityTolerance = 1e-4

// BF16LogitTolerance is the bar for bf16 logits against a float32 run,
// relative to max(1, largest logit magnitude): bf16 keeps 8 significant
// bits, and the hf-tiny fixtures measure 0.008 to 0.03 on the CPU.
const BF16LogitTolerance = 5e-2

// SameDTypeTolerance is the bar for logits of one dtype computed on two
// devices (glia parity --compare-logits).
const SameDTypeTolerance = 1e-2

// MaxDiff returns the largest |got-want| scaled by max(1, max|want|), and
// its index; NaN counts as the largest.
func MaxDiff(got, want []float32) (diff float64, at int) {
	scale := 1.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	for i := range want {
		d := math.Abs(float64(got[i])-float64(want[i])) / scale
		if d > diff || math.IsNaN(d) {
			diff, at = d, i
		}
	}
	return diff, at
}

// ParityCheck is one tensor compared with the fixture's reference.
type ParityCheck struct {
	What    string  `json:"what"`
	MaxDiff float64 `json:"maxdiff"`
	At      int     `json:"at"`
	Got     float32 `json:"got"`
	Want    float32 `json:"want"`
	Tol     float64 `json:"tol"` // 0: reported, not judged
	Err     string  `json:"err,omitempty"`
}

// Failed reports whether the check is judged and outside its tolerance.
func (c ParityCheck) Failed() bool {
	return c.Err != "" || (c.Tol > 0 && (c.MaxDiff > c.Tol || math.IsNaN(c.MaxDiff)))
}

// ParityReport is one hf-tiny fixture run against transformers' reference.
type ParityReport struct {
	Fixture     string        `json:"fixture"`
	DType       string        `json:"dtype"`
	Checks      []ParityCheck `json:"checks"`
	GreedyEqual int           `json:"greedy_equal"` // leading new ids equal to transformers' greedy ones
	GreedyTotal int           `json:"greedy_total"`
	Logits      []float32     `json:"-"` // glia's logits, for comparing runs
}

// Worst returns the check with the largest maxdiff (judged checks first).
func (r *ParityReport) Worst() ParityCheck {
	var w ParityCheck
	for _, c := range r.Checks {
		if c.Failed() && !w.Failed() || c.Failed() == w.Failed() && c.MaxDiff > w.MaxDiff {
			w = c
		}
	}
	return w
}

// Check returns the named check.
func (r *ParityReport) Check(what string) (ParityCheck, bool) {
	for _, c := range r.Checks {
		if c.What == what {
			return c, true
		}
	}
	return ParityCheck{}, false
}

// OK reports whether every judged check passed and, in float32, whether the
// greedy continuation matched transformers'.
func (r *ParityReport) OK() bool {
	for _, c := range r.Checks {
		if c.Failed() {
			return false
		}
	}
	return r.DType != "f32" || r.GreedyEqual == r.GreedyTotal
}

// Parity loads an hf-tiny fixture directory (a model saved by transformers
// with reference.safetensors beside it), runs it in dtype and compares
// logits, residuals, attention patterns, MLP neurons, their gradients and
// greedy ids. In float32 every check is judged at ParityTolerance; in bf16
// the logits are judged at BF16LogitTolerance and the rest only reported.
// The model runs on the current backend (see SetDevice).
func Parity(dir string, dtype dtypes.DType) (*ParityReport, error) {
	m, err := Load(dir)
	if err != nil {
		return nil, err
	}
	if err := m.SetDType(dtype); err != nil {
		return nil, err
	}
	ref, err := safetensors.Open(filepath.Join(dir, "reference.safetensors"))
	if err != nil {
		return nil, err
	}
	defer ref.Close()
	raw, err := ref.Int64s("input_ids")
	if err != nil {
		return nil, err
	}
	shape, _ := ref.Shape("input_ids")
	b, n := shape[0], shape[1]
	ids := make([][]int32, b)
	for i := range ids {
		for _, v := range raw[i*n : (i+1)*n] {
			ids[i] = append(ids[i], int32(v))
		}
	}
	L := m.Dims().Layers
	var hooks []string
	for l := range L {
		hooks = append(hooks, fmt.Sprintf("blocks.%d.mlp.hook_post", l), fmt.Sprintf("blocks.%d.attn.hook_pattern", l), fmt.Sprintf("blocks.%d.hook_resid_post", l))
	}
	hooks = append(hooks, "ln_final.hook_normalized", "hook_embed")
	grad, err := gradTarget(filepath.Join(dir, "reference.json"))
	if err != nil {
		return nil, err
	}
	res, err := m.Run(Request{IDs: ids, Hooks: hooks, Grad: &grad})
	if err != nil {
		return nil, err
	}
	r := &ParityReport{Fixture: filepath.Base(dir), DType: DTypeName(dtype), Logits: res.Logits.Data}
	tol := func(what string) float64 {
		if dtype == dtypes.Float32 {
			return ParityTolerance
		}
		if what == "logits" {
			return BF16LogitTolerance
		}
		return 0
	}
	check := func(what string, got []float32, refName string) {
		c := ParityCheck{What: what, Tol: tol(what)}
		want, err := ref.Float32(refName)
		switch {
		case err != nil:
			c.Err = err.Error()
		case len(got) != len(want):
			c.Err = fmt.Sprintf("%d values, reference has %d", len(got), len(want))
		default:
			c.MaxDiff, c.At = MaxDiff(got, want)
			c.Got, c.Want = got[c.At], want[c.At]
		}
		r.Checks = append(r.Checks, c)
	}
	check("logits", res.Logits.Data, "logits")
	for l := range L {
		check(fmt.Sprintf("blocks.%d.mlp.hook_post", l), res.Acts[hooks[3*l]].Data, fmt.Sprintf("mlp_post.%d", l))
		check(fmt.Sprintf("blocks.%d.attn.hook_pattern", l), res.Acts[hooks[3*l+1]].Data, fmt.Sprintf("pattern.%d", l))
		if l < L-1 {
			check(fmt.Sprintf("blocks.%d.hook_resid_post", l), res.Acts[hooks[3*l+2]].Data, fmt.Sprintf("hidden.%d", l+1))
		}
		check(fmt.Sprintf("grad blocks.%d.mlp.hook_post", l), res.Grads[hooks[3*l]].Data, fmt.Sprintf("grad_mlp_post.%d", l))
	}
	check("ln_final.hook_normalized", res.Acts["ln_final.hook_normalized"].Data, fmt.Sprintf("hidden.%d", L))

	gen, err := ref.Int64s("generate_ids")
	if err != nil {
		return nil, err
	}
	got, err := m.Generate(ids[0], GenerateOptions{MaxNew: len(gen) - n})
	if err != nil {
		return nil, err
	}
	r.GreedyTotal = len(gen) - n
	for i, want := range gen[n:] {
		if i >= len(got) || int64(got[i]) != want {
			break
		}
		r.GreedyEqual++
	}
	return r, nil
}

// gradTarget reads which logit the reference differentiated
// (reference.json's grad_target: batch, position, token).
func gradTarget(path string) (GradTarget, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return GradTarget{}, fmt.Errorf("engine: parity: %w", err)
	}
	var ref struct {
		Grad *struct {
			Batch    int `json:"batch"`
			Position int `json:"position"`
			Token    int `json:"token"`
		} `json:"grad_target"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		return GradTarget{}, fmt.Errorf("engine: parity: %s: %w", path, err)
	}
	if ref.Grad == nil {
		return GradTarget{}, fmt.Errorf("engine: parity: %s has no grad_target", path)
	}
	return GradTarget{Batch: ref.Grad.Batch, Pos: ref.Grad.Position, Token: ref.Grad.Token}, nil
}
