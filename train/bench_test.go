package train

import (
	"testing"

	"github.com/glia-dev/glia/engine"
)

// BenchmarkTrainStepGPT2 is one AdamW step of the GPT-2-shaped model that
// scripts/train_bench.py trains against PyTorch (4 layers, d_model 256,
// ctx 128, vocab 2048, batch 8), with glia's CPU kernels as the CLI runs.
func BenchmarkTrainStepGPT2(b *testing.B) {
	if err := engine.UseCPUKernels(true); err != nil {
		b.Skip(err)
	}
	s := Spec{Family: "gpt2", Layers: 4, DModel: 256, Heads: 4, DMLP: 1024, Ctx: 128, Vocab: 2048, BOS: 0, EOS: -1}
	cfg, err := s.Config()
	if err != nil {
		b.Fatal(err)
	}
	m, err := NewModel("bench", cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := NewTrainer(m, Hyper{LR: 1e-3, Warmup: 5, Steps: 1000, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Clip: 1, MinLRFrac: 0.1})
	if err != nil {
		b.Fatal(err)
	}
	task := &Induction{Seq: 128, Batch: 8, VocabSize: 2048, Seed: 1}
	if _, err := tr.TrainStep(task.Train(0)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.TrainStep(task.Train(i + 1)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(8*128*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
