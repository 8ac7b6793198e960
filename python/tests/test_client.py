"""Known-answer tests of the Python client against the glia binary.

They build nothing: .ci/run builds bin/glia and runs them with $GLIA_BIN set.
"""

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import glia

REPO = Path(__file__).resolve().parents[2]
HF_TINY = REPO / "testdata" / "hf-tiny" / "gpt2"
GLIA_BIN = os.environ.get("GLIA_BIN", "")
IDS = [0, 5, 9, 17, 3, 250]

# On AVX-512 machines each glia process races two matmul kernels at start-up
# and keeps the faster (engine/cpu/kernels/dot.go), so two processes can
# differ in the last bits. Pinning the kernel makes `glia run` and the
# server compute the same floats, which the known-answer test compares
# exactly. Both inherit this environment.
os.environ["GLIA_KERNELS"] = "glia"

pytestmark = pytest.mark.skipif(
    not (GLIA_BIN and os.access(GLIA_BIN, os.X_OK)),
    reason="$GLIA_BIN is not set to an executable glia binary (go build -o bin/glia ./cmd/glia; .ci/run does this)",
)


def read_safetensors(path):
    """name -> float32 array of a safetensors file (F32 tensors only)."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t["dtype"])
        lo, hi = t["data_offsets"]
        out[name] = np.frombuffer(data[lo:hi], dtype="<f4").reshape(t["shape"])
    return out


def run_glia(*args):
    return subprocess.run([GLIA_BIN, *args], check=True, capture_output=True, text=True).stdout


def gone(pid):
    """The process has exited (a zombie nobody reaps counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_gone(pid, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.05)
    return gone(pid)


@pytest.fixture(scope="module")
def tiny():
    with glia.Model.load(str(HF_TINY), binary=GLIA_BIN) as m:
        yield m


@pytest.fixture(scope="module")
def stories():
    with glia.Model.load(binary=GLIA_BIN) as m:  # the embedded stories260K, with a tokenizer
        yield m


def test_run_with_cache_equals_glia_run_save(tiny, tmp_path):
    out = tmp_path / "run.safetensors"
    ids = " ".join(map(str, IDS))
    run_glia("run", "--model", str(HF_TINY), "--ids", ids, "--hook", "blocks.*.mlp.hook_post", "--hook", "blocks.1.attn.hook_pattern",
         "--grad", "0,4,7", "--save", str(out))
    want = read_safetensors(out)
    logits, cache = tiny.run_with_cache(np.array([IDS]), names_filter=["blocks.*.mlp.hook_post", ("pattern", 1)], grad=(4, 7))
    assert logits.shape == (1, len(IDS), tiny.cfg["d_vocab"])
    np.testing.assert_array_equal(logits, want["logits"])
    assert sorted(cache) == ["blocks.0.mlp.hook_post", "blocks.1.attn.hook_pattern", "blocks.1.mlp.hook_post"]
    for name in cache:
        np.testing.assert_array_equal(cache[name], want[name], err_msg=name)
        np.testing.assert_array_equal(cache.grads[name], want["grad:" + name], err_msg="grad " + name)


def test_batch_equals_glia_run_save(tiny, tmp_path):
    """Sequences of one length run as one unpadded batch: glia run --ids "a;b" exactly, gradient of row 1 included."""
    rows = [IDS, [0, 7, 7, 30, 2, 9]]
    out = tmp_path / "batch.safetensors"
    run_glia("run", "--model", str(HF_TINY), "--ids", ";".join(" ".join(map(str, r)) for r in rows),
             "--hook", "blocks.*.mlp.hook_post", "--grad", "1,5,5", "--save", str(out))
    want = read_safetensors(out)
    logits, cache = tiny.run_with_cache(np.array(rows), names_filter="blocks.*.mlp.hook_post", grad=(-1, 5, 1))
    assert cache.lengths == [6, 6]
    np.testing.assert_array_equal(logits, want["logits"])
    for name in cache:
        np.testing.assert_array_equal(cache[name], want[name], err_msg=name)
        np.testing.assert_array_equal(cache.grads[name], want["grad:" + name], err_msg="grad " + name)


def test_ragged_batch_padded_right(tiny):
    """Sequences of several lengths are padded on the right: each row's real
    positions are what that sequence gives alone; JSON and safetensors
    answers agree; return_type=None leaves the logits out."""
    rows = [IDS, [0, 9], [0, 3, 3, 3]]
    names = ["blocks.*.mlp.hook_post", "blocks.1.hook_resid_post"]
    logits, cache = tiny.run_with_cache(rows, names_filter=names)
    assert cache.lengths == [6, 2, 4] and logits.shape[:2] == (3, 6)
    for b, row in enumerate(rows):
        alone_logits, alone = tiny.run_with_cache(row, names_filter=names)
        n = len(row)
        np.testing.assert_allclose(logits[b, :n], alone_logits[0], rtol=1e-5, atol=1e-5)
        for name in cache:
            np.testing.assert_allclose(cache[name][b, :n], alone[name][0], rtol=1e-5, atol=1e-5, err_msg=name)
    as_json = tiny._cache(rows, tiny._hooks(names), binary=False)
    for name in cache:
        np.testing.assert_array_equal(as_json["acts"][name], cache[name])
    none, cache2 = tiny.run_with_cache(rows, names_filter=names, return_type=None)
    assert none is None
    for name in cache:
        np.testing.assert_array_equal(cache2[name], cache[name])


def test_batch_of_prompts(stories):
    prompts = ["Once upon a time", "Lily"]
    _, cache = stories.run_with_cache(prompts, names_filter=("post", 0))
    for b, p in enumerate(prompts):
        n = stories.to_tokens(p).shape[1]
        assert cache.lengths[b] == n
        _, alone = stories.run_with_cache(p, names_filter=("post", 0))
        np.testing.assert_allclose(cache["post", 0][b, :n], alone["post", 0][0], rtol=1e-5, atol=1e-5)


def test_cache_shapes_match_glia_inspect(tiny):
    shapes = {h["Name"]: h["Shape"] for h in json.loads(run_glia("inspect", "--model", str(HF_TINY), "--json", "--seq", str(len(IDS))))["hooks"]}
    _, cache = tiny.run_with_cache(IDS)  # names_filter=None: every hook
    assert set(cache) == set(shapes)
    for name, a in cache.items():
        assert list(a.shape) == shapes[name], name
        assert a.dtype == np.float32


@pytest.mark.parametrize("key, name", [
    (("post", 0), "blocks.0.mlp.hook_post"),
    (("pre", 1), "blocks.1.mlp.hook_pre"),
    (("resid_pre", 0), "blocks.0.hook_resid_pre"),
    (("resid_post", -1), "blocks.1.hook_resid_post"),
    (("pattern", 1), "blocks.1.attn.hook_pattern"),
    (("attn_scores", 0), "blocks.0.attn.hook_attn_scores"),
    (("q", 1), "blocks.1.attn.hook_q"),
    (("z", 0), "blocks.0.attn.hook_z"),
    (("scale", 1, "ln2"), "blocks.1.ln2.hook_scale"),
    ("k1", "blocks.1.attn.hook_k"),
    ("embed", "hook_embed"),
])
def test_cache_shorthand(tiny, key, name):
    _, cache = tiny.run_with_cache(IDS, names_filter=lambda n: n == name)
    assert list(cache) == [name]
    assert cache[key] is cache[name]
    assert key in cache
    if isinstance(key, str) or key[1] >= 0:
        assert glia.get_act_name(*(key if isinstance(key, tuple) else (key,))) == name


def test_names_filter_forms(tiny):
    post = ["blocks.0.mlp.hook_post", "blocks.1.mlp.hook_post"]
    for f in ["blocks.*.mlp.hook_post", post, lambda n: n.endswith("mlp.hook_post"), [("post", 0), ("post", 1)]]:
        _, cache = tiny.run_with_cache(IDS, names_filter=f)
        assert list(cache) == post, f
    with pytest.raises(KeyError, match="not in the cache"):
        cache["resid_pre", 0]


def test_intervention_zeroes_the_hook(tiny):
    spec = "blocks.0.mlp.hook_post[:,:]=0"
    base_logits, base = tiny.run_with_cache(IDS, names_filter="blocks.0.mlp.hook_post")
    logits, cache = tiny.run_with_cache(IDS, names_filter="blocks.0.mlp.hook_post", interventions=[spec])
    assert np.abs(base["post", 0]).max() > 0
    assert not cache["post", 0].any()
    assert not np.array_equal(logits, base_logits)
    np.testing.assert_array_equal(tiny.run_with_hooks(IDS, interventions=[spec]), logits)
    with pytest.raises(glia.GliaError, match="reads a file") as e:
        tiny.run_with_hooks(IDS, interventions=["blocks.0.mlp.hook_post[:,:]=@x.npy"])
    assert e.value.status == 400


def test_tokens_and_generate(stories):
    prompt = "Once upon a time"
    toks = stories.to_tokens(prompt)
    assert toks.shape[0] == 1 and toks.dtype == np.int64
    np.testing.assert_array_equal(stories.to_tokens(prompt, prepend_bos=False), toks[:, 1:])
    assert "".join(stories.to_str_tokens(prompt, prepend_bos=False)).lstrip() == prompt  # SentencePiece adds a leading space
    assert stories.to_string(toks) == prompt
    assert stories.to_str_tokens(toks) == stories.to_str_tokens(prompt)
    # Greedy generation matches the playground's greedy continuation.
    base = stories.intervene(prompt, ["blocks.0.mlp.hook_post[:,0]*=1"], max_new=6)["base_text"]
    out = stories.generate(prompt, max_new_tokens=6)
    assert out.startswith(prompt) and len(out) > len(prompt)
    assert base and out == prompt + base, (out, base)
    ids = stories.generate(toks, max_new_tokens=3)
    assert ids.shape == (1, toks.shape[1] + 3)
    np.testing.assert_array_equal(ids[:, : toks.shape[1]], toks)


def test_connect_and_token(tiny):
    m = glia.Model.connect(tiny.url, tiny.token)
    np.testing.assert_array_equal(m(IDS), tiny(IDS))
    m.close()  # connected: leaves the server running
    assert not gone(tiny.pid)
    with pytest.raises(glia.GliaError) as e:
        glia.Model.connect(tiny.url, "wrong-token")
    assert e.value.status == 401


def test_prompt_limit_is_reported():
    with glia.Model.load(str(HF_TINY), binary=GLIA_BIN) as m:
        with pytest.raises(glia.GliaError) as e:
            m.run_with_cache(list(range(m.limits["max_prompt_tokens"] + 1)))
        assert e.value.status == 413


def test_close_stops_the_server():
    m = glia.Model.load(str(HF_TINY), binary=GLIA_BIN)
    pid = m.pid
    assert not gone(pid)
    m.close()
    assert wait_gone(pid), f"glia serve (pid {pid}) still runs after close()"
    m.close()  # twice is fine


def test_killed_server_is_reported():
    with glia.Model.load(str(HF_TINY), binary=GLIA_BIN) as m:
        os.kill(m.pid, signal.SIGKILL)
        assert wait_gone(m.pid)
        with pytest.raises(glia.GliaError, match="has exited"):
            m(IDS)


def test_no_orphan_when_python_is_killed():
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO / "python")!r})
        import glia
        m = glia.Model.load({str(HF_TINY)!r}, binary={GLIA_BIN!r})
        print(m.pid, flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(child.stdout.readline())
        assert not gone(pid)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert wait_gone(pid), f"glia serve (pid {pid}) outlived the killed Python process"
    finally:
        child.kill()
        child.wait()
