package intervene

import (
	"math"
	"testing"

	"github.com/glia-dev/glia/engine"
)

func TestMeanAblationSetsTheMean(t *testing.T) {
	m := fixture(t, "gpt2")
	h := "blocks.0.mlp.hook_post"
	rows := [][]int32{{1, 2, 3, 4, 5}, {9, 8, 7}}
	means, err := HookMeans(m, rows, []string{h}, 1)
	if err != nil {
		t.Fatal(err)
	}
	// By hand: every real position of both rows.
	var sum []float64
	n := 0
	for _, r := range rows {
		a := run(t, m, [][]int32{r}, []string{h}).Acts[h]
		w := a.Shape[2]
		if sum == nil {
			sum = make([]float64, w)
		}
		for i, v := range a.Data {
			sum[i%w] += float64(v)
		}
		n += len(r)
	}
	for i, v := range means[h] {
		if math.Abs(float64(v)-sum[i]/float64(n)) > 1e-5 {
			t.Fatalf("mean[%d] = %g, by hand %g", i, v, sum[i]/float64(n))
		}
	}
	s, _ := Parse(h + "[:,3:5]=mean")
	iv, err := s.Compile(m, Options{Means: &FixedMeans{Source: "test", Means: means}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Run(engine.Request{IDs: [][]int32{{4, 4, 4}}, Hooks: []string{h}, Interventions: []engine.Intervention{iv}})
	if err != nil {
		t.Fatal(err)
	}
	a := r.Acts[h]
	w := a.Shape[2]
	for p := range 3 {
		for u := 3; u < 5; u++ {
			if a.Data[p*w+u] != means[h][u] {
				t.Fatalf("[%d,%d] = %g, want the mean %g", p, u, a.Data[p*w+u], means[h][u])
			}
		}
	}
}

func TestLossOnCorpus(t *testing.T) {
	m := fixture(t, "llama")
	wins := [][]int32{{1, 5, 6, 7, 8, 9}, {1, 10, 11, 12}}
	noop, _ := Parse("blocks.0.mlp.hook_post*=1")
	iv, err := noop.Compile(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := LossOnCorpus(m, "x", wins, []engine.Intervention{iv}, AblateOptions{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	if e.Tokens != 8 || math.Abs(e.Delta) > 1e-6 || math.Abs(e.Before-e.After) > 1e-6 {
		t.Fatalf("no-op: %+v", e)
	}
	// The loss by hand for the first window.
	r := run(t, m, wins[:1], nil)
	var want float64
	for p := range 5 {
		want += tokenLosses(r.Logits, 0, 6, wins[0], -1)[p]
	}
	e1, _ := LossOnCorpus(m, "x", wins[:1], []engine.Intervention{iv}, AblateOptions{})
	if math.Abs(e1.Before-want/5) > 1e-5 {
		t.Fatalf("loss %g, by hand %g", e1.Before, want/5)
	}
	zero, _ := Parse("blocks.1.hook_mlp_out=0")
	iv, _ = zero.Compile(m, Options{})
	e, err = LossOnCorpus(m, "x", wins, []engine.Intervention{iv}, AblateOptions{Batch: 1, Top: 3})
	if err != nil {
		t.Fatal(err)
	}
	if e.Delta == 0 || len(e.Top) != 3 || e.StdErr <= 0 {
		t.Fatalf("zero ablation: %+v", e)
	}
}
