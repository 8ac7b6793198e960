#!/usr/bin/env python3
"""Models written by `glia train` load in Hugging Face transformers and give glia's logits.

For each model directory (default: the committed known-answer models in testdata/trained, plus a GPT-2
trained here for a few steps so that both families are covered), the script runs the same token ids
through transformers (AutoModelForCausalLM, float32, eager attention) and through `glia run --save`,
and prints the largest absolute logit difference. Attention-only models (glia's `attn_only` config key)
have no transformers class and are reported as skipped.

Usage: python3 scripts/train_hf_parity.py [--glia bin/glia] [DIR ...]
Needs torch and transformers (PyPI). Not part of CI.
"""
import argparse, json, os, struct, subprocess, sys, tempfile

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        assert meta["dtype"] == "F32", meta["dtype"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(meta["shape"])
    return out


def glia_logits(binary, model_dir, ids):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run.safetensors")
        subprocess.run([binary, "run", "--model", model_dir, "--ids", " ".join(map(str, ids)), "--save", out],
                       check=True, capture_output=True, env=dict(os.environ, GLIA_KERNELS="glia"))
        return read_safetensors(out)["logits"]


def hf_logits(model_dir, ids):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits.numpy()


TOKENIZER_TEXTS = ["5 9 12", "  17\n4  511 ", "12 40 =", "512 7", "<bos> 3 4", "", "9999"]


def tokenizer_diffs(binary, model_dir):
    """Texts that transformers' tokenizers encodes differently from glia (with special tokens)."""
    from tokenizers import Tokenizer
    hf = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    res = subprocess.run([binary, "tokenize", "--model", model_dir, "--add-special", "--json-in"], check=True,
                         capture_output=True, text=True, input="".join(json.dumps(t) + "\n" for t in TOKENIZER_TEXTS))
    glia = [json.loads(line) for line in res.stdout.splitlines()]
    return [(t, g, hf.encode(t).ids) for t, g in zip(TOKENIZER_TEXTS, glia) if g != hf.encode(t).ids]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glia", default="bin/glia")
    ap.add_argument("dirs", nargs="*")
    a = ap.parse_args()
    dirs = a.dirs or sorted(os.path.join("testdata/trained", d) for d in os.listdir("testdata/trained"))
    tmp = tempfile.TemporaryDirectory()
    if not a.dirs:
        gpt2 = os.path.join(tmp.name, "gpt2-induction")
        subprocess.run([a.glia, "train", "--family", "gpt2", "--layers", "2", "--d-model", "32", "--heads", "2",
                        "--vocab", "64", "--seq", "16", "--batch", "8", "--steps", "20", "--warmup", "2",
                        "--json", "--out", gpt2], check=True, capture_output=True)
        dirs.append(gpt2)
    worst = 0.0
    for d in dirs:
        cfg = json.load(open(os.path.join(d, "config.json")))
        if os.path.exists(os.path.join(d, "tokenizer.json")):
            bad = tokenizer_diffs(a.glia, d)
            print(f"{d}: tokenizer: {len(TOKENIZER_TEXTS) - len(bad)}/{len(TOKENIZER_TEXTS)} texts encode alike in glia and tokenizers")
            for t, g, h in bad:
                print(f"  {t!r}: glia {g}, tokenizers {h}")
            worst = max(worst, 1.0 if bad else 0.0)
        if cfg.get("attn_only"):
            print(f"{d}: skipped (attention-only: glia's attn_only key has no transformers class)")
            continue
        n = min(16, cfg.get("max_position_embeddings") or cfg.get("n_positions") or 16)
        rng = np.random.default_rng(0)
        ids = [int(x) for x in rng.integers(0, cfg["vocab_size"], n)]
        g = glia_logits(a.glia, d, ids)
        h = hf_logits(d, ids)
        diff = float(np.abs(g - h).max())
        worst = max(worst, diff)
        print(f"{d}: {cfg['model_type']}, {n} tokens, max |glia - transformers| logit difference {diff:.2e}")
    print(f"worst {worst:.2e}")
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
