package atlasmodel

import (
	"fmt"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
)

var _ atlas.ImageModel = (*Images)(nil)

// Images adapts an image model of the engine (ViT, CNN) to atlas.ImageModel.
type Images struct {
	m          *engine.Model
	shape      [3]int
	rows, cols int // a ViT's patch grid; 0 for a CNN
}

// NewImages wraps m, which must read images.
func NewImages(m *engine.Model) (*Images, error) {
	shape, ok := m.ImageShape()
	if !ok {
		return nil, fmt.Errorf("%s is not an image model (model_type %s); an image atlas needs a ViT or CNN (docs/vision.md)", m.Name, m.Config.String("model_type", "?"))
	}
	x := &Images{m: m, shape: shape}
	x.rows, x.cols, _ = m.PatchGrid()
	return x, nil
}

// Fingerprint and Name carry the compute dtype as Model's do.
func (x *Images) Fingerprint() string { return New(x.m).Fingerprint() }
func (x *Images) Name() string        { return New(x.m).Name() }
func (x *Images) ImageShape() [3]int  { return x.shape }

func (x *Images) MatchHooks(p string) ([]string, error) { return x.m.MatchHooks(p) }

func (x *Images) ImageHook(name string) (atlas.ImageHook, error) {
	shape, err := x.m.HookShape(name)
	if err != nil {
		return atlas.ImageHook{}, err
	}
	return atlas.ImageHookOf(name, shape, x.rows, x.cols)
}

func (x *Images) ForwardImages(pix []float32, batch int, hooks []string) (map[string][]float32, error) {
	return runHooks(x.m, engine.Request{Pixels: &engine.Array{Shape: []int{batch, x.shape[0], x.shape[1], x.shape[2]}, Data: pix},
		Hooks: hooks, NoLogits: true})
}
