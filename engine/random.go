package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/glia-dev/glia/arch"
)

// RandomSource is a format.TensorSource of random weights with the shapes a
// family declares: N(0, 0.02²) matrices, unit norm gains, zero biases. Used
// by benchmarks and tests to build models of any size without a file.
type RandomSource struct {
	specs map[string]arch.WeightSpec
	names []string
	seed  uint64
}

// NewRandomSource makes random weights for the family the config describes.
func NewRandomSource(cfg *arch.Config, seed uint64) (*RandomSource, error) {
	fam, err := arch.New(cfg)
	if err != nil {
		return nil, err
	}
	r := &RandomSource{specs: map[string]arch.WeightSpec{}, seed: seed}
	for _, s := range fam.Weights() {
		r.specs[s.Name] = s
		r.names = append(r.names, s.Name)
	}
	slices.Sort(r.names)
	return r, nil
}

// RandomModel builds a model of random weights from a config map.
func RandomModel(name string, config map[string]any, seed uint64) (*Model, error) {
	cfg := arch.NewConfig(name, config)
	src, err := NewRandomSource(cfg, seed)
	if err != nil {
		return nil, err
	}
	return FromSource(name, cfg, src)
}

func (r *RandomSource) Names() []string { return slices.Clone(r.names) }

func (r *RandomSource) Shape(name string) ([]int, bool) {
	s, ok := r.specs[name]
	return s.Shape, ok
}

func (r *RandomSource) Float32(name string) ([]float32, error) {
	s, ok := r.specs[name]
	if !ok {
		return nil, fmt.Errorf("random: no tensor %q", name)
	}
	n := 1
	for _, d := range s.Shape {
		n *= d
	}
	out := make([]float32, n)
	switch {
	case strings.HasSuffix(name, ".bias"):
	case len(s.Shape) == 1:
		for i := range out {
			out[i] = 1
		}
	default:
		h := uint64(0)
		for _, c := range name {
			h = h*131 + uint64(c)
		}
		rng := rand.New(rand.NewPCG(r.seed, h))
		for i := range out {
			out[i] = float32(rng.NormFloat64() * 0.02)
		}
	}
	return out, nil
}

func (r *RandomSource) Close() error { return nil }
