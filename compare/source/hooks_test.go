package source

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/engine"
)

// TestHookMatricesBatched: prompts of several lengths run in padded
// batches give the rows they give one at a time (within float rounding:
// the matmul shapes differ), for every pooling.
func TestHookMatricesBatched(t *testing.T) {
	m, err := engine.Load("")
	if err != nil {
		t.Fatal(err)
	}
	prompts := []string{"Once upon a time", "Lily", "The dog ran to the big park and", "She saw a bird", "Tom had a red ball", "Sun"}
	stimuli, err := PromptStimuli(m, prompts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, pool := range []string{"last", "mean", "pos:1", "pos:-2"} {
		p, err := ParsePool(pool)
		if err != nil {
			t.Fatal(err)
		}
		one, err := HookMatrices(m, "blocks.*.hook_resid_post", stimuli, p, 1)
		if err != nil {
			t.Fatal(err)
		}
		four, err := HookMatrices(m, "blocks.*.hook_resid_post", stimuli, p, 4)
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for k := range one {
			a, b := one[k].X.RawMatrix().Data, four[k].X.RawMatrix().Data
			for i := range a {
				worst = math.Max(worst, math.Abs(a[i]-b[i])/(1+math.Abs(a[i])))
			}
		}
		if worst > 1e-5 {
			t.Errorf("pool %s: batched rows differ from one-at-a-time by %g", pool, worst)
		}
	}
}

// TestWindowStimuli: a corpus cut into windows of n tokens, ids SHARD#INDEX,
// the short last window left out, at most max.
func TestWindowStimuli(t *testing.T) {
	m, err := engine.Load("")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "stories.txt")
	if err := os.WriteFile(path, []byte(strings.Repeat("Once upon a time there was a little girl named Lily. ", 20)), 0o644); err != nil {
		t.Fatal(err)
	}
	all, err := WindowStimuli(m, []string{path}, corpus.Options{}, 16, 0)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := m.Encode(strings.Repeat("Once upon a time there was a little girl named Lily. ", 20), true)
	if want := len(ids) / 16; len(all) != want {
		t.Fatalf("%d windows of 16 from %d tokens, want %d", len(all), len(ids), want)
	}
	for i, s := range all {
		if len(s.IDs) != 16 || !strings.HasSuffix(s.ID, "#"+strconv.Itoa(i)) {
			t.Fatalf("window %d: id %q, %d tokens", i, s.ID, len(s.IDs))
		}
	}
	if !slices.Equal(all[0].IDs, ids[:16]) || !slices.Equal(all[1].IDs, ids[16:32]) {
		t.Errorf("windows are not consecutive runs of the corpus's tokens")
	}
	few, err := WindowStimuli(m, []string{path}, corpus.Options{}, 16, 3)
	if err != nil || len(few) != 3 {
		t.Errorf("max 3: %d windows, %v", len(few), err)
	}
	if _, err := WindowStimuli(m, []string{path}, corpus.Options{}, 100000, 0); err == nil {
		t.Error("a window longer than the corpus gave stimuli")
	}
}
