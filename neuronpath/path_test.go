package neuronpath

import (
	"fmt"
	"math"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/intervene"
)

func load(t testing.TB, dir string) *engine.Model {
	t.Helper()
	m, err := engine.Load(dir) // "" is the embedded stories260K
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func encode(t testing.TB, m *engine.Model, text string) []int32 {
	t.Helper()
	ids, err := m.Encode(text, true)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// topToken is the model's most likely next token after ids.
func topToken(t testing.TB, m *engine.Model, ids []int32) int32 {
	t.Helper()
	r, err := m.Run(engine.Request{IDs: [][]int32{ids}})
	if err != nil {
		t.Fatal(err)
	}
	v := m.Dims().Vocab
	return int32(engine.TopTokens(r.Logits.Data[(len(ids)-1)*v:], 1)[0].ID)
}

// frozenProb is the target's probability with every MLP layer's neurons at
// pos set to their clean values, the path's scaled by a: the end points of
// the joint attribution's integration path.
func frozenProb(t *testing.T, s *search, path []int, a float32) float64 {
	t.Helper()
	var ivs []engine.Intervention
	for l, h := range s.hooks {
		v := append([]float32(nil), s.clean[l]...)
		v[path[l]] *= a
		ivs = append(ivs, s.setAtPos(h, v, nil))
	}
	req := s.in.request(1)
	req.Interventions = ivs
	r, err := s.m.Run(req)
	if err != nil {
		t.Fatal(err)
	}
	return s.probAt(r.Logits, 0)
}

// TestCompleteness: the paper form is an integrated gradient, so with
// many steps it equals F(path on) − F(path off), the other neurons held at
// their clean values; with one neuron the code form is the paper form.
func TestCompleteness(t *testing.T) {
	m := load(t, "")
	ids := encode(t, m, "Once upon a time, there was a little girl named Lily. She")
	tok := topToken(t, m, ids)
	r, err := Find(m, ids, tok, Options{Pos: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, steps := range []int{20, 200} {
		s, err := newSearch(m, tokens{ids}, len(ids)-1, len(ids), tok, Options{Steps: steps, Pos: -1})
		if err != nil {
			t.Fatal(err)
		}
		paths := []Path{{Neurons: r.Paths[0].Neurons}}
		if err := s.score(paths); err != nil {
			t.Fatal(err)
		}
		want := frozenProb(t, s, paths[0].Neurons, 1) - frozenProb(t, s, paths[0].Neurons, 0)
		if math.Abs(frozenProb(t, s, paths[0].Neurons, 1)-s.prob) > 1e-5 {
			t.Errorf("the path's end at α = 1 is not the clean run")
		}
		rel := math.Abs(paths[0].Paper-want) / math.Abs(want)
		t.Logf("%d steps: paper form %.6f, F(on) − F(off) %.6f (relative gap %.2g), code form %.6f", steps, paths[0].Paper, want, rel, paths[0].Code)
		if math.Abs(want) < 1e-3 {
			t.Fatalf("the path moves the probability by %g; the check proves nothing", want)
		}
		if steps == 200 && rel > 0.01 {
			t.Errorf("200 steps: paper form misses F(on) − F(off) by %.2g relative", rel)
		}
	}

	one := load(t, "../testdata/trained/modadd53") // one MLP layer
	ids1 := []int32{3, 11, 53}
	r1, err := Find(one, ids1, topToken(t, one, ids1), Options{Pos: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r1.Paths {
		if math.Abs(p.Code-p.Paper) > 1e-9*math.Max(1, math.Abs(p.Paper)) {
			t.Errorf("one-neuron %s path: code form %g, paper form %g", p.Method, p.Code, p.Paper)
		}
	}
}

// TestSearchConsistency: the first search step (an empty path) scores
// every layer-0 neuron by its single-neuron integrated gradient, which the
// IG baseline computes in another forward; the search picks each layer's
// best candidate; the activation baseline is each layer's largest value.
func TestSearchConsistency(t *testing.T) {
	m := load(t, "")
	ids := encode(t, m, "Tom and Sue went to the park. Tom gave the ball to")
	tok := topToken(t, m, ids)
	r, err := Find(m, ids, tok, Options{Pos: -1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSearch(m, tokens{ids}, len(ids)-1, len(ids), tok, Options{Pos: -1})
	if err != nil {
		t.Fatal(err)
	}
	igs, err := s.singleIG()
	if err != nil {
		t.Fatal(err)
	}
	for j, v := range r.Layer[0] {
		if d := math.Abs(v - igs[0][j]); d > 1e-6+1e-4*math.Abs(igs[0][j]) {
			t.Fatalf("neuron %d: search step 0 scores %g, single-neuron IG %g", j, v, igs[0][j])
		}
	}
	for l, n := range r.Paths[0].Neurons {
		for j, v := range r.Layer[l] {
			if v > r.Layer[l][n] {
				t.Errorf("layer %d: chose %d (%g) over %d (%g)", l, n, r.Layer[l][n], j, v)
			}
		}
		for j, v := range s.clean[l] {
			if v > s.clean[l][r.Paths[1].Neurons[l]] {
				t.Errorf("layer %d: activation baseline chose %d, but %d is larger", l, r.Paths[1].Neurons[l], j)
			}
		}
	}
}

// TestExact: with candidates rescored exactly, the last step's score of
// the chosen neuron is the whole path's joint attribution score, computed
// in another forward.
func TestExact(t *testing.T) {
	m := load(t, "")
	ids := encode(t, m, "The bird could not")
	tok := topToken(t, m, ids)
	for _, form := range []Form{Code, Paper} {
		r, err := Find(m, ids, tok, Options{Pos: -1, Form: form, Exact: 4})
		if err != nil {
			t.Fatal(err)
		}
		j, last := r.Paths[0], len(r.Layer)-1
		got, want := r.Layer[last][j.Neurons[last]], j.Code
		if form == Paper {
			want = j.Paper
		}
		if math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: last step scores the chosen neuron %g, the path's joint score is %g", form, got, want)
		}
		t.Logf("%s, 4 candidates rescored: path %v, JAS code %.4g paper %.4g, deactivated %.4g of %.4g", form, j.Neurons, j.Code, j.Paper, j.Deactivated, r.Prob)
	}
}

// TestInfluenceByHand: the deactivated, kept and enhanced probabilities
// equal runs of the intervention language's own specs.
func TestInfluenceByHand(t *testing.T) {
	m := load(t, "")
	ids := encode(t, m, "The cat sat on the")
	tok := topToken(t, m, ids)
	r, err := Find(m, ids, tok, Options{Pos: -1, Random: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	d := m.Dims().DMLP
	pos := len(ids) - 1
	prob := func(specs []string) float64 {
		var ivs []engine.Intervention
		for _, text := range specs {
			sp, err := intervene.Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			iv, err := sp.Compile(m, intervene.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ivs = append(ivs, iv)
		}
		res, err := m.Run(engine.Request{IDs: [][]int32{ids}, Interventions: ivs})
		if err != nil {
			t.Fatal(err)
		}
		s := &search{lT: len(ids), lpos: pos, token: tok}
		return s.probAt(res.Logits, 0)
	}
	for _, p := range r.Paths {
		var off, keep, twice []string
		for l, n := range p.Neurons {
			h := r.Hooks[l]
			off = append(off, fmt.Sprintf("%s[%d,%d]=0", h, pos, n))
			twice = append(twice, fmt.Sprintf("%s[%d,%d]*=2", h, pos, n))
			if n > 0 {
				keep = append(keep, fmt.Sprintf("%s[%d,0:%d]=0", h, pos, n))
			}
			if n+1 < d {
				keep = append(keep, fmt.Sprintf("%s[%d,%d:]=0", h, pos, n+1))
			}
		}
		if got, want := p.Deactivated, prob(off); math.Abs(got-want) > 1e-5 {
			t.Errorf("%s: deactivated %g, by hand %g", p.Method, got, want)
		}
		if got, want := p.Kept, prob(keep); math.Abs(got-want) > 1e-5 {
			t.Errorf("%s: kept %g, by hand %g", p.Method, got, want)
		}
		if got, want := p.Enhanced, prob(twice); math.Abs(got-want) > 1e-5 {
			t.Errorf("%s: enhanced %g, by hand %g", p.Method, got, want)
		}
	}
	if math.Abs(r.Paths[0].Deactivated-r.Prob) < 1e-4 {
		t.Errorf("deactivating the path leaves the probability at %g: the check proves nothing", r.Prob)
	}
}
