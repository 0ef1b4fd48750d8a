"""TensorRT engines: build, metadata, run, Pipeline(backend="tensorrt").

These need the ``tensorrt`` package (and so an NVIDIA GPU); the whole module is skipped,
with that reason, only where ``import tensorrt`` fails. The engines are built from the
tiny config (32 x 32 working size), once per module.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

trt = pytest.importorskip(
    "tensorrt", reason="tensorrt cannot be imported (pip install tensorrt on a machine with "
                       "an NVIDIA GPU): the TensorRT build and run tests need it")

from fastcolor import FastcolorConfig, Pipeline  # noqa: E402
from fastcolor.engines import (STAGES, EngineError, EngineMetadata, EngineMismatchError,  # noqa: E402
                               ShapeProfile, TensorRTBackend, build_engine, engine_paths,
                               example_inputs, export_stages, load_engine)
from fastcolor.errors import InvalidInputError  # noqa: E402
from fastcolor.weights import tensors_sha256  # noqa: E402

HOUSE = Path(__file__).resolve().parent.parent / "examples" / "panel_house.png"
PROFILE = ShapeProfile.make("1x16x16", "2x32x32", "4x64x64")


@pytest.fixture(scope="module")
def cpu_pipe() -> Pipeline:
    return Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="reference")


@pytest.fixture(scope="module")
def engine_dir(tmp_path_factory, cpu_pipe) -> Path:
    out = tmp_path_factory.mktemp("engines")
    built = build_engine(cpu_pipe, out, stages=STAGES, profile=PROFILE, precision="fp32")
    assert set(built) == set(STAGES)
    return out


def _eager(pipe, stage, inputs):
    m = pipe.model
    with torch.no_grad():
        if stage == "conditioning":
            return m.lowres.condition(*inputs)
        if stage == "detector":
            return m.detector.probability(*inputs)
        return m.polisher(*inputs)


def test_build_writes_engines_metadata_and_timing_cache(engine_dir, cpu_pipe):
    sha = tensors_sha256(cpu_pipe.model.state_dict())
    major, minor = torch.cuda.get_device_capability()
    for stage in STAGES:
        engine, meta_path = engine_paths(engine_dir, stage)
        assert engine.stat().st_size > 0
        meta = EngineMetadata.read(meta_path)
        assert meta.stage == stage and meta.precision == "fp32"
        assert meta.weights_sha256 == sha
        assert meta.tensorrt_version == trt.__version__
        assert meta.gpu_name == torch.cuda.get_device_name()
        assert meta.compute_capability == f"{major}.{minor}"
        want = PROFILE if stage != "conditioning" else ShapeProfile.make(
            "1x32x32", "2x32x32", "4x32x32")
        assert meta.profile == want
        assert meta.extra["max_abs_error_vs_torch"] <= 1e-4
        assert (engine_dir / meta.extra["onnx_file"]).is_file()
    assert (engine_dir / "timing.cache").stat().st_size > 0


@pytest.mark.parametrize("batch, h, w", [(1, 32, 32), (3, 37, 53), (2, 64, 48), (1, 16, 17)])
@pytest.mark.parametrize("stage", ["detector", "polisher"])
def test_engine_matches_torch(engine_dir, cpu_pipe, stage, batch, h, w):
    runner = load_engine(engine_dir, stage, weights_sha256=tensors_sha256(
        cpu_pipe.model.state_dict()), device="cuda")
    inputs = example_inputs(cpu_pipe.config, stage, batch, h, w, seed=batch * h)
    ref = _eager(cpu_pipe, stage, inputs)
    got = runner(*[t.cuda() for t in inputs])
    assert got.is_cuda and got.dtype == torch.float32
    assert float((got.cpu() - ref).abs().max()) <= 1e-4


def test_engine_batches_beyond_the_profile(engine_dir, cpu_pipe):
    """Batch 6 > max batch 4: two chunks (4, then 2); batch equals single runs."""
    runner = load_engine(engine_dir, "polisher",
                         weights_sha256=tensors_sha256(cpu_pipe.model.state_dict()))
    inputs = example_inputs(cpu_pipe.config, "polisher", 6, 32, 32, seed=3)
    got = runner(*[t.cuda() for t in inputs]).cpu()
    assert got.shape == (6, 3, 32, 32)
    assert float((got - _eager(cpu_pipe, "polisher", inputs)).abs().max()) <= 1e-4
    with pytest.raises(InvalidInputError, match="Rebuild it with --min/--max"):
        runner(*[t[:, :, :8, :8].cuda() for t in inputs])
    with pytest.raises(InvalidInputError, match="Rebuild it with --min/--max"):
        runner(*[torch.zeros(1, t.shape[1], 80, 32, device="cuda") for t in inputs])


def test_pipeline_tensorrt_equals_reference(engine_dir):
    ref = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="reference", device="cuda")
    pipe = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="tensorrt", device="cuda",
                           engine_dir=engine_dir)
    assert isinstance(pipe.backend, TensorRTBackend)
    assert set(pipe.backend.engine_stages) == set(STAGES)
    a = ref(str(HOUSE), seed=5)
    b = pipe(str(HOUSE), seed=5)
    np.testing.assert_array_equal(a.lowres, b.lowres)
    diff = np.abs(a.image.astype(np.int16) - b.image.astype(np.int16)).max(axis=2)
    assert (diff <= 1).mean() >= 0.999
    assert np.all((a.background_mask != b.background_mask)[diff > 1])


def test_engines_of_other_weights_are_refused(engine_dir):
    with pytest.raises(EngineMismatchError, match="weights sha256"):
        Pipeline.random(FastcolorConfig.tiny(), seed=1, backend="tensorrt", device="cuda",
                        engine_dir=engine_dir)


@pytest.mark.parametrize("field, value, words", [
    ("tensorrt_version", "0.0.1", "TensorRT version: built for 0.0.1"),
    ("gpu_name", "Some Other GPU", "GPU: built for Some Other GPU"),
    ("compute_capability", "1.0", "compute capability: built for 1.0"),
    ("fastcolor_version", "0.0.0", "fastcolor version: built for 0.0.0"),
])
def test_engines_of_another_environment_are_refused(engine_dir, tmp_path, field, value, words):
    copy = tmp_path / "engines"
    shutil.copytree(engine_dir, copy)
    meta_path = engine_paths(copy, "detector")[1]
    d = json.loads(meta_path.read_text())
    d[field] = value
    meta_path.write_text(json.dumps(d))
    with pytest.raises(EngineMismatchError, match=words):
        Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="tensorrt", device="cuda",
                        engine_dir=copy)


def test_tensorrt_backend_options(tmp_path):
    with pytest.raises(InvalidInputError, match="engine_dir"):
        Pipeline.random(FastcolorConfig.tiny(), backend="tensorrt", device="cuda")
    with pytest.raises(EngineError, match="no engines"):
        Pipeline.random(FastcolorConfig.tiny(), backend="tensorrt", device="cuda",
                        engine_dir=tmp_path)


def test_build_from_exported_onnx_reuses_timing_cache(tmp_path, cpu_pipe, engine_dir):
    onnx_dir = tmp_path / "onnx"
    export_stages(cpu_pipe, onnx_dir, ["detector"])
    out = tmp_path / "eng"
    cache = engine_dir / "timing.cache"
    before = cache.stat().st_size
    built = build_engine(cpu_pipe, out, stages=["detector"], profile=PROFILE,
                         onnx_dir=onnx_dir, timing_cache=cache)
    assert built["detector"].is_file() and cache.stat().st_size >= before
    assert not (out / "timing.cache").exists()
    other = Pipeline.random(FastcolorConfig.tiny(), seed=1)
    with pytest.raises(EngineMismatchError, match="weights sha256"):
        build_engine(other, tmp_path / "eng2", stages=["detector"], profile=PROFILE,
                     onnx_dir=onnx_dir)


def test_fp16_engine(tmp_path, cpu_pipe):
    build_engine(cpu_pipe, tmp_path, stages=["detector"], profile=PROFILE, precision="fp16")
    meta = EngineMetadata.read(engine_paths(tmp_path, "detector")[1])
    assert meta.precision == "fp16" and (tmp_path / "detector.fp16.onnx").is_file()
    assert meta.extra["max_abs_error_vs_torch"] <= 2e-2
