"""Fuzzing with hypothesis: corrupted, truncated and mutated PNG, JPEG, WebP and TIFF files,
random arrays, tensors and objects go to ``load_image``, the outline and a tiny random
``Pipeline``; every case gives a result or a ``FastcolorError``, nothing else.

The cases and checks are those of ``benchmarks/fuzz_inputs.py`` (its longer run is the
figure in the notes); here hypothesis picks them, a few hundred in all (< 30 s)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))
import fuzz_inputs  # noqa: E402

from fastcolor import FastcolorConfig, Pipeline  # noqa: E402
from fastcolor.errors import FastcolorError  # noqa: E402
from fastcolor.imageio import load_image  # noqa: E402

SEEDS = fuzz_inputs.seed_files()
SUFFIXES = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif"}
FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

POS = st.integers(0, 1 << 16)
MUTATION = st.one_of(
    st.tuples(st.just("flip"), POS, st.integers(0, 255)),
    st.tuples(st.just("truncate"), POS),
    st.tuples(st.just("insert"), POS, st.lists(st.integers(0, 255), min_size=1, max_size=8)),
    st.tuples(st.sampled_from(["delete", "repeat"]), POS, st.integers(1, 16)),
    st.just(("crc",)),
)


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline.random(FastcolorConfig.tiny(), seed=0)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def test_seed_files_load():
    """The files mutated below are valid to begin with, in every format."""
    assert {s for s, _ in SEEDS} == set(SUFFIXES.values())
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, data in SEEDS:
            path = Path(tmp) / f"seed{suffix}"
            path.write_bytes(data)
            arr = load_image(path)
            assert arr.shape[:2] in ((45, 67), (67, 45)), (suffix, arr.shape)


def test_mutate():
    data = bytes(range(10))
    assert fuzz_inputs.mutate(data, [("flip", 12, 255)]) == data[:2] + b"\xff" + data[3:]
    assert fuzz_inputs.mutate(data, [("truncate", 4)]) == data[:4]
    assert fuzz_inputs.mutate(data, [("insert", 1, [7, 7])]) == data[:1] + b"\x07\x07" + data[1:]
    assert fuzz_inputs.mutate(data, [("delete", 2, 3)]) == data[:2] + data[5:]
    assert fuzz_inputs.mutate(data, [("repeat", 8, 5)]) == data[:10] + data[8:]
    png = dict(SEEDS)[".png"]
    broken = fuzz_inputs.mutate(png, [("flip", 20, png[20] ^ 1)])
    assert fuzz_inputs.mutate(broken, [("crc",)]) != broken       # the IHDR CRC rewritten


@pytest.mark.parametrize("fmt", sorted(SUFFIXES))
@settings(FUZZ, max_examples=120)
@given(data=st.data(), ops=st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_files(fmt, data, ops, folder, pipe):
    seeds = [d for s, d in SEEDS if s == SUFFIXES[fmt]]
    seed = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed file")]
    err = fuzz_inputs.check_bytes(fuzz_inputs.mutate(seed, ops), SUFFIXES[fmt], folder, pipe)
    assert err is None, repr(err)


DTYPES = st.sampled_from(["uint8", "uint16", "uint32", "int8", "int64", "float16", "float32",
                          "float64", "bool", "complex64"])


@settings(FUZZ, max_examples=150)
@given(arr=hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0,
                                               max_side=12)))
def test_random_arrays(arr, pipe):
    assert fuzz_inputs.check_array(arr, pipe) is None


@settings(FUZZ, max_examples=150)
@given(arr=hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0,
                                               max_side=12)))
def test_random_tensors(arr, pipe):
    """Tensors go to the Pipeline as outlines (load_image refuses them)."""
    t = torch.from_numpy(arr) if arr.dtype != np.uint32 else torch.from_numpy(arr.astype(np.int64))
    try:
        pipe(t, seed=0)
    except FastcolorError:
        pass


@settings(FUZZ, max_examples=80)
@given(obj=st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=8),
                     st.binary(max_size=16), st.lists(st.integers(0, 255), max_size=6),
                     st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
def test_random_objects(obj, pipe):
    for call in (load_image, lambda o: pipe(o, seed=0)):
        try:
            call(obj)
        except FastcolorError:
            pass


def test_checks_report_what_is_not_a_fastcolor_error(monkeypatch, folder):
    def broken(arr, **kwargs):
        raise TypeError("a bug")

    assert fuzz_inputs.check_array(np.zeros((4, 4), np.int8)) is None    # refused: fine
    monkeypatch.setattr(fuzz_inputs.outline, "extract", broken)
    assert isinstance(fuzz_inputs.check_array(np.zeros((4, 4), np.uint8)), TypeError)
    assert isinstance(fuzz_inputs.check_bytes(dict(SEEDS)[".png"], ".png", folder), TypeError)


def test_script_json(capsys):
    import json
    result = fuzz_inputs.main(["--cases", "200", "--seed", "1", "--json"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == result
    assert result["cases"] == 200 and result["failures"] == 0 and result["seconds"] >= 0
    assert result["loaded"] > 0 and result["refused"] > 0


def test_palette_image_without_its_palette_is_refused(folder):
    """Found by benchmarks/fuzz_inputs.py: a PNG whose PLTE chunk is renamed decodes as
    a palette image without a palette; from a file it became an all-black page without a
    word, as a PIL image PIL's own assert fired. Both are an InvalidImageError now."""
    import io

    from PIL import Image

    from fastcolor.errors import InvalidImageError
    png = next(d for s, d in SEEDS if s == ".png" and b"PLTE" in d)
    pos = png.index(b"PLTE")
    broken = fuzz_inputs.mutate(png, [("flip", pos + 3, ord("M")), ("crc",)])
    path = folder / "no_palette.png"
    path.write_bytes(broken)
    with pytest.raises(InvalidImageError, match="without its palette"):
        load_image(path)
    with Image.open(io.BytesIO(broken)) as img:
        with pytest.raises(InvalidImageError, match="without its palette"):
            load_image(img)
