package neuronpath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/glia-dev/glia/engine"
	. "github.com/gomlx/gomlx/core/graph"
)

// Form is which joint attribution score the search maximises.
type Form string

const (
	Code  Form = "code"  // (Σ gradients) × (Σ step sizes), the authors' code
	Paper Form = "paper" // Σ per-neuron step size × gradients, the paper
)

// Options configure a search.
type Options struct {
	Steps int  // left-Riemann steps (default 20)
	Form  Form // default Code
	Pos   int  // target position; negative counts from the end (-1 the last)
	// Exact, when not 0, rescores each search step's Exact best candidates
	// (all of them when negative) by their exact joint score, the path and
	// the candidate scaled alone, instead of the authors' approximation
	// (the whole layer scaled with the path): m rows per candidate.
	Exact int
	// Random, when set, adds a baseline path of one uniformly random neuron
	// per layer, drawn from Seed.
	Random bool
	Seed   uint64
}

// Error is a neuron-path error: what went wrong.
type Error struct{ Msg string }

func (e *Error) Error() string { return "neuronpath: " + e.Msg }

func errorf(format string, args ...any) error { return &Error{fmt.Sprintf(format, args...)} }

// Path is one neuron per MLP layer, with its scores and influence.
type Path struct {
	Method  string `json:"method"`  // joint (the search), activation, ig, random
	Neurons []int  `json:"neurons"` // per layer, into hook_post's last axis
	// Code and Paper are the path's joint attribution scores (see the
	// package doc), every layer's neuron scaled together.
	Code  float64 `json:"jas_code"`
	Paper float64 `json:"jas_paper"`
	// Deactivated and Kept are the target's probability with the path's
	// neurons zeroed, and with every other neuron of the MLP layers zeroed,
	// at the target position.
	Deactivated float64 `json:"prob_deactivated"`
	Kept        float64 `json:"prob_kept"`
	// Enhanced is the target's probability with the path's neurons doubled
	// at the target position (the authors' "enhance" edit).
	Enhanced float64 `json:"prob_enhanced"`
}

// Result is a search and its baselines on one prompt.
type Result struct {
	Hooks []string `json:"hooks"` // the MLP layers' hook_post, in order
	Pos   int      `json:"pos"`   // the neurons' position (an image model's CLS is 0)
	Token int32    `json:"token"` // the target token, or an image model's class
	Prob  float64  `json:"prob"`  // the target's clean probability
	// OffProb is the target's probability with every MLP neuron at the
	// target position zeroed.
	OffProb float64 `json:"prob_all_off"`
	Steps   int     `json:"steps"`
	Form    Form    `json:"form"`
	Exact   int     `json:"exact,omitempty"` // candidates rescored exactly per step (-1: all)
	// Paths are the search's (joint) first, then the baselines.
	Paths []Path `json:"paths"`
	// Layer is each search step's candidate scores, [layer][neuron].
	Layer    [][]float64 `json:"-"`
	Forwards int         `json:"forwards"`
	Seconds  float64     `json:"seconds"`
}

// Find searches the influential neuron path of ids for token at o.Pos, runs
// the baselines, and measures them all.
func Find(m *engine.Model, ids []int32, token int32, o Options) (*Result, error) {
	if _, images := m.ImageShape(); images {
		return nil, errorf("%s is an image model: use FindImage", m.Name)
	}
	if len(ids) == 0 {
		return nil, errorf("the prompt has no tokens")
	}
	in := tokens{ids}
	pos := o.Pos
	if pos < 0 {
		pos += len(ids)
	}
	return find(m, in, pos, len(ids), token, o)
}

// FindImage searches the influential neuron path of an image classifier for
// class: pixels are one preprocessed image [1, channels, height, width];
// the neurons are at hook position o.Pos (0, the default, is a ViT's CLS
// token, where the authors' neurons are; negative counts from the end).
func FindImage(m *engine.Model, pixels engine.Array, class int32, o Options) (*Result, error) {
	shape, ok := m.ImageShape()
	if !ok {
		return nil, errorf("%s reads token ids, not images: use Find", m.Name)
	}
	if len(pixels.Shape) != 4 || pixels.Shape[0] != 1 || pixels.Shape[1] != shape[0] || pixels.Shape[2] != shape[1] || pixels.Shape[3] != shape[2] {
		return nil, errorf("pixels are %v; %s reads one image [1, %d, %d, %d]", pixels.Shape, m.Name, shape[0], shape[1], shape[2])
	}
	if len(pixels.Data) != shape[0]*shape[1]*shape[2] {
		return nil, errorf("pixels hold %d values for shape %v", len(pixels.Data), pixels.Shape)
	}
	// Logits are [batch, 1, classes]: the target is at logits position 0
	// whatever position the neurons are at.
	return find(m, image{pixels}, 0, 1, class, o)
}

// input is what a search runs: a prompt or an image, repeated over rows.
type input interface {
	request(rows int) engine.Request
}

type tokens struct{ ids []int32 }

func (t tokens) request(rows int) engine.Request {
	ids := make([][]int32, rows)
	for r := range ids {
		ids[r] = t.ids
	}
	return engine.Request{IDs: ids}
}

type image struct{ pixels engine.Array }

func (im image) request(rows int) engine.Request {
	n := len(im.pixels.Data)
	data := make([]float32, rows*n)
	for r := range rows {
		copy(data[r*n:], im.pixels.Data)
	}
	shape := append([]int{rows}, im.pixels.Shape[1:]...)
	return engine.Request{Pixels: &engine.Array{Shape: shape, Data: data}}
}

// find runs the search and the baselines; the target is logits[lpos] of lT
// logits positions.
func find(m *engine.Model, in input, lpos, lT int, token int32, o Options) (*Result, error) {
	t0 := time.Now()
	s, err := newSearch(m, in, lpos, lT, token, o)
	if err != nil {
		return nil, err
	}
	res := &Result{Hooks: s.hooks, Pos: s.pos, Token: token, Prob: s.prob, Steps: s.steps, Form: s.form, Exact: s.exact}
	joint := Path{Method: "joint"}
	for l := range s.hooks {
		scores, err := s.layerScores(joint.Neurons, l)
		if err != nil {
			return nil, err
		}
		res.Layer = append(res.Layer, scores)
		joint.Neurons = append(joint.Neurons, argmax(scores))
	}
	act := Path{Method: "activation"}
	for _, a := range s.clean {
		act.Neurons = append(act.Neurons, argmax(a))
	}
	igs, err := s.singleIG()
	if err != nil {
		return nil, err
	}
	ig := Path{Method: "ig"}
	for _, a := range igs {
		ig.Neurons = append(ig.Neurons, argmax(a))
	}
	res.Paths = []Path{joint, act, ig}
	if o.Random {
		rng := rand.New(rand.NewPCG(o.Seed, 0x6e657572))
		p := Path{Method: "random"}
		for range s.hooks {
			p.Neurons = append(p.Neurons, rng.IntN(s.d))
		}
		res.Paths = append(res.Paths, p)
	}
	if err := s.score(res.Paths); err != nil {
		return nil, err
	}
	if res.OffProb, err = s.influence(res.Paths); err != nil {
		return nil, err
	}
	res.Forwards = s.forwards
	res.Seconds = time.Since(t0).Seconds()
	return res, nil
}

// search holds an input's clean run and runs the scaled forwards.
type search struct {
	m        *engine.Model
	in       input
	token    int32
	pos, T   int // the neurons' position, of T in the hooks
	lpos, lT int // the target's position, of lT in the logits
	steps    int
	form     Form
	exact    int
	hooks    []string
	d        int         // neurons per layer
	clean    [][]float32 // per layer, the neurons' clean values at pos
	prob     float64
	forwards int
}

func newSearch(m *engine.Model, in input, lpos, lT int, token int32, o Options) (*search, error) {
	s := &search{m: m, in: in, token: token, lpos: lpos, lT: lT, steps: o.Steps, form: o.Form, exact: o.Exact}
	if s.steps <= 0 {
		s.steps = 20
	}
	switch s.form {
	case "":
		s.form = Code
	case Code, Paper:
	default:
		return nil, errorf("unknown form %q (code, paper)", o.Form)
	}
	if lpos < 0 || lpos >= lT {
		return nil, errorf("position %d is outside the prompt's %d tokens", o.Pos, lT)
	}
	if token < 0 || int(token) >= m.Dims().Vocab {
		return nil, errorf("target %d is outside the model's %d outputs", token, m.Dims().Vocab)
	}
	for l := range m.Dims().Layers {
		h := fmt.Sprintf("blocks.%d.mlp.hook_post", l)
		if _, err := m.HookPoint(h); err == nil {
			s.hooks = append(s.hooks, h)
		}
	}
	if len(s.hooks) == 0 {
		return nil, errorf("the model has no MLP neurons (no blocks.L.mlp.hook_post): a neuron path needs them")
	}
	req := in.request(1)
	req.Hooks = s.hooks
	res, err := m.Run(req)
	if err != nil {
		return nil, err
	}
	s.forwards++
	s.T = res.Acts[s.hooks[0]].Shape[1]
	if s.pos = o.Pos; s.pos < 0 {
		s.pos += s.T
	}
	if s.pos < 0 || s.pos >= s.T {
		return nil, errorf("position %d is outside the neurons' %d positions", o.Pos, s.T)
	}
	for _, h := range s.hooks {
		a := res.Acts[h]
		s.d = a.Shape[2]
		s.clean = append(s.clean, a.Data[s.pos*s.d:(s.pos+1)*s.d])
	}
	s.prob = s.probAt(res.Logits, 0)
	return s, nil
}

// probAt is the target's softmax probability in row b.
func (s *search) probAt(logits engine.Array, b int) float64 {
	v := logits.Shape[2]
	at := b*s.lT + s.lpos
	return engine.Probs(logits.Data[at*v : (at+1)*v])[s.token]
}

// grad is the target's probability summed over rows (rows are independent,
// so each row gets its own gradient).
func (s *search) grad() *engine.GradTarget {
	return &engine.GradTarget{Key: fmt.Sprintf("neuronpath:prob:%d:%d", s.lpos, s.token), Fn: func(logits *Node) *Node {
		at := SliceAxis(logits, 1, AxisElem(s.lpos))
		return ReduceAllSum(SliceAxis(Softmax(at, -1), 2, AxisElem(int(s.token))))
	}}
}

// alpha is step k's scale, k/m.
func (s *search) alpha(k int) float32 { return float32(k) / float32(s.steps) }

// layerScores runs search step l: the path (one neuron per layer below l)
// and all of layer l scaled together, and scores every candidate of l.
func (s *search) layerScores(path []int, l int) ([]float64, error) {
	m := s.steps
	values := make([][]float32, l+1) // per layer, [m, d] at pos
	for i := range values {
		values[i] = make([]float32, m*s.d)
		for k := range m {
			row := values[i][k*s.d : (k+1)*s.d]
			copy(row, s.clean[i])
			if i == l {
				for j := range row {
					row[j] *= s.alpha(k)
				}
			} else {
				row[path[i]] *= s.alpha(k)
			}
		}
	}
	g, err := s.scaled(values, nil)
	if err != nil {
		return nil, err
	}
	var gPath, xPath, paperPath float64
	for i, n := range path {
		gi := sumSteps(g[i], n, s.d)
		x := float64(s.clean[i][n]) / float64(m)
		gPath, xPath, paperPath = gPath+gi, xPath+x, paperPath+gi*x
	}
	scores := make([]float64, s.d)
	for j := range scores {
		gj := sumSteps(g[l], j, s.d)
		x := float64(s.clean[l][j]) / float64(m)
		if s.form == Paper {
			scores[j] = paperPath + gj*x
		} else {
			scores[j] = (gPath + gj) * (xPath + x)
		}
	}
	if s.exact == 0 {
		return scores, nil
	}
	return s.rerank(path, scores)
}

// rerank scores the s.exact best candidates of one search step by their
// exact joint score, path ∪ {j} scaled alone (the rest of their layer held
// at clean, not scaled with them); every other candidate scores −∞.
func (s *search) rerank(path []int, approx []float64) ([]float64, error) {
	order := make([]int, len(approx))
	for j := range order {
		order[j] = j
	}
	sort.SliceStable(order, func(a, b int) bool { return approx[order[a]] > approx[order[b]] })
	if s.exact > 0 && s.exact < len(order) {
		order = order[:s.exact]
	}
	cands := make([][]int, len(order))
	for i, j := range order {
		cands[i] = append(append([]int(nil), path...), j)
	}
	code, paper, err := s.jas(cands)
	if err != nil {
		return nil, err
	}
	scores := make([]float64, len(approx))
	for j := range scores {
		scores[j] = math.Inf(-1)
	}
	for i, j := range order {
		scores[j] = code[i]
		if s.form == Paper {
			scores[j] = paper[i]
		}
	}
	return scores, nil
}

// sumSteps is Σₖ g[k, j] of one layer's gradients [m, d].
func sumSteps(g []float32, j, d int) float64 {
	var s float64
	for k := 0; k < len(g)/d; k++ {
		s += float64(g[k*d+j])
	}
	return s
}

// scaled runs one forward of len(values[0])/d rows with layer i's neurons
// at pos set to values[i] (row-major [rows, d]; a nil entry leaves that
// layer free) where masks[i] (nil: everywhere), and returns the target's
// gradient there, per layer [rows, d].
func (s *search) scaled(values [][]float32, masks [][]bool) ([][]float32, error) {
	var hooks []string
	var ivs []engine.Intervention
	rows := 0
	for i, v := range values {
		if v == nil {
			continue
		}
		var mask []bool
		if masks != nil {
			mask = masks[i]
		}
		rows = len(v) / s.d
		hooks = append(hooks, s.hooks[i])
		ivs = append(ivs, s.setAtPos(s.hooks[i], v, mask))
	}
	req := s.in.request(rows)
	req.Hooks, req.Grad, req.NoLogits, req.Interventions = hooks, s.grad(), true, ivs
	res, err := s.m.Run(req)
	if err != nil {
		return nil, err
	}
	s.forwards++
	out := make([][]float32, len(values))
	for i, v := range values {
		if v == nil {
			continue
		}
		g := res.Grads[s.hooks[i]].Data // [rows, T, d]
		out[i] = make([]float32, rows*s.d)
		for r := range rows {
			copy(out[i][r*s.d:(r+1)*s.d], g[(r*s.T+s.pos)*s.d:(r*s.T+s.pos+1)*s.d])
		}
	}
	return out, nil
}

// setAtPos sets hook [rows, T, d] at pos to value [rows, d] where mask
// [rows, d] (nil: everywhere); other positions keep the forward's value.
func (s *search) setAtPos(hook string, value []float32, mask []bool) engine.Intervention {
	m := make([]float32, len(value))
	for i := range m {
		if mask == nil || mask[i] {
			m[i] = 1
		}
	}
	return s.atPos(hook, "set", value, m, func(x, v, m *Node) *Node {
		return Where(GreaterThan(m, ZerosLike(m)), v, x)
	})
}

// scaleAtPos multiplies hook [rows, T, d] at pos by scale [rows, d].
func (s *search) scaleAtPos(hook string, scale []float32) engine.Intervention {
	return s.atPos(hook, "scale", scale, nil, func(x, v, _ *Node) *Node { return Mul(x, v) })
}

// atPos edits hook [rows, T, d] at pos by edit(x, a, b) of the hook's value
// there and a and b [rows, d]; other positions keep the forward's value.
// a and b are graph inputs, so one compiled graph serves every prompt or
// image of the same shape.
func (s *search) atPos(hook, kind string, a, b []float32, edit func(x, a, b *Node) *Node) engine.Intervention {
	d, pos := s.d, s.pos
	rows := len(a) / d
	in := []engine.Array{{Shape: []int{rows, 1, d}, Data: a}}
	if b != nil {
		in = append(in, engine.Array{Shape: []int{rows, 1, d}, Data: b})
	}
	return engine.Intervention{Hook: hook, Key: fmt.Sprintf("neuronpath:%s:%d", kind, pos), Inputs: in,
		FnIn: func(x *Node, in []*Node) *Node {
			T := x.Shape().Dimensions[1] // x is [rows, T, d]
			var bn *Node
			if len(in) > 1 {
				bn = in[1]
			}
			var parts []*Node
			if pos > 0 {
				parts = append(parts, SliceAxis(x, 1, AxisRange(0, pos)))
			}
			parts = append(parts, edit(SliceAxis(x, 1, AxisElem(pos)), in[0], bn))
			if pos+1 < T {
				parts = append(parts, SliceAxis(x, 1, AxisRange(pos+1, T)))
			}
			if len(parts) == 1 {
				return parts[0]
			}
			return Concatenate(parts, 1)
		}}
}

// singleIG is each layer's single-neuron integrated gradients at pos: the
// layer's neurons scaled from zero with everything else free, one forward
// holding every layer's m rows.
func (s *search) singleIG() ([][]float64, error) {
	m, L := s.steps, len(s.hooks)
	values := make([][]float32, L)
	masks := make([][]bool, L)
	for l := range L {
		values[l] = make([]float32, L*m*s.d)
		masks[l] = make([]bool, L*m*s.d)
		for k := range m {
			r := l*m + k
			for j := range s.d {
				values[l][r*s.d+j] = s.alpha(k) * s.clean[l][j]
				masks[l][r*s.d+j] = true
			}
		}
	}
	g, err := s.scaled(values, masks)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, L)
	for l := range L {
		out[l] = make([]float64, s.d)
		for j := range s.d {
			out[l][j] = sumSteps(g[l][l*m*s.d:(l+1)*m*s.d], j, s.d) * float64(s.clean[l][j]) / float64(m)
		}
	}
	return out, nil
}

// score fills each path's joint attribution scores.
func (s *search) score(paths []Path) error {
	ns := make([][]int, len(paths))
	for p := range paths {
		ns[p] = paths[p].Neurons
	}
	code, paper, err := s.jas(ns)
	for p := range paths {
		if err == nil {
			paths[p].Code, paths[p].Paper = code[p], paper[p]
		}
	}
	return err
}

// jas is the joint attribution score, in both forms, of paths over the
// first layers (all of one length; layers above run freely): every path
// neuron scaled together, the other neurons of those layers at pos held at
// clean; one forward of m rows per path.
func (s *search) jas(paths [][]int) (code, paper []float64, err error) {
	m, L := s.steps, len(paths[0])
	values := make([][]float32, L)
	for l := range L {
		values[l] = make([]float32, len(paths)*m*s.d)
		for p, path := range paths {
			for k := range m {
				row := values[l][(p*m+k)*s.d : (p*m+k+1)*s.d]
				copy(row, s.clean[l])
				row[path[l]] *= s.alpha(k)
			}
		}
	}
	g, err := s.scaled(values, nil)
	if err != nil {
		return nil, nil, err
	}
	code, paper = make([]float64, len(paths)), make([]float64, len(paths))
	for p, path := range paths {
		var gs, xs float64
		for l, n := range path {
			gi := sumSteps(g[l][p*m*s.d:(p+1)*m*s.d], n, s.d)
			x := float64(s.clean[l][n]) / float64(m)
			gs, xs, paper[p] = gs+gi, xs+x, paper[p]+gi*x
		}
		code[p] = gs * xs
	}
	return code, paper, nil
}

// influence fills each path's deactivated, kept and enhanced
// probabilities, and returns the probability with every MLP neuron at pos
// zeroed; one forward: three rows per path and a last row with everything
// off. Each edit scales the value the forward computes (the layers above
// see the edited ones below), as the authors' x[:, 0, n] = 0 and *= 2.
func (s *search) influence(paths []Path) (float64, error) {
	rows := 3*len(paths) + 1
	var ivs []engine.Intervention
	for l, h := range s.hooks {
		scale := make([]float32, rows*s.d)
		for i := range scale {
			scale[i] = 1
		}
		for p, path := range paths {
			n := path.Neurons[l]
			scale[3*p*s.d+n] = 0 // deactivated: the path's neuron off
			for j := range s.d {
				if j != n {
					scale[(3*p+1)*s.d+j] = 0 // kept: every other neuron off
				}
			}
			scale[(3*p+2)*s.d+n] = 2 // enhanced: the path's neuron doubled
		}
		for j := range s.d {
			scale[(rows-1)*s.d+j] = 0
		}
		ivs = append(ivs, s.scaleAtPos(h, scale))
	}
	req := s.in.request(rows)
	req.Interventions = ivs
	res, err := s.m.Run(req)
	if err != nil {
		return 0, err
	}
	s.forwards++
	for p := range paths {
		paths[p].Deactivated = s.probAt(res.Logits, 3*p)
		paths[p].Kept = s.probAt(res.Logits, 3*p+1)
		paths[p].Enhanced = s.probAt(res.Logits, 3*p+2)
	}
	return s.probAt(res.Logits, rows-1), nil
}

func argmax[T float32 | float64](v []T) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
