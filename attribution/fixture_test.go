package attribution

import (
	"os"
	"path"
	"sync"
	"testing"

	"github.com/glia-dev/glia/engine"
)

// models holds each fixture, loaded once per test binary.
var models sync.Map

// fixtures are every testdata/hf-tiny family and stories260K ("").
func fixtures(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("../testdata/hf-tiny")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, "../testdata/hf-tiny/"+e.Name())
	}
	return append(out, "stories260K")
}

// eachFixture runs f on every fixture, one subtest each.
func eachFixture(t *testing.T, f func(t *testing.T, m *engine.Model)) {
	for _, spec := range fixtures(t) {
		t.Run(path.Base(spec), func(t *testing.T) { f(t, fixture(t, spec)) })
	}
}

func fixture(t testing.TB, spec string) *engine.Model {
	t.Helper()
	if m, ok := models.Load(spec); ok {
		return m.(*engine.Model)
	}
	load := spec
	if spec == "stories260K" {
		load = ""
	}
	m, err := engine.Load(load)
	if err != nil {
		t.Fatal(err)
	}
	models.Store(spec, m)
	return m
}

// prompt is n token ids spread over the vocabulary.
func prompt(m *engine.Model, n int) []int32 {
	v := m.Dims().Vocab
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32((i*7919 + 13) % v)
	}
	return ids
}
