"""Tiny random vision fixtures and their transformers / PyTorch reference
outputs, for glia's parity tests (engine/vision_parity_test.go). Never run
by CI; rerun after changing it and commit the output:

    /work/anchors/bin/python testdata/hf-tiny-vision/make.py

Writes, next to this script:
  vit/  config.json, model.safetensors, preprocessor_config.json (a
        ViTForImageClassification, 2 layers, d 32, 16×16 RGB, 4×4 patches),
        image.png (a 13×11 RGBA image: resize, alpha and normalisation are
        exercised), reference.safetensors
  cnn/  config.json (glia's "cnn" schema), model.safetensors (the state_dict
        of an nn.Sequential under "layers."), reference.safetensors

reference.safetensors holds "pixels" (the input), "logits" ([batch, 1,
labels]) and glia hook names with PyTorch's values; for vit also
"image.pixels", what ViTImageProcessor (PIL) makes of image.png.
"""
import json
import os

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(24)


def vit():
    out = os.path.join(HERE, "vit")
    os.makedirs(out, exist_ok=True)
    cfg = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                    image_size=16, patch_size=4, num_channels=3, num_labels=5, initializer_range=0.2)
    model = ViTForImageClassification(cfg).eval()
    model.set_attn_implementation("eager")  # so output_attentions returns the patterns
    with torch.no_grad():  # random (not zero) embeddings and norms
        for name, p in model.named_parameters():
            if "cls_token" in name or "position_embeddings" in name or "layernorm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.3)
    model.save_pretrained(out)
    proc = ViTImageProcessor(size={"height": 16, "width": 16}, image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.3, 0.25])
    proc.save_pretrained(out)

    rng = np.random.default_rng(24)
    Image.fromarray(rng.integers(0, 256, size=(11, 13, 4), dtype=np.uint8), mode="RGBA").save(os.path.join(out, "image.png"))
    img = Image.open(os.path.join(out, "image.png")).convert("RGB")
    image_pixels = proc(images=img, return_tensors="pt")["pixel_values"]

    pixels = torch.randn(2, 3, 16, 16)
    ref = {"pixels": pixels, "image.pixels": image_pixels}
    captured = {}

    def keep(name):
        def fn(mod, inp, outp):
            captured[name] = outp[0] if isinstance(outp, tuple) else outp
        return fn

    for l, layer in enumerate(model.vit.layers):  # transformers 5's module names
        layer.mlp.activation_fn.register_forward_hook(keep(f"blocks.{l}.mlp.hook_post"))
        layer.layernorm_before.register_forward_hook(keep(f"blocks.{l}.ln1.hook_normalized"))
    with torch.no_grad():
        o = model(pixel_values=pixels, output_hidden_states=True, output_attentions=True)
        ref["logits"] = o.logits[:, None, :]
        for l in range(cfg.num_hidden_layers):
            ref[f"blocks.{l}.hook_resid_pre"] = o.hidden_states[l]
            ref[f"blocks.{l}.attn.hook_pattern"] = o.attentions[l]
        ref.update(captured)
        ref["image.logits"] = model(pixel_values=image_pixels).logits[:, None, :]
    save_file({k: v.float().clone().contiguous() for k, v in ref.items()}, os.path.join(out, "reference.safetensors"))


def cnn():
    out = os.path.join(HERE, "cnn")
    os.makedirs(out, exist_ok=True)
    nn = torch.nn
    layers = nn.Sequential(
        nn.Conv2d(3, 6, kernel_size=3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 8, kernel_size=3, stride=2), nn.GELU(),
        nn.AvgPool2d(2),
        nn.Conv2d(8, 8, kernel_size=1, bias=False), nn.Tanh(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(8, 4))
    with torch.no_grad():
        bn = layers[1]
        bn.running_mean.copy_(torch.randn(6) * 0.5)
        bn.running_var.copy_(torch.rand(6) + 0.5)
        bn.weight.copy_(torch.randn(6))
        bn.bias.copy_(torch.randn(6))
    layers.eval()
    config = {"model_type": "cnn", "num_channels": 3, "image_size": 18, "num_labels": 4, "layers": [
        {"type": "conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1}, {"type": "batchnorm2d", "eps": 1e-5},
        {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
        {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2}, {"type": "gelu"},
        {"type": "avgpool2d", "kernel_size": 2},
        {"type": "conv2d", "out_channels": 8, "kernel_size": 1, "bias": False}, {"type": "tanh"},
        {"type": "adaptive_avgpool2d", "output_size": 1}, {"type": "flatten"}, {"type": "dropout"},
        {"type": "linear", "out_features": 4}]}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    save_file({"layers." + k: v.contiguous() for k, v in layers.state_dict().items()}, os.path.join(out, "model.safetensors"))
    pixels = torch.randn(2, 3, 18, 18)
    ref = {"pixels": pixels}
    x = pixels
    with torch.no_grad():
        for i, (mod, spec) in enumerate(zip(layers, config["layers"])):
            x = mod(x)
            ref[f"layers.{i}.{spec['type']}.hook_out"] = x
        ref["logits"] = x[:, None, :]
    save_file({k: v.float().clone().contiguous() for k, v in ref.items()}, os.path.join(out, "reference.safetensors"))


vit()
cnn()
