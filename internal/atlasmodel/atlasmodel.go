// Package atlasmodel adapts an engine.Model to atlas.Model, for the CLI,
// the server and tests that build atlases with real models.
package atlasmodel

import (
	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
	"github.com/gomlx/compute/dtypes"
)

var (
	_ atlas.Model      = (*Model)(nil)
	_ atlas.HookShaper = (*Model)(nil)
)

// Model adapts an engine model to what the atlas needs.
type Model struct {
	m *engine.Model
}

// New wraps m.
func New(m *engine.Model) *Model { return &Model{m: m} }

// Engine returns the wrapped model.
func (a *Model) Engine() *engine.Model { return a.m }

// Fingerprint and Name carry the compute dtype when it is not float32: an
// atlas recorded in bf16 has other activations, so a resumed build must not
// mix the two (float32 atlases keep the plain fingerprint).
func (a *Model) Fingerprint() string { return a.m.Fingerprint() + a.dtypeSuffix("/") }
func (a *Model) Name() string        { return a.m.Name + a.dtypeSuffix(" ") }
func (a *Model) MaxContext() int     { return a.m.Dims().MaxCtx }

func (a *Model) dtypeSuffix(sep string) string {
	if dt := a.m.DType(); dt != dtypes.Float32 {
		return sep + engine.DTypeName(dt)
	}
	return ""
}

func (a *Model) MatchHooks(pattern string) ([]string, error) { return a.m.MatchHooks(pattern) }

func (a *Model) HookWidth(name string) (int, error) {
	shape, err := a.m.HookShape(name)
	if err != nil {
		return 0, err
	}
	return shape[len(shape)-1], nil
}

// HookShape is the engine's shape of a hook on one sequence of seq tokens
// (atlas.HookShaper: attention hooks get a unit per head and index).
func (a *Model) HookShape(name string, seq int) ([]int, error) { return a.m.HookShapeAt(name, seq) }

func (a *Model) Forward(ids [][]int32, hooks []string) (map[string][]float32, error) {
	return runHooks(a.m, engine.Request{IDs: ids, Hooks: hooks, NoLogits: true})
}

// runHooks runs a request and returns its hooks' values.
func runHooks(m *engine.Model, req engine.Request) (map[string][]float32, error) {
	res, err := m.Run(req)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]float32, len(req.Hooks))
	for _, h := range req.Hooks {
		out[h] = res.Acts[h].Data
	}
	return out, nil
}

// Encode is nil for a model without a tokenizer.
func (a *Model) Encode(text string) []int32 {
	ids, _ := a.m.Encode(text, false)
	return ids
}

func (a *Model) BOS() int32                  { return a.m.BOS() }
func (a *Model) TokenString(id int32) string { return a.m.TokenText(id) }
