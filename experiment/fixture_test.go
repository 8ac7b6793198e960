package experiment

import (
	"sync"
	"testing"

	"github.com/glia-dev/glia/engine"
)

// models holds each testdata/hf-tiny family, loaded once per test binary.
var models sync.Map

func fixture(t testing.TB, fam string) *engine.Model {
	t.Helper()
	if m, ok := models.Load(fam); ok {
		return m.(*engine.Model)
	}
	m, err := engine.Load("../testdata/hf-tiny/" + fam)
	if err != nil {
		t.Fatal(err)
	}
	models.Store(fam, m)
	return m
}

// run is one plain forward of ids, recording hooks.
func run(t testing.TB, m *engine.Model, ids [][]int32, hooks []string) *engine.Result {
	t.Helper()
	r, err := m.Run(engine.Request{IDs: ids, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
