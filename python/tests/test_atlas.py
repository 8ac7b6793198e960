"""glia.Atlas on an atlas the binary builds, against `glia atlas show --json`."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import glia

GLIA_BIN = os.environ.get("GLIA_BIN", "")
HOOK = "blocks.0.mlp.hook_post"

pytestmark = pytest.mark.skipif(
    not (GLIA_BIN and os.access(GLIA_BIN, os.X_OK)),
    reason="$GLIA_BIN is not set to an executable glia binary (go build -o bin/glia ./cmd/glia; .ci/run does this)",
)


def glia_cli(*args):
    return subprocess.run([GLIA_BIN, *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def atlas_path(tmp_path_factory):
    """A small atlas of the embedded model (2048 tokens, one hook; 0.1 s), labelled by glia explain."""
    path = tmp_path_factory.mktemp("atlas") / "a.db"
    glia_cli("atlas", "build", "--out", str(path), "--hooks", HOOK, "--max-tokens", "2048", "--ctx", "64",
             "--top-k", "4", "--random-k", "2", "--bands", "2", "--band-k", "1", "--window", "3")
    glia_cli("explain", "--db", str(path), "--all")
    return path


def as_rows(x):
    """A DataFrame (pandas installed) or a list of dicts, as a list of dicts."""
    return x.to_dict("records") if hasattr(x, "to_dict") else x


@pytest.mark.parametrize("reader", ["sqlite", "export"])
def test_atlas_matches_show(atlas_path, reader):
    with glia.Atlas(atlas_path, reader=reader) as atlas:
        assert atlas.reader == reader
        assert atlas.hooks == [HOOK]
        stats = as_rows(atlas.units(HOOK))
        assert [s["unit"] for s in stats] == list(range(len(stats))) and len(stats) > 100
        # The unit that fired hardest, and one other.
        hardest = max(stats, key=lambda s: s["max"])["unit"]
        for unit in (hardest, 7):
            want = json.loads(glia_cli("atlas", "show", "--db", str(atlas_path), "--json", f"{HOOK}:{unit}"))
            got = atlas.unit(HOOK, unit)
            for k in ("count", "mean", "var", "std", "min", "max", "n_pos", "n_above", "density", "density_above"):
                assert got[k] == pytest.approx(want[k], rel=1e-12), k
            assert got["hist"].tolist() == want["hist"]
            top = as_rows(atlas.top(HOOK, unit))
            assert len(top) == len(want["top"]) == 4
            for g, w in zip(top, want["top"]):
                assert list(g["tokens"]) == w["tokens"] and list(g["text"]) == w["text"]
                assert g["activation"] == pytest.approx(w["activation"], rel=1e-6)
                np.testing.assert_allclose(g["acts"], w["acts"], rtol=1e-6)
                assert g["acts"][g["center"]] == pytest.approx(g["activation"], rel=1e-6)
            acts = [e["activation"] for e in top]
            assert acts == sorted(acts, reverse=True) and acts[0] == pytest.approx(got["max"], rel=1e-6)
            assert len(as_rows(atlas.examples(HOOK, unit, "random"))) == len(want["random"])
            assert len(as_rows(atlas.top(HOOK, unit, k=2))) == 2
        with pytest.raises(glia.AtlasError):
            atlas.unit(HOOK, 100000)


def test_atlas_labels_and_meta(atlas_path):
    with glia.Atlas(atlas_path) as atlas:
        assert atlas.reader == "sqlite"
        assert atlas.meta["schema_version"] == "2" and atlas.meta["status"] == "complete"
        assert json.loads(atlas.meta["settings"])["top_k"] == 4
        labels = as_rows(atlas.labels())
        assert len(labels) == len(as_rows(atlas.units(HOOK)))
        assert all(l["hook"] == HOOK for l in labels)
        for unit in (3, 7):
            want = json.loads(glia_cli("explain", "--db", str(atlas_path), "--json", f"{HOOK}:{unit}"))
            got = labels[unit]
            assert got["unit"] == unit and got["label"] == want["label"]
            if want["score"] is None:  # no label worth scoring: NULL (NaN in a DataFrame)
                assert got["score"] is None or got["score"] != got["score"]
            else:
                assert got["score"] == pytest.approx(want["score"], rel=1e-12)


def test_atlas_missing(tmp_path):
    with pytest.raises(glia.AtlasError):
        glia.Atlas(tmp_path / "none.db")


def test_atlas_schema1_file(tmp_path):
    """A layout-1 atlas (atlas/testdata/v1.db, built by an older glia) reads the same through sqlite3 as through the binary."""
    # A copy: opening the committed fixture leaves SQLite's -wal/-shm files beside it.
    path = tmp_path / "v1.db"
    shutil.copyfile(os.path.join(os.path.dirname(__file__), "..", "..", "atlas", "testdata", "v1.db"), path)
    with glia.Atlas(path, reader="sqlite") as old, glia.Atlas(path, reader="export", binary=GLIA_BIN) as ref:
        assert old.meta["schema_version"] == "1"
        assert len(as_rows(old.units())) == len(as_rows(ref.units())) > 0
        for s_old, s_ref in zip(as_rows(old.units()), as_rows(ref.units())):
            assert (s_old["hook"], s_old["unit"], s_old["count"]) == (s_ref["hook"], s_ref["unit"], s_ref["count"])
            assert s_old["mean"] == pytest.approx(s_ref["mean"], rel=1e-9, abs=1e-12)
        for hook in old.hooks[:1]:
            for unit in (0, 1, 5):
                got, want = as_rows(old.top(hook, unit)), as_rows(ref.top(hook, unit))
                assert [e["tokens"] for e in got] == [e["tokens"] for e in want]
                assert [e["activation"] for e in got] == pytest.approx([e["activation"] for e in want], rel=1e-6)
