"""Images for glia's image models (ViT, CNN): what the server's "image"
fields take, and Grad-CAM's answer. numpy only."""

import base64
import os
import struct
import zlib

import numpy as np


def encode_png(pixels):
    """A uint8 array [H, W] (grey), [H, W, 1] or [H, W, 3] (RGB) as PNG
    bytes, losslessly: the server reads back the same values."""
    a = np.asarray(pixels)
    if a.dtype != np.uint8:
        raise ValueError(f"image array of dtype {a.dtype}: give uint8 pixel values 0..255 (the server preprocesses them as the model says)")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        colour = 0
    elif a.ndim == 3 and a.shape[2] == 3:
        colour = 2
    else:
        raise ValueError(f"image array of shape {a.shape}: want [H, W], [H, W, 1] or [H, W, 3]")
    h, w = a.shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"empty image of shape {a.shape}")
    rows = np.ascontiguousarray(a).reshape(h, -1)
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(h))  # filter 0 on every row

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def image_field(image):
    """The base64 the server's "image" field takes, from a file path (PNG
    or JPEG, sent as is), the file's bytes, or a uint8 array (PNG-encoded
    here)."""
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as f:
            data = f.read()
    elif isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    else:
        data = encode_png(image)
    return base64.b64encode(data).decode("ascii")


class GradCAM:
    """One Grad-CAM map (POST /api/gradcam), the arrays `glia gradcam --save`
    writes: heat [H, W] in [0, 1] over the input, cam [grid_h, grid_w]
    before normalisation, weights [channels]; overlay is the PNG `--out`
    draws (bytes); classes the ten likeliest (id, label, prob)."""

    def __init__(self, r):
        self.method = r["method"]
        self.hook = r["hook"]
        self.cls = r["class"]
        self.label = r["label"]
        self.logit = r["logit"]
        self.patches = r["patches"]
        self.heat = np.asarray(r["heat"], dtype=np.float32).reshape(r["h"], r["w"])
        self.cam = np.asarray(r["cam"], dtype=np.float32).reshape(r["grid_h"], r["grid_w"])
        self.weights = np.asarray(r["weights"], dtype=np.float32)
        self.overlay = base64.b64decode(r["overlay"])
        self.classes = [(c["id"], c["token"], c["prob"]) for c in r["classes"]]

    def __repr__(self):
        return f"<GradCAM {self.method} class {self.cls} ({self.label}) at {self.hook}: {self.cam.shape[0]}×{self.cam.shape[1]} grid>"
