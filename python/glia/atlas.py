"""Atlas: a neuron atlas (`glia atlas build`) read from Python.

Two readers sit behind one class, so that a change of the database layout
touches one small class here:

- _SQLiteReader reads the SQLite file with the standard library's sqlite3
  (layout version 1, docs/atlas.md): tables meta, units, examples, tokens,
  and explain_units when `glia explain` has run. _SQLiteReaderV2 reads
  layout 2: one examples blob per unit pointing into a windows table, and
  sparse varint histograms (docs/atlas.md, "Schema").
- _ExportReader runs `glia atlas export --format jsonl` (one unit per line,
  everything) and keeps its lines: any layout the binary reads, at the cost
  of reading the whole atlas once.

Atlas(path) uses sqlite3 when the layout is one it knows, else the export.
"""

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import numpy as np

# Unit statistics, in the order of `glia atlas export --format csv`.
STAT_COLUMNS = ["hook", "unit", "count", "mean", "var", "std", "min", "max", "n_pos", "n_above", "density", "density_above"]
EXAMPLE_COLUMNS = ["kind", "band", "rank", "activation", "shard", "window", "pos", "doc", "start", "center", "tokens", "text", "acts"]

# The layouts _SQLiteReader knows (meta schema_version).
SQLITE_VERSIONS = {"1", "2"}


class AtlasError(RuntimeError):
    """An atlas that cannot be read, or a unit it does not hold."""


def _frame(rows, columns):
    """rows as a pandas DataFrame when pandas is installed, else the list of dicts."""
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows, columns=columns)


class _SQLiteReader:
    """Layout 1, read-only, through sqlite3."""

    def __init__(self, path):
        # mode=ro: never writes; a WAL atlas still needs its -shm file (or a writable directory).
        self.db = sqlite3.connect(f"file:{Path(path).resolve().as_posix()}?mode=ro", uri=True)
        self.meta = dict(self.db.execute("SELECT key, value FROM meta"))
        self._texts = None

    def close(self):
        self.db.close()

    def token_texts(self):
        if self._texts is None:
            self._texts = dict(self.db.execute("SELECT id, text FROM tokens"))
        return self._texts

    def stats(self, hook):
        cols = ", ".join(c for c in STAT_COLUMNS)
        q = f"SELECT {cols} FROM units" + (" WHERE hook = ?" if hook else "") + " ORDER BY hook, unit"
        return [dict(zip(STAT_COLUMNS, r)) for r in self.db.execute(q, (hook,) if hook else ())]

    def hist(self, hook, unit):
        r = self.db.execute("SELECT hist FROM units WHERE hook = ? AND unit = ?", (hook, unit)).fetchone()
        return None if r is None else np.frombuffer(r[0], dtype="<u8")

    def examples(self, hook, unit, kind):
        texts = self.token_texts()
        rows = self.db.execute(
            "SELECT kind, band, rank, activation, shard, win, pos, doc, start, center, tokens, acts FROM examples"
            " WHERE hook = ? AND unit = ? AND kind = ? ORDER BY band DESC, rank",
            (hook, unit, kind),
        )
        out = []
        for kind_, band, rank, act, shard, win, pos, doc, start, center, tb, ab in rows:
            toks = np.frombuffer(tb, dtype="<i4").tolist()
            out.append(dict(kind=kind_, band=band, rank=rank, activation=act, shard=shard, window=win, pos=pos, doc=doc,
                            start=start, center=center, tokens=toks, text=[texts.get(t, "") for t in toks],
                            acts=np.frombuffer(ab, dtype="<f4").tolist()))
        return out

    def labels(self):
        have = self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'explain_units'").fetchone()
        if not have:
            return []
        cols = ["hook", "unit", "label", "score", "held_out", "llm_model", "llm_label", "llm_score"]
        return [dict(zip(cols, r)) for r in self.db.execute(f"SELECT {', '.join(cols)} FROM explain_units ORDER BY hook, unit")]


class _SQLiteReaderV2(_SQLiteReader):
    """Layout 2: examples blobs and shared token windows."""

    POS_BITS, WINDOW_BITS, NUM_BINS = 13, 35, 163

    def __init__(self, path):
        super().__init__(path)
        self.radius = int(self.meta.get("radius", "15"))
        self._windows = {}

    def hist(self, hook, unit):
        r = self.db.execute("SELECT hist FROM units WHERE hook = ? AND unit = ?", (hook, unit)).fetchone()
        if r is None:
            return None
        out, off, nxt, b = np.zeros(self.NUM_BINS, dtype=np.uint64), 0, 0, r[0]

        def uvarint():
            nonlocal off
            v, shift = 0, 0
            while True:
                c = b[off]
                off += 1
                v |= (c & 0x7F) << shift
                if c < 0x80:
                    return v
                shift += 7

        while off < len(b):
            nxt += uvarint()
            out[nxt] = uvarint()
            nxt += 1
        return out

    def _window(self, wid):
        if wid not in self._windows:
            r = self.db.execute("SELECT tokens, docs FROM windows WHERE id = ?", (wid,)).fetchone()
            if r is None:
                raise AtlasError(f"the atlas holds no window {wid}, which an example points into: it is damaged")
            self._windows[wid] = (np.frombuffer(r[0], "<i4"), np.frombuffer(r[1], "<i8"))
        return self._windows[wid]

    def examples(self, hook, unit, kind):
        import struct

        r = self.db.execute("SELECT blob FROM examples WHERE hook = ? AND unit = ?", (hook, unit)).fetchone()
        if r is None:
            return []
        blob, texts = r[0], self.token_texts()
        _, n_top, n_rnd, n_bands = struct.unpack_from("<BHHH", blob, 0)
        off, groups = 7, []
        for _ in range(n_bands):
            groups.append(struct.unpack_from("<iH", blob, off))
            off += 6
        order = [("top", 0, i) for i in range(n_top)] + [("random", 0, i) for i in range(n_rnd)]
        order += [("band", octave, i) for octave, n in groups for i in range(n)]
        out = []
        for kind_, band, rank in order:
            act, key = struct.unpack_from("<fQ", blob, off)
            off += 12
            if kind_ != "top":
                off += 8  # the sampling hash
            (n,) = struct.unpack_from("<H", blob, off)
            off += 2
            acts = np.frombuffer(blob, "<f4", n, off).tolist()
            off += 4 * n
            if kind_ != kind:
                continue
            shard, win, pos = key >> (self.POS_BITS + self.WINDOW_BITS), (key >> self.POS_BITS) & ((1 << self.WINDOW_BITS) - 1), key & ((1 << self.POS_BITS) - 1)
            toks_all, docs = self._window(key >> self.POS_BITS)
            start = max(0, pos - self.radius)
            toks = toks_all[start:start + n].tolist()
            out.append(dict(kind=kind_, band=band, rank=rank, activation=0.0 if act == 0 else act, shard=shard, window=win, pos=pos,
                            doc=int(docs[pos]), start=start, center=pos - start, tokens=toks, text=[texts.get(t, "") for t in toks], acts=acts))
        if kind == "band":
            out.sort(key=lambda e: (-e["band"], e["rank"]))
        return out


class _ExportReader:
    """Whatever layout the binary reads, through `glia atlas export --format jsonl`."""

    def __init__(self, path, binary):
        from .client import _find_binary

        out = subprocess.run([_find_binary(binary), "atlas", "export", "--db", str(path), "--format", "jsonl"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise AtlasError(f"glia atlas export --db {path}: {out.stderr.strip()}")
        self.units = {}
        for line in out.stdout.splitlines():
            if line.strip():
                u = json.loads(line)
                self.units[(u["hook"], u["unit"])] = u
        # The export has no meta table; settings are in each line (threshold).
        self.meta = {}

    def close(self):
        pass

    def stats(self, hook):
        return [{c: u.get(c) for c in STAT_COLUMNS} for (h, _), u in sorted(self.units.items()) if not hook or h == hook]

    def hist(self, hook, unit):
        u = self.units.get((hook, unit))
        return None if u is None else np.asarray(u["hist"], dtype=np.uint64)

    def examples(self, hook, unit, kind):
        u = self.units.get((hook, unit))
        if u is None:
            return []
        if kind == "band":
            rows = []
            for b in sorted(u.get("bands") or [], key=lambda b: -b.get("octave", 0)):
                for e in b.get("examples") or []:
                    rows.append(dict(e, kind="band", band=b.get("octave")))
        else:
            rows = [dict(e, kind=kind, band=0) for e in u.get(kind) or []]
        return [{c: e.get(c) for c in EXAMPLE_COLUMNS} for e in rows]

    def labels(self):
        return []


class Atlas:
    """A neuron atlas: unit statistics, examples and labels.

        atlas = glia.Atlas("atlas.db")
        atlas.units("blocks.0.mlp.hook_post")     # statistics: DataFrame with pandas, else a list of dicts
        atlas.top("blocks.0.mlp.hook_post", 66)   # top examples, best first
        atlas.labels()                            # glia explain's labels, if it has run

    reader: "auto" (sqlite3 for a layout this package knows, else the
    binary's export), "sqlite" or "export". binary: as for Model.load.
    """

    def __init__(self, path, reader="auto", binary=None):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise AtlasError(f"no atlas at {self.path}")
        if reader not in ("auto", "sqlite", "export"):
            raise ValueError(f"reader {reader!r}: want auto, sqlite or export")
        self._r = None
        if reader in ("auto", "sqlite"):
            try:
                r = _SQLiteReader(self.path)
                version = r.meta.get("schema_version")
                if version == "2":
                    r.close()
                    r = _SQLiteReaderV2(self.path)
                if version in SQLITE_VERSIONS:
                    self._r = r
                else:
                    r.close()
                    if reader == "sqlite":
                        raise AtlasError(f"{self.path}: atlas layout {version}; this package reads {sorted(SQLITE_VERSIONS)} with sqlite3 (use reader='export')")
            except sqlite3.Error as e:
                if reader == "sqlite":
                    raise AtlasError(f"{self.path}: {e}") from None
        if self._r is None:
            self._r = _ExportReader(self.path, binary)
        self.reader = "sqlite" if isinstance(self._r, _SQLiteReader) else "export"

    @property
    def meta(self):
        """The meta table as strings (settings and corpus are JSON)."""
        return dict(self._r.meta)

    @property
    def hooks(self):
        """The hooks the atlas records, in order."""
        return sorted({s["hook"] for s in self._r.stats(None)})

    def units(self, hook=None):
        """Statistics of every unit (of one hook): count, mean, var, std,
        min, max, n_pos, n_above, density, density_above."""
        return _frame(self._r.stats(hook), STAT_COLUMNS)

    def unit(self, hook, unit):
        """One unit's statistics as a dict, with its histogram."""
        rows = [s for s in self._r.stats(hook) if s["unit"] == unit]
        if not rows:
            raise AtlasError(f"{self.path} has no unit {hook}:{unit}")
        return dict(rows[0], hist=self._r.hist(hook, unit))

    def examples(self, hook, unit, kind="top", k=None):
        """A unit's examples of one kind (top, random or band), as stored:
        rank, activation, the window's tokens, their text, and the unit's
        activation at each (acts). Top examples come best first."""
        rows = self._r.examples(hook, unit, kind)
        if not rows:
            self.unit(hook, unit)  # says so when the unit is absent
        return _frame(rows[:k] if k else rows, EXAMPLE_COLUMNS)

    def top(self, hook, unit, k=None):
        """The top activating examples of a unit (k of them; None: all)."""
        return self.examples(hook, unit, "top", k)

    def labels(self):
        """glia explain's labels (hook, unit, label, score, ...); empty before it has run."""
        return _frame(self._r.labels(), ["hook", "unit", "label", "score", "held_out", "llm_model", "llm_label", "llm_score"])

    def close(self):
        self._r.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<glia.Atlas {self.path} ({self.reader})>"
