// Package archtest holds what the family tests share: an in-memory
// checkpoint of random weights, a model built from it, and the reference
// arithmetic the tests check hooks against. It is imported only by tests.
package archtest

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/engine"
)

// Tensor is one weight of a Source.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Source is an in-memory checkpoint (a format.TensorSource). Tests may set or
// replace weights by hand before building a model with FromSource.
type Source map[string]Tensor

func (s Source) Names() []string {
	var n []string
	for k := range s {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}
func (s Source) Shape(n string) ([]int, bool)        { t, ok := s[n]; return t.Shape, ok }
func (s Source) Float32(n string) ([]float32, error) { return s[n].Data, nil }
func (s Source) Close() error                        { return nil }

// RandomSource makes N(0, 0.5²) weights, from a fixed seed, for every
// weight the family of config c declares. Unlike engine.NewRandomSource its
// norm gains and biases are random too, so tests exercise them.
func RandomSource(t testing.TB, c map[string]any) Source {
	t.Helper()
	fam, err := arch.New(arch.NewConfig("test", c))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	src := Source{}
	for _, s := range fam.Weights() {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(rng.NormFloat64() * 0.5)
		}
		src[s.Name] = Tensor{s.Shape, data}
	}
	return src
}

// FromSource builds a model of config c from src.
func FromSource(t testing.TB, c map[string]any, src Source) *engine.Model {
	t.Helper()
	m, err := engine.FromSource("test", arch.NewConfig("test", c), src)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Load builds a model of random weights for config c.
func Load(t testing.TB, c map[string]any) (*engine.Model, Source) {
	t.Helper()
	src := RandomSource(t, c)
	return FromSource(t, c, src), src
}

// IDs is the batch of token ids Run feeds a model.
var IDs = [][]int32{{3, 14, 15, 9, 26, 5, 35, 8, 9, 7}}

// Run runs m on IDs, recording hooks.
func Run(t testing.TB, m *engine.Model, hooks ...string) *engine.Result {
	t.Helper()
	res, err := m.Run(engine.Request{IDs: IDs, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// HookNames lists the hooks m offers for a sequence as long as IDs[0].
func HookNames(t testing.TB, m *engine.Model) []string {
	t.Helper()
	hooks, err := m.Hooks(len(IDs[0]))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range hooks {
		names = append(names, h.Name)
	}
	return names
}

// CloseTo fails t unless got and want agree to a relative 1e-4.
func CloseTo(t testing.TB, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > 1e-4*math.Max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

// Add is a + b, elementwise.
func Add(a, b []float32) []float32 {
	out := make([]float32, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}

// Linear is x·Wᵀ + b over rows of x, for W [out, in] (rows r0..r0+n of W).
func Linear(x []float32, w Tensor, b []float32, r0, n int) []float32 {
	in := w.Shape[1]
	rows := len(x) / in
	out := make([]float32, rows*n)
	for r := range rows {
		for o := range n {
			s := 0.0
			if b != nil {
				s = float64(b[r0+o])
			}
			for j := range in {
				s += float64(x[r*in+j]) * float64(w.Data[(r0+o)*in+j])
			}
			out[r*n+o] = float32(s)
		}
	}
	return out
}
