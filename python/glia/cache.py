"""ActivationCache and get_act_name: TransformerLens's hook-name shorthand."""

import re

# TransformerLens's aliases (utils.get_act_name).
_ALIASES = {
    "attn": "pattern",
    "attn_logits": "attn_scores",
    "key": "k",
    "query": "q",
    "value": "v",
    "mlp_pre": "pre",
    "mlp_mid": "mid",
    "mlp_post": "post",
}
_ATTN = {"q", "k", "v", "z", "pattern", "attn_scores", "result", "rot_q", "rot_k"}
_MLP = {"pre", "mid", "post", "pre_linear"}
_BLOCK = {"resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out", "attn_in", "q_input", "k_input", "v_input", "mlp_in"}
_LN = {"scale", "normalized"}


def get_act_name(name, layer=None, layer_type=None):
    """The full hook name of a TransformerLens shorthand, as
    transformer_lens.utils.get_act_name: ("post", 3) is
    "blocks.3.mlp.hook_post", ("scale", 2, "ln1") "blocks.2.ln1.hook_scale",
    ("scale",) "ln_final.hook_scale"; "k6" is ("k", 6). A full name is
    returned as is."""
    if "." in name or name.startswith("hook_"):
        return name
    m = re.fullmatch(r"([a-z_]+?)(\d+)([a-z0-9_]*)", name)
    if layer is None and m:
        name, layer, layer_type = m.group(1), int(m.group(2)), (m.group(3) or layer_type)
    name = _ALIASES.get(name, name)
    if name in ("embed", "pos_embed"):
        return "hook_" + name
    if layer is None:
        if name in _LN:
            return "ln_final.hook_" + name
        raise KeyError(f"{name!r} needs a layer (e.g. cache[{name!r}, 0])")
    if name in _ATTN:
        return f"blocks.{layer}.attn.hook_{name}"
    if name in _MLP:
        return f"blocks.{layer}.mlp.hook_{name}"
    if name in _LN:
        return f"blocks.{layer}.{layer_type or 'ln1'}.hook_{name}"
    if name in _BLOCK:
        return f"blocks.{layer}.hook_{name}"
    raise KeyError(f"unknown activation name {name!r}")


class ActivationCache(dict):
    """Hook name -> numpy array, as TransformerLens's ActivationCache:
    cache["post", 3], cache["resid_pre", -1] and cache["pattern", 1] are
    shorthand for the full names (negative layers count from the end).
    After run_with_cache(..., grad=(pos, token)), .grads holds the gradient
    of that logit with respect to each hook, keyed the same way."""

    def __init__(self, acts=(), n_layers=None, grads=None):
        super().__init__(acts)
        self.n_layers = n_layers
        self.grads = grads

    def _name(self, key):
        if isinstance(key, str):
            return key if dict.__contains__(self, key) else get_act_name(key)
        if isinstance(key, tuple) and 1 <= len(key) <= 3 and isinstance(key[0], str):
            name, layer, layer_type = (list(key) + [None, None])[:3]
            if isinstance(layer, int) and layer < 0:
                if self.n_layers is None:
                    raise KeyError(f"{key!r}: a negative layer needs the model's n_layers")
                layer += self.n_layers
            return get_act_name(name, layer, layer_type)
        return key

    def __getitem__(self, key):
        name = self._name(key)
        try:
            return dict.__getitem__(self, name)
        except KeyError:
            raise KeyError(f"{name!r} is not in the cache (it holds {len(self)} hooks; pass names_filter to run_with_cache)") from None

    def __contains__(self, key):
        try:
            return dict.__contains__(self, self._name(key))
        except KeyError:
            return False

    def get(self, key, default=None):
        return self[key] if key in self else default

    def __repr__(self):
        return f"ActivationCache({len(self)} hooks: {', '.join(list(self)[:4])}{', ...' if len(self) > 4 else ''})"
