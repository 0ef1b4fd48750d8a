"""Tests of fastcolor.weights: save/load round trip, checksums, and every way a weight
file can be unusable (missing, corrupt, truncated, NaN, not matching its config)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from fastcolor import FastcolorConfig, Pipeline, __version__
from fastcolor.config import PixelCNNConfig
from fastcolor.errors import FastcolorError, WeightsError, WeightsNotFoundError
from fastcolor.models import FastcolorModel
from fastcolor.weights import (DEFAULT_WEIGHTS, describe, load_state_into, load_weights,
                               save_weights, tensors_sha256)


@pytest.fixture(scope="module")
def tiny_pipe() -> Pipeline:
    return Pipeline.random(FastcolorConfig.tiny(), seed=0)


@pytest.fixture
def saved(tiny_pipe, tmp_path):
    """(path, sha256) of the tiny pipeline's weights."""
    path = tmp_path / "w.safetensors"
    return path, tiny_pipe.save_pretrained(path)


def state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def write_weights(path, tensors, config: FastcolorConfig, sha256: str | None = None,
                  **extra_meta) -> None:
    """A weight file written by hand: ``tensors`` with ``config``'s metadata and the
    correct sha256 of ``tensors`` (unless given), so only the other checks can fail."""
    meta = {"fastcolor_config": config.to_json(), "fastcolor_version": __version__,
            "sha256": sha256 if sha256 is not None else tensors_sha256(tensors)}
    meta.update(extra_meta)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=meta)


# ---------------------------------------------------------------------------
# round trip
# ---------------------------------------------------------------------------


def test_round_trip(tiny_pipe, saved):
    path, digest = saved
    assert path.is_file()
    assert isinstance(digest, str) and len(digest) == 64 and int(digest, 16) >= 0
    assert digest == tensors_sha256(tiny_pipe.model.state_dict())
    assert tiny_pipe.weights_sha256 == digest

    loaded = Pipeline.from_pretrained(path)
    assert loaded.weights_sha256 == digest
    assert loaded.config == tiny_pipe.config
    assert isinstance(loaded.config, FastcolorConfig)
    a, b = tiny_pipe.model.state_dict(), loaded.model.state_dict()
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k

    # same weights -> same colors
    img = np.full((24, 40), 255, np.uint8)
    img[10, :] = 0
    np.testing.assert_array_equal(loaded(img, seed=3).image, tiny_pipe(img, seed=3).image)


def test_load_weights_returns_config_tensors_digest(tiny_pipe, saved):
    path, digest = saved
    config, tensors, got = load_weights(path)
    assert config == tiny_pipe.config
    assert got == digest
    assert set(tensors) == set(tiny_pipe.model.state_dict())


def test_non_default_config_round_trips(tmp_path):
    cfg = dataclasses.replace(FastcolorConfig.tiny(64, 16),
                              pixelcnn=dataclasses.replace(FastcolorConfig.tiny().pixelcnn,
                                                           mixtures=2, layers=2))
    p = Pipeline.random(cfg, seed=1)
    path = tmp_path / "nested" / "dir" / "w.safetensors"   # parent dirs created
    digest = p.save_pretrained(path)
    q = Pipeline.from_pretrained(path)
    assert q.config == cfg and q.config.pixelcnn.mixtures == 2
    assert q.weights_sha256 == digest
    assert not (path.parent / (path.name + ".tmp")).exists()


def test_save_overwrites(tmp_path):
    path = tmp_path / "w.safetensors"
    d0 = Pipeline.random(FastcolorConfig.tiny(), seed=0).save_pretrained(path)
    d1 = Pipeline.random(FastcolorConfig.tiny(), seed=1).save_pretrained(path)
    assert d0 != d1
    assert Pipeline.from_pretrained(path).weights_sha256 == d1


def test_float64_pipeline_saves_float64_and_loads_into_requested_dtype(tmp_path):
    p = Pipeline.random(FastcolorConfig.tiny(), seed=0, dtype=torch.float64)
    path = tmp_path / "w64.safetensors"
    digest = p.save_pretrained(path)
    q = Pipeline.from_pretrained(path, sha256=digest, dtype=torch.float64)
    for k, v in q.model.state_dict().items():
        assert torch.equal(v, p.model.state_dict()[k]), k


def test_expected_sha256(saved):
    path, digest = saved
    assert Pipeline.from_pretrained(path, sha256=digest).weights_sha256 == digest
    assert Pipeline.from_pretrained(path, sha256=digest.upper()).weights_sha256 == digest
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    with pytest.raises(WeightsError, match="expected"):
        Pipeline.from_pretrained(path, sha256=wrong)
    with pytest.raises(WeightsError):
        load_weights(path, expected_sha256="not-a-digest")


# ---------------------------------------------------------------------------
# missing
# ---------------------------------------------------------------------------


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(WeightsNotFoundError) as info:
        Pipeline.from_pretrained(missing)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, WeightsError) and isinstance(info.value, FastcolorError)
    assert "nope.safetensors" in str(info.value)
    with pytest.raises(FileNotFoundError):
        load_weights(str(missing))
    with pytest.raises(WeightsNotFoundError):
        Pipeline.from_pretrained(tmp_path)     # a directory is not a weights file


def test_shipped_default_weights_load():
    pipe = Pipeline.from_pretrained()
    assert pipe.weights_sha256 and DEFAULT_WEIGHTS.is_file()
    image = pipe(str(DEFAULT_WEIGHTS.parents[2] / "examples" / "panel_house.png"), seed=0).image
    assert image.dtype == np.uint8 and image.ndim == 3


def test_no_default_weights(monkeypatch, tmp_path):
    """An installation without its weight file says so and how to go on."""
    monkeypatch.setattr("fastcolor.pipeline.DEFAULT_WEIGHTS", tmp_path / "default.safetensors")
    with pytest.raises(WeightsNotFoundError) as info:
        Pipeline.from_pretrained()
    msg = str(info.value)
    assert "default weights" in msg and "pass a weights file" in msg and str(tmp_path) in msg
    assert isinstance(info.value, FileNotFoundError)


# ---------------------------------------------------------------------------
# corrupt files
# ---------------------------------------------------------------------------


def test_random_bytes(tmp_path):
    path = tmp_path / "random.safetensors"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(WeightsError, match="safetensors"):
        Pipeline.from_pretrained(path)


@pytest.mark.parametrize("content", [b"", b"\x00" * 7, b"\x08" + b"\x00" * 7 + b"{}      "])
def test_empty_or_tiny_file(tmp_path, content):
    path = tmp_path / "small.safetensors"
    path.write_bytes(content)
    with pytest.raises(WeightsError):
        Pipeline.from_pretrained(path)


def test_truncated_file(saved, tmp_path):
    path, _ = saved
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 1, 16):
        bad = tmp_path / f"trunc{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(WeightsError):
            Pipeline.from_pretrained(bad)


@pytest.mark.parametrize("offset", [1, 3, 100])
def test_flipped_byte_in_tensor_data(saved, tmp_path, offset):
    path, _ = saved
    data = bytearray(path.read_bytes())
    header_len = int.from_bytes(data[:8], "little")
    pos = len(data) - offset
    assert pos >= 8 + header_len, "the flipped byte must lie in the tensor data"
    data[pos] ^= 0x01
    bad = tmp_path / "flipped.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt") as info:
        Pipeline.from_pretrained(bad)
    assert "sha256" in str(info.value)


def test_no_fastcolor_metadata(tiny_pipe, tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file(state(tiny_pipe.model), str(path))
    with pytest.raises(WeightsError, match="metadata"):
        Pipeline.from_pretrained(path)
    # metadata without the sha256
    path2 = tmp_path / "nosha.safetensors"
    save_file(state(tiny_pipe.model), str(path2),
              metadata={"fastcolor_config": tiny_pipe.config.to_json()})
    with pytest.raises(WeightsError, match="sha256"):
        Pipeline.from_pretrained(path2)


@pytest.mark.parametrize("config_text", [
    "{not json",
    "",
    '{"image_size": 32, "lowres_size": 8, "bogus_field": 1}',
    '{"pixelcnn": {"channels": 8, "unknown": 3}}',
    '{"image_size": 30, "lowres_size": 8}',
    '{"image_size": "big"}',
    '{"pixelcnn": 5}',
    '{"conditioning": "ab"}',
    "[1, 2, 3]",
    "null",
    '"a string"',
])
def test_bad_config_metadata(tiny_pipe, tmp_path, config_text):
    tensors = state(tiny_pipe.model)
    path = tmp_path / "badcfg.safetensors"
    save_file(tensors, str(path), metadata={"fastcolor_config": config_text,
                                            "sha256": tensors_sha256(tensors)})
    with pytest.raises(WeightsError, match="config"):
        Pipeline.from_pretrained(path)


# ---------------------------------------------------------------------------
# NaN / Inf
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_save_refuses_non_finite(tmp_path, bad):
    p = Pipeline.random(FastcolorConfig.tiny(), seed=0)
    name, param = next(iter(p.model.named_parameters()))
    with torch.no_grad():
        param.view(-1)[0] = bad
    path = tmp_path / "nan.safetensors"
    with pytest.raises(WeightsError, match="NaN") as info:
        p.save_pretrained(path)
    assert name in str(info.value)
    assert not path.exists()


def test_load_refuses_nan_with_valid_checksum(tiny_pipe, tmp_path):
    tensors = state(tiny_pipe.model)
    name = sorted(tensors)[len(tensors) // 2]
    tensors[name].view(-1)[-1] = float("nan")
    path = tmp_path / "nan.safetensors"
    write_weights(path, tensors, tiny_pipe.config)   # sha256 of the NaN tensors: it matches
    with pytest.raises(WeightsError, match="NaN") as info:
        Pipeline.from_pretrained(path)
    assert name in str(info.value)


# ---------------------------------------------------------------------------
# weights that do not fit their config
# ---------------------------------------------------------------------------


def test_metadata_of_another_config(tiny_pipe, tmp_path):
    other = dataclasses.replace(tiny_pipe.config,
                                pixelcnn=PixelCNNConfig(channels=16, layers=4, first_kernel=3,
                                                        kernel=3, head_channels=8, mixtures=3,
                                                        cond_channels=8))
    path = tmp_path / "other.safetensors"
    write_weights(path, state(tiny_pipe.model), other)
    with pytest.raises(WeightsError, match="do not match") as info:
        Pipeline.from_pretrained(path)
    msg = str(info.value)
    assert "missing" in msg          # layers 4 > 3: a block's tensors are missing
    assert "wrong shape" in msg      # channels 16 != 8
    assert "lowres.pixelcnn" in msg


def test_missing_tensor(tiny_pipe, tmp_path):
    tensors = state(tiny_pipe.model)
    dropped = sorted(tensors)[-1]
    del tensors[dropped]
    path = tmp_path / "dropped.safetensors"
    write_weights(path, tensors, tiny_pipe.config)
    with pytest.raises(WeightsError, match="missing") as info:
        Pipeline.from_pretrained(path)
    assert dropped in str(info.value)


def test_unexpected_tensor(tiny_pipe, tmp_path):
    tensors = state(tiny_pipe.model)
    tensors["extra.weight"] = torch.zeros(3)
    path = tmp_path / "extra.safetensors"
    write_weights(path, tensors, tiny_pipe.config)
    with pytest.raises(WeightsError, match="unexpected") as info:
        Pipeline.from_pretrained(path)
    assert "extra.weight" in str(info.value)


def test_reshaped_tensor(tiny_pipe, tmp_path):
    tensors = state(tiny_pipe.model)
    name = next(k for k in sorted(tensors) if tensors[k].dim() == 4)
    tensors[name] = tensors[name].reshape(tensors[name].shape[0], -1)
    path = tmp_path / "reshaped.safetensors"
    write_weights(path, tensors, tiny_pipe.config)
    with pytest.raises(WeightsError, match="wrong shape") as info:
        Pipeline.from_pretrained(path)
    assert name in str(info.value)


def test_load_state_into_lists_many_problems():
    model = FastcolorModel(FastcolorConfig.tiny())
    tensors = state(model)
    names = sorted(tensors)
    for k in names[:7]:
        del tensors[k]
    with pytest.raises(WeightsError, match=r"\+2 more"):
        load_state_into(model, tensors)


# ---------------------------------------------------------------------------
# tensors_sha256
# ---------------------------------------------------------------------------


def test_tensors_sha256_order_independent():
    model = FastcolorModel(FastcolorConfig.tiny())
    tensors = state(model)
    reordered = dict(reversed(list(tensors.items())))
    assert list(reordered) != list(tensors)
    assert tensors_sha256(reordered) == tensors_sha256(tensors)
    # non-contiguous views hash like their contiguous copies
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert tensors_sha256({"a": t.t()}) == tensors_sha256({"a": t.t().contiguous()})


def test_tensors_sha256_changes_with_any_value():
    model = FastcolorModel(FastcolorConfig.tiny())
    tensors = state(model)
    base = tensors_sha256(tensors)
    rng = np.random.default_rng(0)
    names = sorted(tensors)
    for name in [names[0], names[-1], names[len(names) // 2]]:
        t = tensors[name]
        i = int(rng.integers(t.numel()))
        changed = dict(tensors)
        c = t.clone()
        flat = c.view(-1)
        flat[i] = torch.nextafter(flat[i], torch.tensor(float("inf")))   # one ulp
        changed[name] = c
        assert tensors_sha256(changed) != base, name
    # a renamed tensor, a changed dtype or a changed shape also change it
    k = names[0]
    renamed = {("x" + n if n == k else n): v for n, v in tensors.items()}
    assert tensors_sha256(renamed) != base
    assert tensors_sha256({**tensors, k: tensors[k].double()}) != base
    k4 = next(n for n in names if tensors[n].dim() == 4)
    assert tensors_sha256({**tensors, k4: tensors[k4].reshape(-1)}) != base
    assert tensors_sha256({}) != base


def test_tensors_sha256_is_stable():
    t = {"a": torch.tensor([1.0, 2.0]), "b": torch.zeros(0)}
    assert tensors_sha256(t) == tensors_sha256({"b": torch.zeros(0), "a": torch.tensor([1.0, 2.0])})
    assert len(tensors_sha256(t)) == 64


def test_save_weights_metadata(tiny_pipe, tmp_path):
    from safetensors import safe_open
    path = tmp_path / "w.safetensors"
    digest = save_weights(tiny_pipe.model, path)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["sha256"] == digest
    assert meta["fastcolor_version"] == __version__
    assert FastcolorConfig.from_json(meta["fastcolor_config"]) == tiny_pipe.config
    assert json.loads(meta["fastcolor_config"])["lowres_size"] == 8


def test_describe_lists_stages(tiny_pipe):
    text = describe(tiny_pipe.model)
    for stage in ("conditioning", "adaptation", "PixelCNN", "detector", "polishing", "total"):
        assert stage in text
    assert len(text.splitlines()) == 6
