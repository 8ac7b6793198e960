#!/usr/bin/env python3
"""Golden outputs of PaddleOCR's text-direction classifier under onnxruntime.

Writes testdata/onnx/ppocr-cls/{text-*.png, reference.safetensors}:

  pixels              [5, 3, 48, 192] the inputs: four rendered text lines
                      (two texts, upright and rotated 180°) and uniform noise,
                      preprocessed as PaddleOCR's ClsResizeImg does for
                      48×192 images: (x/255 − 0.5)/0.5
  probs               [5, 2] the model's output (softmax; class 0 is "0°",
                      class 1 is "180°")
  logits              [5, 2] the softmax's input
  nodes.{i}.{op}.hook_out   a few intermediate node outputs, named as glia's
                      onnx family names them (i = index in graph.node)
  gradcam.{k}         [h, w] Grad-CAM at the last Conv for the image k's
                      predicted class, its gradients taken by central finite
                      differences through onnxruntime (no autograd here):
                      the graph from the last Conv's output to the logits is
                      cut out with onnx.utils, converted to float64 (Clip as
                      Max and Min, GlobalAveragePool as ReduceMean, which
                      have double kernels) and run on perturbed activations
                      (eps 1e-4: a difference seldom straddles the kinks of
                      hard-swish and max pooling)
  gradcam.weights.{k} [channels] the channel weights (mean gradient)

Run: /work/anchors/bin/python tools/vision/onnx_golden.py (needs onnx,
onnxruntime, numpy, pillow, safetensors). Not run by CI.
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper, utils
from PIL import Image, ImageDraw, ImageFont
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
DIR = os.path.join(HERE, "..", "..", "testdata", "onnx", "ppocr-cls")
MODEL = os.path.join(DIR, "ch_ppocr_mobile_v2.0_cls_infer.onnx")
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
H, W = 48, 192


def render(text, width_used):
    """Black text on white, left-aligned in the first width_used pixels."""
    im = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(im)
    size = 40
    font = ImageFont.truetype(FONT, size)
    while d.textlength(text, font=font) > width_used - 8 and size > 8:
        size -= 1
        font = ImageFont.truetype(FONT, size)
    box = d.textbbox((0, 0), text, font=font)
    y = (H - (box[3] - box[1])) // 2 - box[1]
    d.text((4, y), text, fill="black", font=font)
    return im


def preprocess(im):
    x = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return (x - 0.5) / 0.5


def double_tail(path):
    """The cut-out tail in float64 (onnxruntime has no double Clip-6 or
    GlobalAveragePool: rewritten as Max/Min and ReduceMean)."""
    t = onnx.load(path)
    del t.graph.value_info[:]
    nodes = []
    for n in t.graph.node:
        for a in n.attribute:
            if a.name == "value" and a.t.data_type == onnx.TensorProto.FLOAT:
                a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float64), a.t.name))
        if n.op_type == "Clip":
            at = {x.name: x.f for x in n.attribute}
            lo, hi = n.name + ".lo", n.name + ".hi"
            nodes.append(helper.make_node("Constant", [], [lo], value=numpy_helper.from_array(np.array(at["min"], dtype=np.float64), lo)))
            nodes.append(helper.make_node("Constant", [], [hi], value=numpy_helper.from_array(np.array(at["max"], dtype=np.float64), hi)))
            nodes.append(helper.make_node("Max", [n.input[0], lo], [n.name + ".max"]))
            nodes.append(helper.make_node("Min", [n.name + ".max", hi], [n.output[0]]))
        elif n.op_type == "GlobalAveragePool":
            nodes.append(helper.make_node("ReduceMean", list(n.input), list(n.output), axes=[2, 3], keepdims=1))
        else:
            nodes.append(n)
    del t.graph.node[:]
    t.graph.node.extend(nodes)
    for v in list(t.graph.input) + list(t.graph.output):
        v.type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    return t


def main():
    model = onnx.load(MODEL)
    g = model.graph
    # Intermediate outputs to record, by glia's hook name.
    want = {}
    convs = [i for i, n in enumerate(g.node) if n.op_type == "Conv"]
    for i in [convs[0], convs[2], convs[-1]]:
        want[i] = g.node[i].output[0]
    for i, n in enumerate(g.node):
        if n.op_type in ("HardSigmoid", "MaxPool") and not any(g.node[j].op_type == n.op_type for j in want):
            want[i] = n.output[0]
        if n.op_type in ("GlobalAveragePool", "MatMul"):
            want[i] = n.output[0]
    softmax = [n for n in g.node if n.op_type == "Softmax"][0]
    logits_name = softmax.input[0]
    for name in list(want.values()) + [logits_name]:
        g.output.append(helper.make_empty_tensor_value_info(name))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    texts = [("text-long", "glia reads ONNX 2026", W), ("text-short", "Text 42", W // 2)]
    ims = []
    for name, text, used in texts:
        im = render(text, used)
        im.save(os.path.join(DIR, name + ".png"))
        ims += [im, im.rotate(180)]
    rng = np.random.default_rng(24)
    noise = rng.uniform(-1, 1, size=(1, 3, H, W)).astype(np.float32)
    pixels = np.concatenate([np.stack([preprocess(im) for im in ims]), noise]).astype(np.float32)

    outs = sess.run(None, {"x": pixels})
    names = [o.name for o in sess.get_outputs()]
    res = dict(zip(names, outs))
    ref = {"pixels": pixels, "probs": res[g.output[0].name], "logits": res[logits_name]}
    for i, name in want.items():
        ref[f"nodes.{i}.{g.node[i].op_type.lower()}.hook_out"] = res[name]
    for k in range(pixels.shape[0]):
        print(f"image {k}: probs {ref['probs'][k]}", file=sys.stderr)

    # Grad-CAM at the last Conv by finite differences on the graph's tail.
    last = convs[-1]
    act_name = g.node[last].output[0]
    tail_path = os.path.join("/tmp", "ppocr-cls-tail.onnx")
    utils.extract_model(MODEL, tail_path, [act_name], [logits_name], check_model=False)
    tail = ort.InferenceSession(double_tail(tail_path).SerializeToString(), providers=["CPUExecutionProvider"])
    acts = res[act_name].astype(np.float64)
    eps = 1e-4
    for k in range(4):
        a = acts[k : k + 1]
        cls = int(np.argmax(ref["logits"][k]))
        n = a.size
        grad = np.zeros(n, dtype=np.float64)
        for lo in range(0, n, 256):  # 512 perturbed copies at a time
            idx = np.arange(lo, min(lo + 256, n))
            batch = np.repeat(a.reshape(1, -1), 2 * len(idx), axis=0)
            batch[2 * np.arange(len(idx)), idx] += eps
            batch[2 * np.arange(len(idx)) + 1, idx] -= eps
            out = tail.run(None, {act_name: batch.reshape((2 * len(idx),) + a.shape[1:])})[0]
            grad[idx] = (out[0::2, cls] - out[1::2, cls]) / (2 * eps)
        grad = grad.reshape(a.shape[1:])
        weights = grad.mean(axis=(1, 2))
        cam = np.maximum((weights[:, None, None] * a[0]).sum(0), 0)
        ref[f"gradcam.{k}"] = cam.astype(np.float32)
        ref[f"gradcam.weights.{k}"] = weights.astype(np.float32)
        print(f"image {k}: class {cls}, act {a.shape}, cam {np.round(cam, 3).tolist()}", file=sys.stderr)

    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in ref.items()},
              os.path.join(DIR, "reference.safetensors"),
              metadata={"model": os.path.basename(MODEL), "onnxruntime": ort.__version__, "last_conv": str(last),
                        "logits": logits_name})
    for k, v in ref.items():
        print(k, v.shape, file=sys.stderr)


if __name__ == "__main__":
    main()
