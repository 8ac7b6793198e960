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
