#!/usr/bin/env python3
"""Training throughput: glia train against PyTorch on the same GPT-2-shaped model, side by side.

Both train GPT-2 (4 layers, d_model 256, 4 heads, d_mlp 1024, ctx 128, vocab 2048; no dropout; tied
embeddings) on batches of 8 x 128 random tokens with AdamW (lr 1e-3, weight decay 0.01, betas 0.9/0.999),
warm-up, and global gradient-norm clipping at 1.0. The rounds alternate (glia, torch, glia, torch, ...) so
that both see the same machine load (each round in a process of its own), and each round's figure is the steady-state rate: tokens over the
seconds between the step after warm-up and the last step (compilation and the first steps excluded).

Usage: python3 scripts/train_bench.py [--glia bin/glia] [--baseline OTHER_GLIA] [--rounds 3] [--steps 30]
--baseline adds another glia binary (an older build) to every round, for before/after figures under the
same load.
PyTorch is torch from PyPI; the script prints its version, BLAS and thread count.
Not part of CI.
"""
import argparse, json, os, subprocess, sys, tempfile, time

LAYERS, D, HEADS, DMLP, CTX, VOCAB, BATCH = 4, 256, 4, 1024, 128, 2048, 8
LR, WD, CLIP = 1e-3, 0.01, 1.0


def glia_round(binary, steps, skip):
    with tempfile.TemporaryDirectory() as out:
        cmd = [binary, "train", "--family", "gpt2", "--layers", str(LAYERS), "--d-model", str(D), "--heads", str(HEADS),
               "--d-mlp", str(DMLP), "--ctx", str(CTX), "--seq", str(CTX), "--batch", str(BATCH), "--vocab", str(VOCAB),
               "--task", "induction", "--steps", str(steps), "--warmup", "5", "--lr", str(LR), "--weight-decay", str(WD),
               "--clip", str(CLIP), "--eval-every", str(10 * steps), "--checkpoint-every", str(10 * steps),
               "--log-every", "1", "--json", "--out", os.path.join(out, "m")]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        steps_seen = {}
        for line in res.stdout.splitlines():
            rec = json.loads(line)
            if rec.get("event") == "step":
                steps_seen[rec["step"]] = (rec["tokens"], rec["seconds"])
        t0, s0 = steps_seen[skip]
        t1, s1 = steps_seen[steps]
        return (t1 - t0) / (s1 - s0)


def torch_round(steps, skip):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=LAYERS, n_embd=D, n_head=HEADS, n_inner=DMLP, n_positions=CTX, vocab_size=VOCAB,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True)
    model = GPT2LMHeadModel(cfg)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "wte" not in n and "wpe" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "wte" not in n and "wpe" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.999))
    g = torch.Generator().manual_seed(1)
    t_start = None
    for step in range(1, steps + 1):
        ids = torch.randint(1, VOCAB, (BATCH, CTX + 1), generator=g)
        for pg in opt.param_groups:
            pg["lr"] = LR * min(1.0, step / 5)
        out = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(out.logits.reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        float(loss)
        if step == skip:
            t_start = time.perf_counter()
    return (steps - skip) * BATCH * CTX / (time.perf_counter() - t_start)


def torch_child(steps, skip):
    """A torch round in a process of its own, as glia's are: a parent that keeps torch loaded keeps its
    OpenMP threads spinning for a while after each round, on the cores the next glia round needs."""
    out = subprocess.run([sys.executable, __file__, "--torch-child", "--steps", str(steps), "--skip", str(skip)],
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--glia", default="bin/glia")
    ap.add_argument("--baseline", default="", help="another glia binary, timed in the same rounds")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--skip", type=int, default=5, help="steps excluded from the rate (compilation, warm-up)")
    a = ap.parse_args()
    if a.torch_child:
        print(torch_round(a.steps, a.skip))
        return 0
    import torch
    cfgtext = torch.__config__.show()
    blas = "MKL" if "BLAS_INFO=mkl" in cfgtext else ("OpenBLAS" if "openblas" in cfgtext.lower() else "unknown")
    print(f"torch {torch.__version__}, BLAS {blas}, {torch.get_num_threads()} threads; {os.cpu_count()} CPUs")
    print(f"model: gpt2 {LAYERS} layers, d_model {D}, {HEADS} heads, d_mlp {DMLP}, ctx {CTX}, vocab {VOCAB}; batch {BATCH}x{CTX}")
    gs, ts, bs = [], [], []
    for r in range(a.rounds):
        if a.baseline:
            bs.append(glia_round(a.baseline, a.steps, a.skip))
        gs.append(glia_round(a.glia, a.steps, a.skip))
        ts.append(torch_child(a.steps, a.skip))
        base = f"   baseline {bs[-1]:8.0f} tokens/s ({bs[-1] / ts[-1]:.2f})" if a.baseline else ""
        print(f"round {r + 1}: glia {gs[-1]:8.0f} tokens/s   torch {ts[-1]:8.0f} tokens/s   ratio {gs[-1] / ts[-1]:.2f}{base}", flush=True)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    gm, tm = med(gs), med(ts)
    print(f"median: glia {gm:.0f} tokens/s, torch {tm:.0f} tokens/s, glia/torch = {gm / tm:.2f}")
    if a.baseline:
        bm = med(bs)
        print(f"median baseline: {bm:.0f} tokens/s, baseline/torch = {bm / tm:.2f}, glia/baseline = {gm / bm:.2f}")

if __name__ == "__main__":
    sys.exit(main())
