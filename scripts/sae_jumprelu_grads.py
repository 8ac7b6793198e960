"""Reference gradients of SAELens 6.54.12's JumpReLU training loss, for
sae.TestJumpReLUAgainstSAELens (sae/testdata/jumprelu_grads.safetensors).

One small SAE (d_in 6, d_sae 12, batch 7) with weights far from their
initial values, a dead mask, and every combination of the sparsity loss
mode (step, tanh, quadratic) and jumprelu_ste_to_input, with the
pre-activation loss on. Not run by CI:

    /work/anchors/bin/python scripts/sae_jumprelu_grads.py sae/testdata/jumprelu_grads.safetensors
"""

import sys

import torch
from safetensors.torch import save_file
from sae_lens.saes.jumprelu_sae import JumpReLUTrainingSAE, JumpReLUTrainingSAEConfig
from sae_lens.saes.sae import TrainStepInput

d_in, d_sae, B = 6, 12, 7
g = torch.Generator().manual_seed(3)
W_enc = torch.randn(d_in, d_sae, generator=g) * 0.5
W_dec = torch.randn(d_sae, d_in, generator=g) * 0.5
b_enc = torch.randn(d_sae, generator=g) * 0.5
b_dec = torch.randn(d_in, generator=g) * 0.5
threshold = 0.3 + 0.2 * torch.rand(d_sae, generator=g)
x = torch.randn(B, d_in, generator=g)
dead = torch.arange(d_sae) % 3 == 0
l0_coef, pre_act, bandwidth, target = 0.2, 0.7, 0.5, 4.0

out = {"in.W_enc": W_enc, "in.W_dec": W_dec, "in.b_enc": b_enc, "in.b_dec": b_dec,
       "in.threshold": threshold, "in.x": x, "in.dead": dead.float()}
for mode in ["step", "tanh", "quadratic"]:
    for ste in [False, True]:
        cfg = JumpReLUTrainingSAEConfig(
            d_in=d_in, d_sae=d_sae, jumprelu_bandwidth=bandwidth, jumprelu_sparsity_loss_mode=mode,
            l0_coefficient=l0_coef, pre_act_loss_coefficient=pre_act, jumprelu_ste_to_input=ste,
            target_l0=target if mode == "quadratic" else None, apply_b_dec_to_input=True)
        sae = JumpReLUTrainingSAE(cfg)
        with torch.no_grad():
            sae.W_enc.copy_(W_enc)
            sae.W_dec.copy_(W_dec)
            sae.b_enc.copy_(b_enc)
            sae.b_dec.copy_(b_dec)
            sae.threshold.copy_(threshold)
        o = sae.training_forward_pass(TrainStepInput(
            sae_in=x, coefficients={"l0": l0_coef}, dead_neuron_mask=dead, n_training_steps=0, is_logging_step=False))
        o.loss.backward()
        key = f"{mode}.{'ste' if ste else 'plain'}"
        out[key + ".loss"] = o.loss.detach().reshape(1)
        for name in ["W_enc", "W_dec", "b_enc", "b_dec", "threshold"]:
            out[f"{key}.{name}"] = getattr(sae, name).grad.detach().clone()
save_file({k: v.contiguous().float() for k, v in out.items()}, sys.argv[1],
          metadata={"source": "SAELens 6.54.12 JumpReLUTrainingSAE.training_forward_pass, torch autograd",
                    "l0_coefficient": str(l0_coef), "pre_act_loss_coefficient": str(pre_act),
                    "jumprelu_bandwidth": str(bandwidth), "target_l0": str(target)})
