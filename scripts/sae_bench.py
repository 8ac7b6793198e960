"""TopK SAE training throughput of SAELens on the shape of glia's
BenchmarkTopKTrain (sae/bench_test.go): d_in 256, d_sae 2048, k 32, batch
2048, Adam with the gradient clip SAELens's trainer applies, on the CPU
with as many threads as Go uses. Not run by CI.

Usage: /work/anchors/bin/python scripts/sae_bench.py [threads] [steps]
Compare with: GOEXPERIMENT=simd go test ./sae -run X -bench TopKTrain
"""
import sys
import time

import torch
from sae_lens.saes.sae import TrainStepInput
from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
torch.set_num_threads(threads)
torch.manual_seed(0)
d_in, d_sae, k, batch = 256, 2048, 32, 2048
sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=k))
opt = torch.optim.Adam(sae.parameters(), lr=3e-4, betas=(0.9, 0.999))
x = torch.randn(batch, d_in)
dead = torch.zeros(d_sae, dtype=torch.bool)


def step():
    out = sae.training_forward_pass(TrainStepInput(sae_in=x, coefficients={}, dead_neuron_mask=dead, n_training_steps=0, is_logging_step=False))
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
    opt.step()
    opt.zero_grad()


step()
t = time.perf_counter()
for _ in range(steps):
    step()
el = time.perf_counter() - t
print(f"SAELens TopK train: {steps * batch / el:.0f} vectors/s ({el / steps * 1e3:.1f} ms/step, torch {torch.__version__}, {threads} threads)")
