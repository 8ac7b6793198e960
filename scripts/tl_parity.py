#!/usr/bin/env python3
"""glia's run_with_cache against TransformerLens's HookedTransformer on the
same GPT-2-shaped weights, hook name for hook name (issue 22). Not run by CI.

    go build -o bin/glia ./cmd/glia
    python3 scripts/make_gpt2_shaped.py /tmp/gpt2s                 # or any GPT-2 HF directory
    GLIA_BIN=bin/glia /work/anchors/bin/python scripts/tl_parity.py /tmp/gpt2s [--batch 2 --tokens 64 --tol 1e-4]

Needs torch, transformers and transformer-lens. The HookedTransformer is
built offline from the directory's config (no hub download) and its weights
converted by TransformerLens's own convert_gpt2_weights, with processing off
(no LayerNorm folding, no centring, no value-bias folding: what
from_pretrained_no_processing gives). Both run in float32 on the CPU on the
same token ids; every hook both have is compared, and the hooks only one
side has are listed. Exit status 1 when a difference exceeds --tol.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import GPT2LMHeadModel
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformer_lens.pretrained.weight_conversions.gpt2 import convert_gpt2_weights

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import glia  # noqa: E402


def hooked_transformer(path):
    hf = json.loads((Path(path) / "config.json").read_text())
    cfg = HookedTransformerConfig(
        d_model=hf["n_embd"], d_head=hf["n_embd"] // hf["n_head"], n_heads=hf["n_head"], n_layers=hf["n_layer"],
        d_mlp=hf.get("n_inner") or 4 * hf["n_embd"], d_vocab=hf["vocab_size"], n_ctx=hf["n_positions"],
        act_fn=hf.get("activation_function", "gelu_new"), normalization_type="LN", eps=hf.get("layer_norm_epsilon", 1e-5),
        positional_embedding_type="standard", original_architecture="GPT2LMHeadModel", dtype=torch.float32, device="cpu",
        default_prepend_bos=False,
    )
    model = HookedTransformer(cfg)
    state = convert_gpt2_weights(GPT2LMHeadModel.from_pretrained(path, torch_dtype=torch.float32), cfg)
    model.load_and_process_state_dict(state, fold_ln=False, center_writing_weights=False, center_unembed=False,
                                      fold_value_biases=False, refactor_factored_attn_matrices=False)
    return model.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", help="a GPT-2 Hugging Face directory (config.json, model.safetensors)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    tl = hooked_transformer(a.model)
    ids = np.random.default_rng(1).integers(0, tl.cfg.d_vocab - 1, (a.batch, a.tokens))
    tl_logits, tl_cache = tl.run_with_cache(torch.tensor(ids))
    with glia.Model.load(a.model, extra_args=["--max-cache-bytes", str(4 << 30), "--max-prompt-tokens", str(a.tokens)]) as g:
        logits, cache = g.run_with_cache(ids)  # every hook
    rows = [("logits", float(np.max(np.abs(logits - tl_logits.numpy()))), float(np.max(np.abs(tl_logits.numpy()))))]
    tl_names = set(tl_cache.keys())
    for name in [n for n in cache if n in tl_names]:  # glia's forward order
        want = tl_cache[name].numpy()
        got = cache[name]
        if got.shape != want.shape:
            rows.append((name + f" (shape {got.shape} vs {want.shape})", float("inf"), 0.0))
            continue
        note = ""
        if name.endswith(".hook_normalized"):
            # glia records a norm's output (gain and bias applied); TransformerLens
            # records (x - mean) / scale before them when LayerNorm is not folded.
            ln = tl.get_submodule(name.rsplit(".", 1)[0])
            want = want * ln.w.numpy() + ln.b.numpy()
            note = "  (TransformerLens's value x w + b)"
        if name.endswith("attn.hook_attn_scores"):
            # Masked (future) keys: -inf in TransformerLens, a finite fill in glia.
            masked = ~np.isfinite(want)
            note = f"  (unmasked entries; glia's masked ones are {np.unique(got[masked])[:3]})"
            got, want = got[~masked], want[~masked]
        rows.append((name + note, float(np.max(np.abs(got - want))), float(np.max(np.abs(want)))))
    worst = max(d for _, d, _ in rows)
    rel = max(d / max(scale, 1.0) for _, d, scale in rows)
    for name, d, scale in rows:
        print(f"{d:10.3g}  (max |value| {scale:9.3g})  {name}{'  OVER' if d > a.tol else ''}")
    only_glia = sorted(set(cache) - set(tl_cache.keys()))
    only_tl = sorted(set(tl_cache.keys()) - set(cache))
    print(f"\n{len(rows) - 1} hooks compared (+ logits), {a.batch}x{a.tokens} tokens; max |difference| {worst:.3g} (tolerance {a.tol:g}); max |difference| / max(1, max |value|) {rel:.3g}")
    print(f"only in glia ({len(only_glia)}): {' '.join(only_glia) or '-'}")
    print(f"only in TransformerLens ({len(only_tl)}): {' '.join(only_tl) or '-'}")
    sys.exit(0 if worst <= a.tol else 1)


if __name__ == "__main__":
    main()
