#!/usr/bin/env python3
"""glia's integrated gradients against Captum's on the same GPT-2-small weights.

Builds a GPT-2-small-shaped model with random weights (12 layers, d_model
768, 12 heads, vocab 50257; transformers' own initialisation, seeded),
saves it with save_pretrained into a temporary directory, and runs, on the
same random prompt of --seq tokens, in the same run:

  glia:   glia attribute ig --model DIR --ids ... --hook hook_embed
          --target #T --pos -1 --steps 50 --rule gausslegendre --save ...
  Captum: IntegratedGradients(f).attribute(inputs_embeds, baselines=0,
          n_steps=50, method="gausslegendre"), f = logits[0, -1, T] of
          transformers' GPT2LMHeadModel (eager attention) called with
          inputs_embeds, so position embeddings are added inside, as glia's
          hook_embed is the token embedding alone.

Both explain the same logit from a zero token-embedding baseline. The script
prints the largest absolute and relative difference between the two
attribution tensors [seq, 768] (the check: within --tol, 1e-4 by default),
both convergence deltas, and the wall-time ratio glia/Captum (each on this
machine's CPU; glia's time is its own "seconds", model load excluded, and the
command's wall time). Exit status 1 when the attributions differ by more
than --tol.

Not run by CI. Needs torch, captum, transformers and safetensors
(/work/anchors/bin/python) and a glia binary (--glia, default: go run).

Usage: python3 scripts/captum_ig.py [--glia ./glia] [--seq 128] [--steps 50]
       [--chunk 16] [--threads N] [--tol 1e-4]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import transformers
from captum.attr import IntegratedGradients
from safetensors.numpy import load_file


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--glia", default="", help="glia binary (default: go run ./cmd/glia, built first)")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--chunk", type=int, default=16, help="IG steps per pass, both sides (Captum's internal_batch_size)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cfg = transformers.GPT2Config(n_layer=12, n_embd=768, n_head=12, n_inner=3072, vocab_size=50257,
                                  n_positions=1024, activation_function="gelu_new")
    model = transformers.GPT2LMHeadModel(cfg)
    model.config._attn_implementation = "eager"
    model.eval()
    gen = torch.Generator().manual_seed(a.seed + 1)
    ids = torch.randint(0, cfg.vocab_size, (1, a.seq), generator=gen)
    with torch.no_grad():
        target = int(model(ids).logits[0, -1].argmax())

    glia = a.glia.split() if a.glia else None
    if glia is None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        exe = os.path.join(tempfile.gettempdir(), "glia-captum-ig")
        env = dict(os.environ, GOEXPERIMENT="simd")
        subprocess.run(["go", "build", "-o", exe, "./cmd/glia"], cwd=root, env=env, check=True)
        glia = [exe]

    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        out = os.path.join(tmp, "ig.safetensors")
        cmd = glia + ["attribute", "ig", "--model", tmp, "--ids", " ".join(map(str, ids[0].tolist())),
                      "--hook", "hook_embed", "--target", f"#{target}", "--pos", "-1",
                      "--steps", str(a.steps), "--rule", "gausslegendre", "--chunk", str(a.chunk),
                      "--save", out, "--json"]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        glia_wall = time.perf_counter() - t0
        if res.returncode != 0:
            sys.exit(f"glia failed ({res.returncode}): {res.stderr}")
        g = json.loads(res.stdout)
        ga = load_file(out)["ig.attr"][0]  # [seq, d_model]

    # Captum on the same weights and logit: IG over inputs_embeds.
    emb = model.transformer.wte(ids).detach()

    def f(x):
        return model(inputs_embeds=x).logits[:, -1, target]

    ig = IntegratedGradients(f)
    t0 = time.perf_counter()
    ca, delta = ig.attribute(emb, baselines=torch.zeros_like(emb), n_steps=a.steps, method="gausslegendre",
                             internal_batch_size=a.chunk, return_convergence_delta=True)
    captum_s = time.perf_counter() - t0
    ca = ca[0].detach().numpy()

    diff = np.abs(ga - ca)
    scale = np.abs(ca).max()
    ok = diff.max() <= a.tol
    print(json.dumps({
        "shape": "gpt2-small", "seq": a.seq, "steps": a.steps, "rule": "gausslegendre", "target": target,
        "max_abs_diff": float(diff.max()), "max_abs_attr": float(scale), "max_rel_diff": float(diff.max() / scale),
        "sum_glia": float(ga.sum()), "sum_captum": float(ca.sum()),
        "delta_glia": g["delta"], "delta_captum": float(delta.item()),
        "glia_seconds": g["seconds"], "glia_wall_seconds": glia_wall, "captum_seconds": captum_s,
        "time_ratio_glia_over_captum": g["seconds"] / captum_s, "torch_threads": torch.get_num_threads(),
        "within_tol": bool(ok), "tol": a.tol,
    }, indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
