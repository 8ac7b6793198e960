#!/usr/bin/env python3
"""CPU forward throughput: glia against PyTorch eager, side by side, alternating.

Both run the GPT-2-small shape (12 layers, d_model 768, 12 heads, d_mlp 3072, vocab 50257, random
weights) on batches of 8 x 128 tokens, caching every blocks.{l}.mlp.hook_post (in PyTorch: a forward
pre-hook on each MLP's c_proj, the tensor kept) and computing no logits (glia bench's default; PyTorch runs
the base GPT2Model). Rounds alternate glia, torch, glia, torch... so both see the same machine load; each
round's figure is the mean of --iters timed forwards after a warm-up, each side in a process of its own. The
ratio is glia / torch.

The script says which BLAS torch runs: torch from PyPI bundles MKL on x86; Debian's python3-torch (1.13,
BLAS_INFO=generic) calls whatever libblas.so.3 the alternatives system selects, found here from the
libraries a matmul loads: OpenBLAS with libopenblas0-pthread, else the reference BLAS, with which the ratio
means nothing. To run against the Debian build:
  apt-get install python3-torch libopenblas0-pthread
  /usr/bin/python3 -m venv --system-site-packages deb && deb/bin/pip install transformers==4.36.2
  deb/bin/python scripts/cpu_forward_bench.py --glia bin/glia

Usage: python3 scripts/cpu_forward_bench.py [--glia bin/glia] [--rounds 3] [--iters 3] [--batch 8] [--seq 128]
Not part of CI.
"""
import argparse, json, os, subprocess, sys, time


def blas_of(torch):
    """The BLAS torch multiplies with: MKL when built in, else the shared library a matmul loads (a
    Debian python3-torch says BLAS_INFO=generic and calls whatever libblas.so.3 the alternatives system
    selects: OpenBLAS with libopenblas0-pthread, else the slow reference BLAS)."""
    cfg = torch.__config__.show()
    if "BLAS_INFO=mkl" in cfg:
        return "MKL"
    a = torch.ones(64, 64)
    (a @ a).sum().item()
    try:
        libs = {line.split()[-1] for line in open("/proc/self/maps") if "blas" in line.lower()}
    except OSError:
        libs = set()
    for lib in sorted(libs):
        if "openblas" in lib.lower():
            return "OpenBLAS (" + lib + ")"
    for lib in sorted(libs):
        if "libblas.so" in lib:
            return "reference BLAS (" + lib + "): the comparison means nothing; install libopenblas0-pthread"
    if "BLAS_INFO=" in cfg:
        return cfg.split("BLAS_INFO=")[1].split(",")[0]
    return "none found (reference BLAS?): the comparison means nothing"


def glia_round(binary, batch, seq, iters):
    out = subprocess.run([binary, "bench", "--json", "--batch", str(batch), "--seq", str(seq), "--iters", str(iters)],
                         check=True, capture_output=True, text=True).stdout
    rec = json.loads(out.strip().splitlines()[-1])
    return rec["tokens_per_s"], rec


class Torch:
    def __init__(self, batch, seq):
        import torch
        import transformers
        self.torch = torch
        torch.manual_seed(0)
        cfg = transformers.GPT2Config(n_layer=12, n_embd=768, n_head=12, n_inner=3072, vocab_size=50257,
                                      n_positions=1024, activation_function="gelu_new")
        self.model = transformers.GPT2Model(cfg).eval()
        self.model.config._attn_implementation = "eager"
        self.cache = {}
        for i, block in enumerate(self.model.h):
            block.mlp.c_proj.register_forward_pre_hook(self.hook(i))
        self.ids = (torch.arange(batch)[:, None] * 7919 + torch.arange(seq)[None, :] * 104729) % cfg.vocab_size
        self.tokens = batch * seq
        self.forward()  # warm-up

    def hook(self, i):
        def fn(_module, args):
            self.cache[i] = args[0].detach().clone()
        return fn

    def forward(self):
        self.cache.clear()
        with self.torch.inference_mode():
            self.model(input_ids=self.ids, use_cache=False)
        assert len(self.cache) == 12

    def round(self, iters):
        t0 = time.perf_counter()
        for _ in range(iters):
            self.forward()
        return self.tokens * iters / (time.perf_counter() - t0)


def torch_round(batch, seq, iters):
    """One torch round in a child process, like glia's: a parent that keeps torch loaded keeps its
    OpenMP/BLAS threads spinning for a while after each call, which took CPU from the glia round that
    followed (glia measured 10-20% slower than alone)."""
    out = subprocess.run([sys.executable, __file__, "--torch-child", "--batch", str(batch), "--seq", str(seq),
                          "--iters", str(iters)], check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--glia", default="bin/glia")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    a = ap.parse_args()
    if a.torch_child:
        print(Torch(a.batch, a.seq).round(a.iters))
        return 0
    import torch
    print(f"torch {torch.__version__}, BLAS {blas_of(torch)}, {torch.get_num_threads()} threads; {os.cpu_count()} CPUs", flush=True)
    gs, ts = [], []
    for r in range(a.rounds):
        g, rec = glia_round(a.glia, a.batch, a.seq, a.iters)
        gs.append(g)
        ts.append(torch_round(a.batch, a.seq, a.iters))
        if r == 0:
            print(f"glia: {rec.get('kernels')}; {rec.get('threads')} threads; {rec.get('pct_of_peak'):.0f}% of its measured peak", flush=True)
        print(f"round {r + 1}: glia {gs[-1]:7.1f} tokens/s   torch {ts[-1]:7.1f} tokens/s   ratio {gs[-1] / ts[-1]:.2f}", flush=True)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    print(f"median: glia {med(gs):.1f} tokens/s, torch {med(ts):.1f} tokens/s, glia/torch = {med(gs) / med(ts):.2f} (target 1.5)")


if __name__ == "__main__":
    sys.exit(main())
