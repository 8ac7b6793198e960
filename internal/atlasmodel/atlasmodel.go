// Package atlasmodel adapts an engine.Model to atlas.Model, for the CLI,
// the server and tests that build atlases with real models.
package atlasmodel

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/hook"
	"github.com/gomlx/compute/dtypes"
)

var _ atlas.Model = (*Model)(nil)

// Model adapts an engine model to what the atlas needs.
type Model struct {
	m     *engine.Model
	once  sync.Once
	hooks []engine.HookInfo
	err   error
}

// New wraps m; hook shapes are traced once, on first use.
func New(m *engine.Model) *Model { return &Model{m: m} }

// Engine returns the wrapped model.
func (a *Model) Engine() *engine.Model { return a.m }

func (a *Model) trace() ([]engine.HookInfo, error) {
	a.once.Do(func() { a.hooks, a.err = a.m.Hooks(2) })
	return a.hooks, a.err
}

// Fingerprint and Name carry the compute dtype when it is not float32: an
// atlas recorded in bf16 has other activations, so --resume must not mix
// the two (float32 atlases keep the plain fingerprint).
func (a *Model) Fingerprint() string { return a.m.Fingerprint() + a.dtypeSuffix("/") }
func (a *Model) Name() string        { return a.m.Name + a.dtypeSuffix(" ") }
func (a *Model) MaxContext() int     { return a.m.Dims().MaxCtx }

func (a *Model) dtypeSuffix(sep string) string {
	if dt := a.m.DType(); dt != dtypes.Float32 {
		return sep + engine.DTypeName(dt)
	}
	return ""
}

func (a *Model) MatchHooks(pattern string) ([]string, error) {
	hs, err := a.trace()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range hs {
		if hook.Match(pattern, h.Name) {
			out = append(out, h.Name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no hook point of %s matches %q (see glia inspect)", a.m.Name, pattern)
	}
	return out, nil
}

func (a *Model) HookWidth(name string) (int, error) {
	hs, err := a.trace()
	if err != nil {
		return 0, err
	}
	for _, h := range hs {
		if h.Name == name {
			return h.Shape[len(h.Shape)-1], nil
		}
	}
	return 0, fmt.Errorf("no hook point %q in %s", name, a.m.Name)
}

func (a *Model) Forward(ids [][]int32, hooks []string) (map[string][]float32, error) {
	res, err := a.m.Run(engine.Request{IDs: ids, Hooks: hooks, NoLogits: true})
	if err != nil {
		return nil, err
	}
	out := make(map[string][]float32, len(hooks))
	for _, h := range hooks {
		out[h] = res.Acts[h].Data
	}
	return out, nil
}

func (a *Model) Encode(text string) []int32 {
	if a.m.Tokenizer == nil {
		return nil
	}
	ids := a.m.Tokenizer.Encode(text, false)
	out := make([]int32, len(ids))
	for i, v := range ids {
		out[i] = int32(v)
	}
	return out
}

func (a *Model) BOS() int32 {
	if a.m.Tokenizer == nil {
		return -1
	}
	return int32(a.m.Tokenizer.BOS())
}

func (a *Model) TokenString(id int32) string {
	if a.m.Tokenizer == nil {
		return "#" + strconv.Itoa(int(id))
	}
	return a.m.Tokenizer.TokenString(int(id))
}
