#!/usr/bin/env python3
"""The Python client's overhead (issue 22's benchmark): all 12 mlp.hook_post of
the GPT-2-small shape for 8 x 128 tokens, logits included, through
Model.run_with_cache against `glia run --save` of the same hooks.

    go build -o bin/glia ./cmd/glia
    python3 scripts/make_gpt2_shaped.py /tmp/gpt2s      # random weights, GPT-2 small's shape
    GLIA_BIN=bin/glia python3 scripts/python_overhead.py /tmp/gpt2s [--reps 5]

Both sides pin GLIA_KERNELS=glia (the same matmul) and compute the same
tensors; the script checks that they agree. Wall time and CPU time (user +
sys: of the `glia run` child, or of the server and this Python process) are
both reported: on a machine shared with other work the wall times scatter,
the CPU times much less. `glia run --save` is timed from
process start to its file on disk (model load included, as a user runs it)
and the file read back into numpy; the client's call is timed on a loaded
model (the notebook case) and also with Model.load (its first call).
Not run by CI.
"""

import argparse
import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import glia  # noqa: E402

HOOKS = "blocks.*.mlp.hook_post"


def read_safetensors(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    return {k: np.frombuffer(raw, dtype="<f4", count=(v["data_offsets"][1] - v["data_offsets"][0]) // 4,
                             offset=8 + n + v["data_offsets"][0]).reshape(v["shape"]) for k, v in header.items()}


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def process_cpu(pid):
    """user+sys CPU seconds of a running process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", help="a GPT-2-shaped Hugging Face directory (scripts/make_gpt2_shaped.py)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    os.environ["GLIA_KERNELS"] = "glia"
    binary = glia.client._find_binary(None)
    vocab = json.loads((Path(a.model) / "config.json").read_text())["vocab_size"]
    ids = np.random.default_rng(0).integers(0, vocab - 1, (a.batch, a.tokens))
    ids_flag = ";".join(" ".join(map(str, r)) for r in ids)

    def run_cli(out):
        t0, c0, p0 = time.perf_counter(), children_cpu(), time.process_time()
        subprocess.run([binary, "run", "--model", a.model, "--ids", ids_flag, "--hook", HOOKS, "--save", str(out)],
                       check=True, capture_output=True)
        got = read_safetensors(out)
        cli_cpu.append(children_cpu() - c0 + time.process_time() - p0)
        return time.perf_counter() - t0, got

    # The two alternate, so that a busy machine slows both alike.
    cli, client, cli_cpu, client_cpu, bare, bare_cpu = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.safetensors"
        dt, want = run_cli(out)
        cli.append(dt)
        want = {k: np.array(v) for k, v in want.items()}
        size = 4 * sum(v.size for v in want.values())
        t0 = time.perf_counter()
        model = glia.Model.load(a.model, binary=binary, extra_args=["--max-cache-bytes", str(2 * size), "--max-prompt-tokens", str(a.tokens)])
        load = time.perf_counter() - t0
        with model:
            for i in range(a.reps):
                if i > 0:
                    cli.append(run_cli(out)[0])
                t0, c0, p0 = time.perf_counter(), process_cpu(model.pid), time.process_time()
                logits, cache = model.run_with_cache(ids, names_filter=HOOKS)
                client.append(time.perf_counter() - t0)
                client_cpu.append(process_cpu(model.pid) - c0 + time.process_time() - p0)
                if i == 0:
                    first = load + client[0]
                    diff = max(float(np.max(np.abs(cache[k] - want[k]))) for k in cache)
                    diff = max(diff, float(np.max(np.abs(logits - want["logits"]))))
                del logits, cache
                # Every layer with almost nothing sent back (ln_final's output, 3 MB; no
                # unembedding): a floor for the forward pass without the transfer.
                c0 = process_cpu(model.pid)
                t0 = time.perf_counter()
                model.run_with_cache(ids, names_filter="ln_final.hook_normalized", return_type=None)
                bare.append(time.perf_counter() - t0)
                bare_cpu.append(process_cpu(model.pid) - c0)

    c, k = statistics.median(cli), statistics.median(client)
    print(f"GPT-2-shaped {a.model}: {len(want) - 1} hooks + logits, {a.batch}x{a.tokens} tokens, {size / 1e6:.0f} MB of tensors; median of {a.reps}")
    print(f"glia run --save (process, load, run, write, read back): {c:.3f} s  (runs: {', '.join(f'{x:.2f}' for x in cli)})")
    print(f"client run_with_cache, model loaded:                    {k:.3f} s  (runs: {', '.join(f'{x:.2f}' for x in client)})")
    print(f"client Model.load + first call:                         {first:.3f} s")
    cc, kc = statistics.median(cli_cpu), statistics.median(client_cpu)
    print(f"12 layers, only ln_final's output sent back (no logits):{statistics.median(bare):.3f} s, {statistics.median(bare_cpu):.2f} CPU s")
    print(f"CPU seconds (user+sys; the server's and Python's for the client), medians: glia run --save {cc:.2f}, client {kc:.2f}")
    print(f"overhead ratio (client / glia run --save): wall median {k / c:.3f}, wall best {min(client) / min(cli):.3f}, CPU {kc / cc:.3f}   max |difference| {diff:g}")


if __name__ == "__main__":
    main()
