"""glia from Python: TransformerLens's calls, computed by the glia binary.

    import glia
    with glia.Model.load("testdata/hf-tiny/gpt2") as model:
        logits, cache = model.run_with_cache([[0, 5, 9]], names_filter="blocks.*.mlp.hook_post")
        cache["post", 0]          # the same array as cache["blocks.0.mlp.hook_post"]

See docs/python.md.
"""

from .cache import ActivationCache, get_act_name
from .atlas import Atlas, AtlasError
from .client import GliaError, Model
from .images import GradCAM

__all__ = ["ActivationCache", "Atlas", "AtlasError", "GliaError", "GradCAM", "Model", "get_act_name"]
