#!/usr/bin/env python3
"""Hugging Face transformers side of glia's GPU benchmark.

Builds random-weight models from configs (no network, no checkpoint), runs
eager attention, caches every MLP down_proj input (glia's mlp.hook_post)
with forward pre-hooks, and times forwards at the same batch x seq as
`glia bench`. Prints one JSON object per line:

  {"shape": "gpt2-small", "dtype": "bf16", "tokens_per_s": ..., ...}

fp32 runs with torch.backends.cuda.matmul.allow_tf32 = False (and cuDNN's
off), as glia's --device cuda does by default.

Usage: python3 scripts/hf_bench.py [--shape gpt2-small|llama-3.2-1b|all]
       [--dtype f32|bf16|all] [--batch 16] [--seq 512] [--iters 5] [--to-host]
"""
import argparse
import json
import sys
import time

import torch
import transformers


def config(shape, seq):
    if shape == "gpt2-small":
        return transformers.GPT2Config(
            n_layer=12, n_embd=768, n_head=12, n_inner=3072, vocab_size=50257,
            n_positions=max(1024, seq), activation_function="gelu_new")
    if shape == "llama-3.2-1b":
        return transformers.LlamaConfig(
            num_hidden_layers=16, hidden_size=2048, intermediate_size=8192,
            num_attention_heads=32, num_key_value_heads=8, head_dim=64,
            vocab_size=128256, max_position_embeddings=131072, rms_norm_eps=1e-5,
            hidden_act="silu", tie_word_embeddings=True, rope_theta=500000.0,
            rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
    raise SystemExit(f"unknown shape {shape}")


def mlp_out_modules(model, shape):
    """The modules whose input is glia's blocks.{l}.mlp.hook_post."""
    if shape == "gpt2-small":
        return [b.mlp.c_proj for b in model.transformer.h]
    return [l.mlp.down_proj for l in model.model.layers]


def bench(shape, dtype, batch, seq, iters, to_host):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dt = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype]
    torch.manual_seed(0)
    cfg = config(shape, seq)
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    model = model.to(dtype=dt).eval()
    cache = {}

    def hook(i):
        def fn(_module, args):
            x = args[0].detach()
            cache[i] = x.to("cpu") if to_host else x
        return fn

    handles = [m.register_forward_pre_hook(hook(i)) for i, m in enumerate(mlp_out_modules(model, shape))]
    vocab = cfg.vocab_size
    ids = (torch.arange(batch, device="cuda")[:, None] * 7919 + torch.arange(seq, device="cuda")[None, :] * 104729) % vocab

    def forward():
        cache.clear()
        with torch.inference_mode():
            # glia bench computes no logits by default: run the base model.
            base = model.transformer if shape == "gpt2-small" else model.model
            base(input_ids=ids, use_cache=False)
        torch.cuda.synchronize()

    t0 = time.perf_counter()
    forward()
    first = time.perf_counter() - t0
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        forward()
        times.append(time.perf_counter() - t0)
    for h in handles:
        h.remove()
    mean = sum(times) / len(times)
    out = {"impl": "transformers-eager", "shape": shape, "dtype": dtype, "batch": batch, "seq": seq,
           "hooks_cached": len(cache), "hooks_to_host": to_host, "tf32": False,
           "first_run_s": first, "mean_s": mean, "best_s": min(times),
           "tokens_per_s": batch * seq / mean, "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30,
           "torch": torch.__version__, "transformers": transformers.__version__,
           "gpu": torch.cuda.get_device_name(0)}
    del model, cache
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", default="all")
    p.add_argument("--dtype", default="all")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--to-host", action="store_true", help="copy each cached activation to host memory, as glia's Result does")
    a = p.parse_args()
    shapes = ["gpt2-small", "llama-3.2-1b"] if a.shape == "all" else [a.shape]
    dtypes = ["f32", "bf16"] if a.dtype == "all" else [a.dtype]
    rc = 0
    for s in shapes:
        for d in dtypes:
            try:
                print(json.dumps(bench(s, d, a.batch, a.seq, a.iters, a.to_host)), flush=True)
            except Exception as e:  # keep going: one failure should not hide the other runs
                print(json.dumps({"impl": "transformers-eager", "shape": s, "dtype": d, "error": repr(e)}), flush=True)
                rc = 1
    sys.exit(rc)


if __name__ == "__main__":
    main()
