#!/usr/bin/env python3
"""Write a GPT-2-shaped Hugging Face directory of random weights (numpy only).

    python3 scripts/make_gpt2_shaped.py OUT_DIR [--layers 12 --d-model 768 --heads 12 --vocab 50257 --ctx 1024 --seed 0]

The defaults are GPT-2 small's shape (124M parameters, a 498 MB model.safetensors).
Matrices are N(0, 0.02^2); layer-norm gains 1 + N(0, 0.1^2) and every bias
N(0, 0.02^2), so that a reader that drops a bias or a gain is caught. No
tokenizer: drive it with token ids. Used by scripts/python_overhead.py and
scripts/tl_parity.py.
"""

import argparse
import json
import struct
from pathlib import Path

import numpy as np


def tensors(layers, d, heads, vocab, ctx, seed):
    rng = np.random.default_rng(seed)
    mat = lambda *s: rng.normal(0, 0.02, s).astype(np.float32)
    gain = lambda n: (1 + rng.normal(0, 0.1, n)).astype(np.float32)
    t = {"transformer.wte.weight": mat(vocab, d), "transformer.wpe.weight": mat(ctx, d)}
    for i in range(layers):
        p = f"transformer.h.{i}."
        t.update({
            p + "ln_1.weight": gain(d), p + "ln_1.bias": mat(d),
            p + "attn.c_attn.weight": mat(d, 3 * d), p + "attn.c_attn.bias": mat(3 * d),
            p + "attn.c_proj.weight": mat(d, d), p + "attn.c_proj.bias": mat(d),
            p + "ln_2.weight": gain(d), p + "ln_2.bias": mat(d),
            p + "mlp.c_fc.weight": mat(d, 4 * d), p + "mlp.c_fc.bias": mat(4 * d),
            p + "mlp.c_proj.weight": mat(4 * d, d), p + "mlp.c_proj.bias": mat(d),
        })
    t["transformer.ln_f.weight"], t["transformer.ln_f.bias"] = gain(d), mat(d)
    return t


def write_safetensors(path, ts):
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, a in ts.items():
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for a in ts.values():
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--d-model", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--ctx", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
        "n_embd": a.d_model, "n_head": a.heads, "n_layer": a.layers, "n_positions": a.ctx, "n_inner": None,
        "vocab_size": a.vocab, "layer_norm_epsilon": 1e-5, "bos_token_id": a.vocab - 1, "eos_token_id": a.vocab - 1,
        "tie_word_embeddings": True, "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False, "attn_pdrop": 0, "embd_pdrop": 0, "resid_pdrop": 0, "dtype": "float32",
    }
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    write_safetensors(out / "model.safetensors", tensors(a.layers, a.d_model, a.heads, a.vocab, a.ctx, a.seed))
    print(f"wrote {out}: GPT-2-shaped, {a.layers} layers, d_model {a.d_model}, vocab {a.vocab}")


if __name__ == "__main__":
    main()
