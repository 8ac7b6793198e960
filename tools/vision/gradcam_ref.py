"""Reference Grad-CAM maps from jacobgil's pytorch-grad-cam (PyPI grad-cam
1.5.7) on the hf-tiny-vision fixtures, for gradcam/gradcam_test.go. Never run
by CI. grad-cam needs cv2, ttach, tqdm and torchvision beside torch and
transformers; they were installed apart from the anchors:

    pip install --target /tmp/gcpkgs --no-deps grad-cam ttach opencv-python-headless tqdm torchvision
    PYTHONPATH=/tmp/gcpkgs /work/anchors/bin/python tools/vision/gradcam_ref.py

Writes testdata/hf-tiny-vision/gradcam.safetensors: for each case the input
"NAME.pixels" [1, c, h, w] and pytorch-grad-cam's map "NAME.heat" [h, w];
the case list (model, class, glia hook, method) is in its metadata.
"""
import json
import os

import torch
from pytorch_grad_cam import GradCAM, HiResCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from safetensors.torch import load_file, save_file
from transformers import ViTForImageClassification

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "hf-tiny-vision")
torch.manual_seed(7)


class Logits(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(pixel_values=x).logits


def cnn_model():
    nn = torch.nn
    cfg = json.load(open(os.path.join(ROOT, "cnn", "config.json")))
    mods = []
    cin = cfg["num_channels"]
    feats = None
    for l in cfg["layers"]:
        t = l["type"]
        if t == "conv2d":
            mods.append(nn.Conv2d(cin, l["out_channels"], l["kernel_size"], stride=l.get("stride", 1),
                                  padding=l.get("padding", 0), bias=l.get("bias", True)))
            cin = l["out_channels"]
        elif t == "batchnorm2d":
            mods.append(nn.BatchNorm2d(cin, eps=l.get("eps", 1e-5)))
        elif t == "maxpool2d":
            mods.append(nn.MaxPool2d(l["kernel_size"], l.get("stride")))
        elif t == "avgpool2d":
            mods.append(nn.AvgPool2d(l["kernel_size"], l.get("stride")))
        elif t == "adaptive_avgpool2d":
            mods.append(nn.AdaptiveAvgPool2d(1))
        elif t == "linear":
            mods.append(nn.Linear(cin, l["out_features"], bias=l.get("bias", True)))
        else:
            mods.append({"relu": nn.ReLU(), "gelu": nn.GELU(), "tanh": nn.Tanh(), "flatten": nn.Flatten(),
                         "dropout": nn.Dropout()}[t])
    seq = nn.Sequential(*mods)
    state = {k[len("layers."):]: v for k, v in load_file(os.path.join(ROOT, "cnn", "model.safetensors")).items()}
    seq.load_state_dict(state)
    return seq.eval()


def vit_reshape(t, rows=4, cols=4):
    r = t[:, 1:, :].reshape(t.size(0), rows, cols, t.size(2))
    return r.transpose(2, 3).transpose(1, 2)


out, cases = {}, []
vit = ViTForImageClassification.from_pretrained(os.path.join(ROOT, "vit")).eval()
cnn = cnn_model()
for name, model, layer, hook, cls, reshape, shape, method in [
    ("vit", Logits(vit), vit.vit.layers[-1].layernorm_before, "blocks.1.ln1.hook_normalized", 2, vit_reshape, (1, 3, 16, 16), GradCAM),
    ("vit_mlp", Logits(vit), vit.vit.layers[0].mlp.activation_fn, "blocks.0.mlp.hook_post", 4, vit_reshape, (1, 3, 16, 16), GradCAM),
    ("cnn", cnn, cnn[4], "layers.4.conv2d.hook_out", 1, None, (1, 3, 18, 18), GradCAM),
    ("cnn_relu", cnn, cnn[2], "layers.2.relu.hook_out", 3, None, (1, 3, 18, 18), GradCAM),
    ("vit_hires", Logits(vit), vit.vit.layers[-1].layernorm_before, "blocks.1.ln1.hook_normalized", 3, vit_reshape, (1, 3, 16, 16), HiResCAM),
    ("cnn_hires", cnn, cnn[4], "layers.4.conv2d.hook_out", 2, None, (1, 3, 18, 18), HiResCAM),
]:
    x = torch.randn(*shape)
    with method(model=model, target_layers=[layer], reshape_transform=reshape) as cam:
        heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(cls)])[0]
    out[name + ".pixels"] = x.contiguous()
    out[name + ".heat"] = torch.from_numpy(heat).float().contiguous()
    cases.append({"name": name, "model": name.split("_")[0], "class": cls, "hook": hook, "method": method.__name__.lower()})
save_file(out, os.path.join(ROOT, "gradcam.safetensors"), metadata={"cases": json.dumps(cases), "generator": "grad-cam 1.5.7 GradCAM and HiResCAM"})
