"""Model: a glia server, started here or already running, behind
TransformerLens's method names."""

import base64
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import weakref

import numpy as np

from .cache import ActivationCache, get_act_name
from .images import GradCAM, image_field


class GliaError(RuntimeError):
    """An error answered by the server (status is its HTTP status) or met
    while starting it."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


def _tensor(t):
    """An api.Tensor ({shape, dtype, data: base64 of little-endian float32})
    as a numpy array."""
    if t.get("dtype") != "float32":
        raise GliaError(f"unexpected tensor dtype {t.get('dtype')!r}")
    return np.frombuffer(base64.b64decode(t["data"]), dtype="<f4").reshape(t["shape"])


SAFETENSORS = "application/x-safetensors"


def _read_safetensors(raw):
    """(name -> float32 array, metadata) of a safetensors file held in
    bytes; the arrays are read-only views of raw."""
    (n,) = struct.unpack_from("<Q", raw)
    header = json.loads(bytes(raw[8 : 8 + n]))
    meta = header.pop("__metadata__", {})
    buf = memoryview(raw)[8 + n :]
    out = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise GliaError(f"tensor {name}: unexpected dtype {t['dtype']}")
        lo, hi = t["data_offsets"]
        out[name] = np.frombuffer(buf[lo:hi], dtype="<f4").reshape(t["shape"])
    return out, meta


def _find_binary(binary):
    path = binary or os.environ.get("GLIA_BIN") or shutil.which("glia")
    if not path:
        raise GliaError("no glia binary: pass binary=, set $GLIA_BIN, or put glia on PATH (go build -o bin/glia ./cmd/glia)")
    if not os.access(path, os.X_OK):
        raise GliaError(f"the glia binary {path} is not an executable file")
    return path


class _Process:
    """A `glia serve` child: in its own process group (a Ctrl-C in the
    notebook does not reach it), with a pipe as its stdin so that it exits
    (--exit-on-stdin-eof) when this process dies, however it dies."""

    def __init__(self, binary, model, device, timeout, extra_args):
        args = [binary, "serve", "--addr", "127.0.0.1:0", "--exit-on-stdin-eof"]
        if model:
            args += ["--model", str(model)]
        if device:
            args += ["--device", device]
        args += list(extra_args)
        self.token = secrets.token_urlsafe(24)
        # The token goes by environment, not argv, which other users can read.
        env = dict(os.environ, GLIA_TOKEN=self.token)
        self.log = tempfile.NamedTemporaryFile(prefix="glia-serve-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=self.log, stderr=self.log, env=env, start_new_session=True)
        self.pid = self.proc.pid
        self.url = self._wait_url(timeout)

    def _read_log(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def _wait_url(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r" on (http://[^\s/]+)/", self._read_log())
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise GliaError(f"glia serve exited with status {self.proc.returncode}:\n{self._read_log().strip()}")
            time.sleep(0.05)
        self.stop()
        raise GliaError(f"glia serve did not start listening within {timeout}s:\n{self._read_log().strip()}")

    def stop(self, timeout=5.0):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # EOF: the server shuts down
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(self.proc.pid, sig)
                    except ProcessLookupError:
                        break
                    try:
                        self.proc.wait(timeout)
                        break
                    except subprocess.TimeoutExpired:
                        continue
        try:
            self.log.close()
            os.unlink(self.log.name)
        except OSError:
            pass


class Model:
    """A model served by glia. Model.load starts `glia serve` for it;
    Model.connect uses a running server. Use it as a context manager, or
    call close(), to stop the server it started (it also stops at
    interpreter exit, and when this process dies)."""

    def __init__(self, url, token=None, process=None, timeout=120.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._process = process
        if process is not None:
            # Runs on close(), when the Model is collected, and at interpreter exit.
            self._finalizer = weakref.finalize(self, process.stop)
        self._wait_health(timeout)
        ov = self._call("GET", "/api/overview")
        if ov.get("model") is None:
            raise GliaError(f"the server at {self.url} has no model loaded")
        self.name = ov["model"]["name"]
        self.cfg = ov["model"]["dims"]
        self.has_tokenizer = ov["model"]["tokenizer"]
        self.limits = ov["limits"]
        self.hook_names = [h["name"] for h in ov["hooks"] if h.get("shape")]
        self.hook_shapes = {h["name"]: h["shape"] for h in ov["hooks"] if h.get("shape")}

    @classmethod
    def load(cls, path_or_id=None, device="cpu", binary=None, timeout=120.0, extra_args=()):
        """Start `glia serve` on a free loopback port with a random token.
        path_or_id is what glia's --model takes (a Hugging Face directory,
        ORG/NAME in the local HF cache, a .gguf or llama2.c .bin; None: the
        embedded stories260K). The binary is binary=, else $GLIA_BIN, else
        glia on PATH. extra_args go to glia serve (e.g. ["--max-prompt-tokens", "256"])."""
        proc = _Process(_find_binary(binary), path_or_id, device, timeout, extra_args)
        try:
            return cls(proc.url, proc.token, process=proc, timeout=timeout)
        except BaseException:
            proc.stop()
            raise

    @classmethod
    def connect(cls, url, token=None, timeout=120.0):
        """Use a server that is already running (its token, if it has one;
        default $GLIA_TOKEN)."""
        return cls(url, token if token is not None else os.environ.get("GLIA_TOKEN"), timeout=timeout)

    @property
    def pid(self):
        """The process id of the server this Model started (None when connected)."""
        return self._process.pid if self._process else None

    def close(self):
        """Stop the server this Model started (nothing when connected)."""
        if self._process is not None:
            self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- HTTP -----------------------------------------------------------

    def _call(self, method, path, body=None, timeout=None, accept=None):
        """The JSON answer, or with accept= the answer's bytes when the
        server sends that media type."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if accept:
            req.add_header("Accept", accept)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as r:
                if accept and r.headers.get_content_type() == accept:
                    return r.read()
                return json.load(r)
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                msg = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                msg = text
            raise GliaError(f"{method} {path}: {e.code}: {msg}", e.code) from None
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError) as e:
            # Refused, reset or cut short: say whether the server we started has died.
            if self._process is not None:
                try:
                    self._process.proc.wait(0.5)
                except subprocess.TimeoutExpired:
                    pass
                if self._process.proc.poll() is not None:
                    raise GliaError(f"the glia server (pid {self.pid}) has exited with status {self._process.proc.returncode}; load the model again") from None
            raise GliaError(f"{method} {path}: cannot reach {self.url}: {getattr(e, 'reason', e)}") from None

    def _wait_health(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._call("GET", "/api/health", timeout=5)
            except GliaError as e:
                if e.status is not None or time.monotonic() > deadline:
                    raise
                if self._process is not None and self._process.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    # --- runs -----------------------------------------------------------

    def _hooks(self, names_filter):
        """names_filter as TransformerLens takes it (None: every hook; a
        name, a glob or a shorthand such as ("post", 0); a list of them; a
        predicate on names) as hook names and globs for the server."""
        if names_filter is None:
            return list(self.hook_names)
        if callable(names_filter):
            return [n for n in self.hook_names if names_filter(n)]
        if isinstance(names_filter, (str, tuple)):
            names_filter = [names_filter]
        return [get_act_name(*n) if isinstance(n, tuple) else get_act_name(n) for n in names_filter]

    def _input(self, x, prepend_bos=True):
        """A request's input: text (BOS added unless prepend_bos is False),
        ids [n] or [1, n], or several sequences: a list of texts, ids
        [batch, n], or a list of id lists of any lengths (padded on the
        right by the server; cache.lengths says where each row ends)."""
        if isinstance(x, str):
            if prepend_bos:
                return {"prompt": x}
            x = self.to_tokens(x, prepend_bos=False)
        if isinstance(x, (list, tuple)) and x and all(isinstance(t, str) for t in x):
            if len(x) == 1:
                return self._input(x[0], prepend_bos)
            if prepend_bos:
                return {"prompts": list(x)}
            return {"batch": [[int(i) for i in self.to_tokens(t, prepend_bos=False)[0]] for t in x]}
        if isinstance(x, (list, tuple)) and x and all(isinstance(r, (list, tuple, np.ndarray)) for r in x):
            rows = [np.asarray(r).reshape(-1) for r in x]
            return {"ids": [int(i) for i in rows[0]]} if len(rows) == 1 else {"batch": [[int(i) for i in r] for r in rows]}
        ids = np.asarray(x)
        if ids.ndim == 2:
            if ids.shape[0] > 1:
                return {"batch": ids.astype(np.int64).tolist()}
            ids = ids[0]
        if ids.ndim != 1:
            raise ValueError(f"ids of shape {ids.shape}: want [n] or [batch, n]")
        return {"ids": [int(i) for i in ids]}

    def _cache(self, x, hooks=(), specs=(), grad=None, prepend_bos=True, logits=True, binary=True):
        """POST /api/cache: the JSON answer with its tensors as numpy arrays
        (logits, acts, grads). binary: ask for the answer as safetensors
        (no base64; the arrays are views of the answer's bytes)."""
        body = dict(self._input(x, prepend_bos), hooks=list(hooks), specs=list(specs), no_logits=not logits)
        if grad is not None:
            pos, token, *batch = grad
            body["grad"] = {"pos": int(pos), "token": int(token), "batch": int(batch[0]) if batch else 0}
        if not binary:
            r = self._call("POST", "/api/cache", body)
            r["logits"] = _tensor(r["logits"]) if r.get("logits") else None
            r["acts"] = {h: _tensor(r["acts"][h]) for h in r["hooks"]}
            if r.get("grads") is not None:
                r["grads"] = {h: _tensor(r["grads"][h]) for h in r["hooks"]}
            return r
        raw = self._call("POST", "/api/cache", body, accept=SAFETENSORS)
        tensors, meta = _read_safetensors(raw)
        r = json.loads(meta["glia"])
        r["logits"] = tensors.get("logits")
        r["acts"] = {h: tensors[h] for h in r["hooks"]}
        if grad is not None:
            r["grads"] = {h: tensors["grad:" + h] for h in r["hooks"]}
        return r

    def run_with_cache(self, input, names_filter=None, grad=None, interventions=(), prepend_bos=True, return_type="logits"):
        """(logits [batch, pos, vocab], ActivationCache) for text or ids, as
        HookedTransformer.run_with_cache. Several sequences (a list of
        texts, ids [batch, n] or id lists of any lengths) run as one batch,
        padded on the right: cache.lengths holds each one's length, and
        values past it are padding. grad=(pos, token) or (pos, token,
        batch) also fills cache.grads with d logits[batch, pos, token] /
        d hook; interventions are glia's intervention specs, applied during
        the run. return_type=None: no logits (None in their place), a
        smaller answer."""
        if return_type not in ("logits", None):
            raise ValueError(f"return_type {return_type!r}: glia's run_with_cache returns 'logits' or None")
        r = self._cache(input, self._hooks(names_filter), interventions, grad, prepend_bos, logits=return_type == "logits")
        grads = None
        if r.get("grads") is not None:
            grads = ActivationCache(r["grads"], self.cfg["n_layers"])
        cache = ActivationCache(r["acts"], self.cfg["n_layers"], grads)
        cache.lengths = list(r["lengths"])
        return r["logits"], cache

    def run(self, image=None, images=None, hooks=(), grad=None, interventions=()):
        """An image model's forward pass: (logits [batch, 1, classes],
        ActivationCache) for image (a PNG or JPEG path, its bytes, or a
        uint8 array [H, W] or [H, W, 3]) or images (a list of them),
        preprocessed by the server as the model's preprocessor_config.json
        says, exactly as `glia run --image` does. hooks are names or globs;
        grad=cls or (cls, batch) also fills cache.grads with d logits[batch,
        0, cls] / d hook; interventions are glia's specs (a CNN hook's
        HOOK[:,c] is channel c)."""
        if (image is None) == (images is None):
            raise ValueError("give image= or images=")
        body = {"hooks": self._hooks(hooks) if hooks else [], "specs": list(interventions)}
        if image is not None:
            body["image"] = image_field(image)
        else:
            body["images"] = [image_field(x) for x in images]
        if grad is not None:
            cls, *batch = grad if isinstance(grad, (tuple, list)) else (grad,)
            body["grad"] = {"pos": 0, "token": int(cls), "batch": int(batch[0]) if batch else 0}
        raw = self._call("POST", "/api/cache", body, accept=SAFETENSORS)
        tensors, meta = _read_safetensors(raw)
        r = json.loads(meta["glia"])
        grads = ActivationCache({h: tensors["grad:" + h] for h in r["hooks"]}, self.cfg["n_layers"]) if grad is not None else None
        return tensors.get("logits"), ActivationCache({h: tensors[h] for h in r["hooks"]}, self.cfg["n_layers"], grads)

    def gradcam(self, image, cls=None, hook=None, method="gradcam", alpha=None, scale=None):
        """Grad-CAM of an image model (POST /api/gradcam, `glia gradcam`)
        for class cls (None: the top class) at hook (None: a ViT's last
        ln1, else the last hook with a spatial grid): a GradCAM with heat
        [H, W], cam [grid_h, grid_w], weights and the overlay PNG."""
        body = {"image": image_field(image), "method": method}
        if cls is not None:
            body["class"] = int(cls)
        if hook is not None:
            body["hook"] = hook
        if alpha is not None:
            body["alpha"] = float(alpha)
        if scale is not None:
            body["scale"] = int(scale)
        return GradCAM(self._call("POST", "/api/gradcam", body))

    def run_with_hooks(self, input, interventions=(), prepend_bos=True):
        """Logits [batch, pos, vocab] under glia's interventions (docs/interventions.md),
        e.g. ["blocks.0.mlp.hook_post[:,:]=0", "blocks.1.hook_resid_post[-1,0:8]*=2"].
        run_with_cache(..., interventions=...) returns the hooks as well."""
        return self._cache(input, (), interventions, None, prepend_bos)["logits"]

    def __call__(self, input, prepend_bos=True):
        """Logits [1, pos, vocab]."""
        return self.run_with_hooks(input, (), prepend_bos)

    def intervene(self, prompt, interventions, max_new=16, top=10):
        """glia's intervention playground (POST /api/intervene): next tokens,
        KL and greedy continuations without and with the interventions."""
        return self._call("POST", "/api/intervene", {"prompt": prompt, "specs": list(interventions), "max_new": max_new, "top": top})

    def generate(self, input, max_new_tokens=10, stop_at=None):
        """Greedy continuation: the text (prompt included) for text input, or
        ids [1, n + new] for ids. stop_at: token ids that end it."""
        text_in = isinstance(input, str)
        ids = self.to_tokens(input)[0] if text_in else np.asarray(input).reshape(-1)
        ids = [int(i) for i in ids]
        stop = set(stop_at or ())
        for _ in range(max_new_tokens):
            logits = self.run_with_hooks(ids)
            nxt = int(np.argmax(logits[0, -1]))
            ids.append(nxt)
            if nxt in stop:
                break
        return self.to_string(ids) if text_in else np.array([ids], dtype=np.int64)

    # --- tokens ---------------------------------------------------------

    def to_tokens(self, text, prepend_bos=True):
        """Token ids [1, n] of text (BOS first unless prepend_bos is False)."""
        toks = self._tokens(text)
        ids = [t["id"] for t in toks]
        return np.array([ids if prepend_bos else ids[1:]], dtype=np.int64)

    def to_str_tokens(self, input, prepend_bos=True):
        """The tokens of text or ids as display strings (newline as ↵)."""
        if isinstance(input, str):
            toks = self._tokens(input)
            return [t["text"] for t in (toks if prepend_bos else toks[1:])]
        return [t["text"] for t in self._cache(input, binary=False)["tokens"]]

    def to_string(self, ids):
        """ids decoded to text (special tokens skipped)."""
        ids = np.asarray(ids)
        if ids.ndim == 2:
            return [self.to_string(row) for row in ids] if ids.shape[0] > 1 else self.to_string(ids[0])
        return self._cache(ids, binary=False)["text"]

    def _tokens(self, text):
        if not self.has_tokenizer:
            raise GliaError(f"{self.name} has no tokenizer: give token ids")
        return self._cache(text, binary=False)["tokens"]

    def __repr__(self):
        where = f"pid {self.pid}" if self._process else "connected"
        return f"<glia.Model {self.name} at {self.url} ({where})>"
