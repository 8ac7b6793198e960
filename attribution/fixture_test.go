package attribution

import (
	"os"
	"path"
	"testing"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/internal/testenv"
)

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
	if spec == "stories260K" {
		spec = ""
	}
	return testenv.Model(t, spec)
}

func prompt(m *engine.Model, n int) []int32 { return testenv.Prompt(m, n) }
