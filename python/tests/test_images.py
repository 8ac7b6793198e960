"""Known-answer tests of the client's image calls against the glia binary:
the server's answers equal `glia run --image --save` and `glia gradcam
--save` on the same image, read by the CLI straight from the IDX file."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import glia
from glia.images import encode_png

from test_client import GLIA_BIN, read_safetensors, run_glia

REPO = Path(__file__).resolve().parents[2]
TRAINED = REPO / "testdata" / "trained"
MNIST = REPO / "testdata" / "images" / "mnist" / "mnist-1k.u8"

pytestmark = pytest.mark.skipif(
    not (GLIA_BIN and os.access(GLIA_BIN, os.X_OK)),
    reason="$GLIA_BIN is not set to an executable glia binary (go build -o bin/glia ./cmd/glia; .ci/run does this)",
)


def digit(i):
    """MNIST image i of the IDX file as uint8 [28, 28]."""
    raw = MNIST.read_bytes()
    n, h, w = (int.from_bytes(raw[4 * k : 4 * k + 4], "big") for k in (1, 2, 3))
    assert i < n
    return np.frombuffer(raw, dtype=np.uint8, count=h * w, offset=16 + i * h * w).reshape(h, w)


@pytest.fixture(scope="module", params=["mnist-cnn", "mnist-vit"])
def vision(request):
    with glia.Model.load(str(TRAINED / request.param), binary=GLIA_BIN) as m:
        yield request.param, m


HOOKS = {"mnist-cnn": ["layers.*.conv2d.hook_out", "layers.4.relu.hook_out"], "mnist-vit": ["blocks.*.mlp.hook_post", "blocks.1.ln1.hook_normalized"]}


def test_run_equals_glia_run_image(vision, tmp_path):
    name, model = vision
    out = tmp_path / "run.safetensors"
    hooks = HOOKS[name]
    run_glia("run", "--model", str(TRAINED / name), "--image", f"{MNIST}:3", *sum((["--hook", h] for h in hooks), []), "--grad", "0,0,5", "--save", str(out))
    want = read_safetensors(out)
    logits, cache = model.run(image=digit(3), hooks=hooks, grad=5)
    assert logits.shape == (1, 1, 10)
    np.testing.assert_allclose(logits, want["logits"], rtol=0, atol=1e-6)
    assert len(cache) >= 2 and set(cache) == {k for k in want if k != "logits" and not k.startswith("grad:")}
    for h in cache:
        np.testing.assert_allclose(cache[h], want[h], rtol=0, atol=1e-6, err_msg=h)
        np.testing.assert_allclose(cache.grads[h], want["grad:" + h], rtol=0, atol=1e-6, err_msg="grad " + h)


def test_image_forms_agree(vision, tmp_path):
    """A path, PNG bytes, an [H, W, 1] array and a batch give the same values."""
    _, model = vision
    png = tmp_path / "d.png"
    png.write_bytes(encode_png(digit(7)))
    a, _ = model.run(image=str(png))
    b, _ = model.run(image=png.read_bytes())
    c, _ = model.run(image=digit(7)[:, :, None])
    d, _ = model.run(images=[digit(6), digit(7)])
    for x in (b, c, d[1:]):
        np.testing.assert_array_equal(a, x)
    assert not np.array_equal(d[0], d[1])


def test_gradcam_equals_glia_gradcam_save(vision, tmp_path):
    name, model = vision
    out = tmp_path / "cam.safetensors"
    run_glia("gradcam", "--model", str(TRAINED / name), "--image", f"{MNIST}:4", "--class", "2", "--save", str(out))
    want = read_safetensors(out)
    got = model.gradcam(image=digit(4), cls=2)
    assert got.cls == 2 and got.heat.shape == (28, 28) and got.overlay[:8] == b"\x89PNG\r\n\x1a\n"
    for k in ("heat", "cam", "weights"):
        np.testing.assert_allclose(getattr(got, k), want[k], rtol=0, atol=1e-6, err_msg=k)
    assert got.heat.max() == pytest.approx(1.0, abs=1e-6)


def test_image_errors(vision):
    _, model = vision
    with pytest.raises(glia.GliaError, match='"prompt"'):
        model.run_with_cache("hello")
    with pytest.raises(ValueError, match="uint8"):
        model.run(image=digit(0).astype(np.float32))
    with pytest.raises(glia.GliaError, match='"class"'):
        model.gradcam(image=digit(0), cls=10)


def test_text_model_refuses_images():
    with glia.Model.load(str(REPO / "testdata" / "hf-tiny" / "gpt2"), binary=GLIA_BIN) as m:
        with pytest.raises(glia.GliaError, match='"image"') as e:
            m.run(image=digit(0))
        assert e.value.status == 400
