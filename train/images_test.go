package train

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/glia-dev/glia/engine"
)

// TestImageClassification trains both image families on a task with a known
// answer (is the bright bar in the left or the right half of an 8×8
// image?) through the language models' training path, and checks that the
// written model classifies held-out images perfectly.
func TestImageClassification(t *testing.T) {
	shape := [3]int{1, 8, 8}
	r := rand.New(rand.NewPCG(1, 2))
	draw := func(n int) ([][]float32, []int) {
		var xs [][]float32
		var ys []int
		for range n {
			x := make([]float32, 64)
			for i := range x {
				x[i] = 0.2 * r.Float32()
			}
			y := r.IntN(2)
			col := r.IntN(4) + 4*y
			for row := range 8 {
				x[row*8+col] = 1
			}
			xs, ys = append(xs, x), append(ys, y)
		}
		return xs, ys
	}
	task := &Images{Name: "bars", Shape: shape, Classes: 2, Batch: 16, Seed: 3}
	task.TrainX, task.TrainY = draw(256)
	task.TestX, task.TestY = draw(64)
	for _, family := range []string{"cnn", "vit"} {
		t.Run(family, func(t *testing.T) {
			cfg, err := VisionConfig(family, shape, 2, 1, 8, 2, 16, 4)
			if err != nil {
				t.Fatal(err)
			}
			h := DefaultHyper()
			h.Steps, h.Warmup, h.LR = 60, 5, 1e-2
			res, err := Run(context.Background(), cfg, task, Options{Hyper: h, Seed: 1, Out: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			m, err := engine.Load(res.Dir)
			if err != nil {
				t.Fatal(err)
			}
			_, acc, err := Accuracy(m, task.TestX, task.TestY)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: loss %.4f, held-out accuracy %.3f (Evaluate) %.3f (reloaded)", family, res.Loss, res.Eval.Accuracy, acc)
			if acc != 1 || res.Eval.Accuracy != 1 {
				t.Errorf("held-out accuracy %.3f (reloaded), %.3f (during training); want 1", acc, res.Eval.Accuracy)
			}
		})
	}
}
