package concepts

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/intervene"
)

const udhrModel = "../testdata/trained/udhr-multilingual"

// udhrCorpora reads languages' train (for finding) and held-out (for
// verifying) splits.
func udhrCorpora(t testing.TB, m *engine.Model, langs []string, maxTokens int) (find, eval []Corpus) {
	t.Helper()
	for _, l := range langs {
		for _, split := range []string{"train", "heldout"} {
			w, err := intervene.Windows(m, intervene.Text{Paths: []string{filepath.Join("../testdata/corpora/udhr", split, l+".txt")}, Ctx: 128, MaxTokens: maxTokens})
			if err != nil {
				t.Fatal(err)
			}
			if split == "train" {
				find = append(find, Corpus{l, w})
			} else {
				eval = append(eval, Corpus{l, w})
			}
		}
	}
	return find, eval
}

func collectAll(t testing.TB, m *engine.Model, cs []Corpus, grad bool) []*Stats {
	t.Helper()
	var out []*Stats
	for _, c := range cs {
		s, err := Collect(m, c.Name, c.Windows, Options{Hooks: []string{"blocks.0.mlp.hook_post", "blocks.1.mlp.hook_post"}, Grad: grad})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestUDHRLanguageNeurons: on the multilingual known-answer model, four
// languages in four scripts (units found on the train split, losses on the
// held-out split). Ablating a language's units raises its own loss more
// than any other language's (by row); for the per-concept methods also more
// than any other language's units raise it (by column). LAPE keeps 1% of
// all units, so with four languages some get one or two units and the
// column test is noise (measured: 0.75 at 1%, 1.00 at 2%, 0.75 at 5%).
// Measured and not asserted: freq-diff 0.75 by row, 0.50 by column (eng's
// units raise rus's loss more); LNA finds no unit for rus (its 10 units are
// shared), 0.50 by row.
func TestUDHRLanguageNeurons(t *testing.T) {
	start := time.Now()
	m, err := engine.Load(udhrModel)
	if err != nil {
		t.Fatal(err)
	}
	langs := []string{"eng", "rus", "tha", "kor"}
	find, eval := udhrCorpora(t, m, langs, 3000)
	stats := collectAll(t, m, find, true)
	for _, tc := range []struct {
		method Method
		column bool
	}{{LAPE, false}, {AUROC, true}, {MeanDiff, true}, {CULNIG, true}} {
		r, err := Find(tc.method, stats, Params{})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range langs {
			if len(r.Units(l)) == 0 {
				t.Errorf("%s: no units for %s", tc.method, l)
			}
		}
		mx, err := Verify(m, r, eval, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, row := range mx.Cells {
			for j, c := range row {
				t.Logf("%s: ablate %s (%d units) on %s: %.3f → %.3f (Δ %+.3f ± %.3f)", tc.method, mx.Concepts[i], c.Units, mx.Corpora[j], c.Before, c.After, c.Delta, c.StdErr)
			}
		}
		col, row, n := mx.OwnFirst()
		if n != len(langs) || row < 1 || (tc.column && col < 1) {
			t.Errorf("%s: own ablation first by row in %.2f of %d languages, by column %.2f", tc.method, row, n, col)
		}
	}
	t.Logf("%.1fs", time.Since(start).Seconds())
}

// TestUDHRFull measures the 40-language figures (GLIA_LONG=1): run with
// -v to read them.
func TestUDHRFull(t *testing.T) {
	if os.Getenv("GLIA_LONG") == "" {
		t.Skip("set GLIA_LONG=1 to measure the 40 languages")
	}
	m, err := engine.Load(udhrModel)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("../testdata/corpora/udhr/heldout")
	if err != nil {
		t.Fatal(err)
	}
	var langs []string
	for _, e := range ents {
		langs = append(langs, e.Name()[:len(e.Name())-4])
	}
	slices.Sort(langs)
	find, eval := udhrCorpora(t, m, langs, 0)
	stats := collectAll(t, m, find, true)
	for _, meth := range Methods {
		r, err := Find(meth, stats, Params{})
		if err != nil {
			t.Fatal(err)
		}
		mx, err := Verify(m, r, eval, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		col, row, n := mx.OwnFirst()
		fmt.Printf("%-9s rows %4d  own-first by column %.3f by row %.3f of %d  layers %v\n", meth, len(r.Rows), col, row, n, LayerShares(r))
	}
}
