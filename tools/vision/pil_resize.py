"""Reference for images.Resize: PIL resizes of small float ("F" mode) images,
which PIL computes without rounding to 8 bits. Never run by CI.

    /work/anchors/bin/python tools/vision/pil_resize.py > images/testdata/pil_resize.json
"""
import json

import numpy as np
from PIL import Image

rng = np.random.default_rng(24)
cases = []
for (h, w), (oh, ow) in [((7, 5), (3, 4)), ((7, 5), (11, 9)), ((28, 28), (32, 32)), ((28, 28), (10, 13)), ((4, 4), (4, 8))]:
    src = rng.uniform(0, 255, size=(h, w)).astype(np.float32)
    for resample in (0, 2, 3):
        out = np.asarray(Image.fromarray(src, mode="F").resize((ow, oh), resample=resample), dtype=np.float32)
        cases.append({"h": h, "w": w, "out_h": oh, "out_w": ow, "resample": resample,
                      "src": src.ravel().tolist(), "want": out.ravel().tolist()})
print(json.dumps({"generator": "PIL " + Image.__version__ + " Image.resize on mode F", "cases": cases}))
