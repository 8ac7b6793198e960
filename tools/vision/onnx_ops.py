#!/usr/bin/env python3
"""A tiny random ONNX classifier that uses the operators PaddleOCR's
classifier does not, with onnxruntime's outputs for every node.

Writes testdata/onnx/ops/{ops.onnx, reference.safetensors}: pixels [2, 3, 8, 8],
logits (the final Softmax's input), probs, and nodes.{i}.{op}.hook_out for
every node that computes a tensor (glia's hook names). Initializers are
written both as raw_data and as float_data; opset 14 (Clip's bounds,
Squeeze's and Unsqueeze's axes and Slice's ranges as inputs, Softmax over
one axis, HardSwish).

Run: /work/anchors/bin/python tools/vision/onnx_ops.py (onnx, onnxruntime,
numpy, safetensors). Not run by CI.
"""
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "onnx", "ops")
rng = np.random.default_rng(7)


def init(name, *shape, raw=True):
    a = rng.normal(0, 0.5, size=shape).astype(np.float32)
    if raw:
        return numpy_helper.from_array(a, name)
    return helper.make_tensor(name, TensorProto.FLOAT, shape, a.reshape(-1).tolist())


def ints(name, *v):
    return numpy_helper.from_array(np.array(v, dtype=np.int64), name)


def scalar(name, v):
    return numpy_helper.from_array(np.array(v, dtype=np.float32), name)


N = helper.make_node
nodes = [
    # asymmetric pads, strides (1, 2): [2, 4, 8, 4]
    N("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 0, 1, 2], strides=[1, 2], kernel_shape=[3, 3]),
    N("Conv", ["c1", "w2"], ["c2"], name="grouped", group=2, pads=[1, 1, 1, 1]),  # 2 groups of 2 channels
    N("LeakyRelu", ["c2"], ["l"], name="leaky", alpha=0.1),
    N("HardSwish", ["l"], ["hs"], name="hswish"),
    # padding excluded from the mean, then included: [2, 4, 4, 2]
    N("AveragePool", ["hs"], ["ap"], name="avg", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    N("AveragePool", ["hs"], ["ap2"], name="avg_incl", kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1], count_include_pad=1),
    N("Sub", ["ap", "ap2"], ["s"], name="sub"),
    N("Sigmoid", ["s"], ["sig"], name="sigmoid"),
    N("Tanh", ["ap2"], ["t"], name="tanh"),
    N("Concat", ["sig", "t"], ["cat"], name="concat", axis=1),  # [2, 8, 4, 2]
    N("Clip", ["cat", "lo", "hi"], ["cl"], name="clip"),
    N("Slice", ["cl", "starts", "ends", "axes", "steps"], ["sl"], name="slice"),  # channels 0, 2, 4, 6
    N("Transpose", ["sl"], ["tr"], name="transpose", perm=[0, 1, 3, 2]),  # [2, 4, 2, 4]
    N("ReduceMean", ["tr"], ["rm"], name="mean", axes=[3], keepdims=1),  # [2, 4, 2, 1]
    N("Squeeze", ["rm", "ax3"], ["sq"], name="squeeze"),  # [2, 4, 2]
    N("Unsqueeze", ["sq", "ax2"], ["us"], name="unsqueeze"),  # [2, 4, 1, 2]
    N("GlobalMaxPool", ["tr"], ["gmp"], name="gmaxpool"),  # [2, 4, 1, 1]
    N("Add", ["us", "gmp"], ["add"], name="add"),  # broadcast: [2, 4, 1, 2]
    N("Flatten", ["add"], ["fl"], name="flatten", axis=1),  # [2, 8]
    N("Shape", ["fl"], ["shp"], name="shape"),
    N("Gather", ["shp", "zero"], ["n"], name="gather"),
    N("Unsqueeze", ["n", "ax0"], ["n1"], name="unsqueeze_n"),
    N("Concat", ["n1", "minus1"], ["newshape"], name="concat_shape", axis=0),
    N("Reshape", ["fl", "newshape"], ["rs"], name="reshape"),
    N("Gemm", ["rs", "wg", "bg"], ["gm"], name="gemm", transB=1, alpha=0.5, beta=2.0),  # [2, 5]
    N("Identity", ["gm"], ["id"], name="identity"),
    N("Softmax", ["id"], ["probs"], name="softmax", axis=-1),
]
inits = [
    init("w1", 4, 3, 3, 3), init("b1", 4, raw=False), init("w2", 4, 2, 3, 3), init("wg", 5, 8), init("bg", 5, raw=False),
    scalar("lo", -0.5), scalar("hi", 0.6),
    ints("starts", 0), ints("ends", 8), ints("axes", 1), ints("steps", 2),
    ints("ax3", 3), ints("ax2", 2), ints("ax0", 0), ints("minus1", -1),
    numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
]
graph = helper.make_graph(
    nodes, "ops", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
    [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 5])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], producer_name="glia onnx_ops.py")
model.ir_version = 8
onnx.checker.check_model(model)
os.makedirs(DIR, exist_ok=True)
onnx.save(model, os.path.join(DIR, "ops.onnx"))

computed = {n.output[0]: (i, n.op_type) for i, n in enumerate(nodes)
            if n.op_type not in ("Shape", "Gather", "Unsqueeze", "Concat") or n.name in ("unsqueeze", "concat")}
for name in computed:
    if name != "probs":
        model.graph.output.append(helper.make_empty_tensor_value_info(name))
sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
x = rng.uniform(-1, 1, size=(2, 3, 8, 8)).astype(np.float32)
outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": x})))
ref = {"pixels": x, "logits": outs["id"], "probs": outs["probs"]}
for name, (i, op) in computed.items():
    ref[f"nodes.{i}.{op.lower()}.hook_out"] = outs[name]
save_file({k: np.ascontiguousarray(v) for k, v in ref.items()}, os.path.join(DIR, "reference.safetensors"),
          metadata={"onnxruntime": ort.__version__})
for k, v in ref.items():
    print(k, v.shape)

# bad.onnx: a Conv whose kernel expects 2 input channels on a 3-channel
# image; glia must refuse it at graph building, naming the node.
bad = helper.make_graph(
    [N("Conv", ["x", "wb"], ["c"], name="mismatched"), N("GlobalAveragePool", ["c"], ["p"], name="pool"),
     N("Flatten", ["p"], ["y"], name="flat")], "bad",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [init("wb", 4, 2, 3, 3)])
bm = helper.make_model(bad, opset_imports=[helper.make_opsetid("", 14)], producer_name="glia onnx_ops.py")
bm.ir_version = 8
onnx.save(bm, os.path.join(DIR, "bad.onnx"))
