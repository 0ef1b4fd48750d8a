"""Tests of fastcolor.engines: ONNX export, the ONNX Runtime backend, shape profiles and
engine metadata (TensorRT itself: tests/test_engines_tensorrt.py).

Most tests use the tiny config (U-Net depth 3: inputs padded to a multiple of 8); one
exports the default config's detector (depth 6: a multiple of 64) at an odd size. The
ONNX Runtime pipeline exports its three stages once (module fixture) into a cache folder
that later tests also use as a folder of "user-exported" files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from fastcolor import FastcolorConfig, Pipeline
from fastcolor.cli import main
from fastcolor.engines import (STAGES, EngineError, EngineMetadata, EngineMismatchError,
                               OnnxRuntimeBackend, ShapeProfile, check_metadata, check_onnx,
                               default_cache_dir, engine_paths, example_inputs, export_onnx,
                               onnx_filename, parse_shape, read_onnx_metadata, stage_graph,
                               stage_profile)
from fastcolor.engines.onnx_export import EXPORT_FORMAT
from fastcolor.engines.ort_backend import OrtStage
from fastcolor.errors import BackendUnavailableError, InvalidInputError
from fastcolor.weights import tensors_sha256

HOUSE = Path(__file__).resolve().parent.parent / "examples" / "panel_house.png"
TOL = 1e-4


def _have_tensorrt() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ref_pipe() -> Pipeline:
    return Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="reference")


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx_cache")


@pytest.fixture(scope="module")
def ort_pipe(cache_root) -> Pipeline:
    """The same weights as ``ref_pipe`` through ONNX Runtime; every stage exported now."""
    pipe = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="onnxruntime",
                           cache_dir=cache_root)
    for stage in STAGES:
        pipe.backend.session(stage)
    return pipe


@pytest.fixture(scope="module")
def onnx_dir(ort_pipe) -> Path:
    """Folder of the three exported files (the export cache of ``ort_pipe``)."""
    return ort_pipe.backend.cache_dir


def _sessions(onnx_dir):
    return {s: OrtStage(onnx_dir / onnx_filename(s), s, ["CPUExecutionProvider"])
            for s in STAGES}


@pytest.fixture(scope="module")
def sessions(onnx_dir):
    return _sessions(onnx_dir)


# ---------------------------------------------------------------------------
# export: onnx.checker, metadata, dynamic axes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_exported_graph_passes_checker(onnx_dir, ref_pipe, stage):
    path = onnx_dir / onnx_filename(stage)
    onnx.checker.check_model(str(path), full_check=True)
    meta = check_onnx(path, stage=stage)
    assert meta["stage"] == stage and meta["precision"] == "fp32"
    assert meta["weights_sha256"] == tensors_sha256(ref_pipe.model.state_dict())
    assert meta["export_format"] == EXPORT_FORMAT
    assert FastcolorConfig.from_json(meta["config"]) == ref_pipe.config
    proto = onnx.load(str(path))
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
            for i in proto.graph.input]
    S = ref_pipe.config.image_size
    for d in dims:
        assert d[0] == "batch"
        assert d[2:] == (["height", "width"] if stage != "conditioning" else [S, S])
    out = [d.dim_param or d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    assert out[0] == "batch"
    if stage != "conditioning":
        assert out[2:] == ["height", "width"]
    # the padding amount is computed from the input's shape inside the graph
    ops = {n.op_type for n in proto.graph.node}
    if stage != "conditioning":
        assert {"Pad", "Shape", "Slice"} <= ops


def test_check_onnx_rejects_other_files(tmp_path, onnx_dir):
    with pytest.raises(EngineError, match="no ONNX file"):
        check_onnx(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with pytest.raises(EngineError, match="onnx.checker|not a readable"):
        check_onnx(bad)
    # a valid ONNX graph that is not a fastcolor export
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    plain = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]),
        opset_imports=[onnx.helper.make_opsetid("", 18)])
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    with pytest.raises(EngineError, match="not a fastcolor export"):
        check_onnx(tmp_path / "plain.onnx")
    with pytest.raises(EngineMismatchError, match="holds stage 'detector', not 'polisher'"):
        check_onnx(onnx_dir / "detector.onnx", stage="polisher")


# ---------------------------------------------------------------------------
# ONNX Runtime against PyTorch eager
# ---------------------------------------------------------------------------


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape and a.dtype == b.dtype
    return float((a - b).abs().max())


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("size", [(32, 32), (37, 53), (64, 48)])
@pytest.mark.parametrize("stage", ["detector", "polisher"])
def test_ort_matches_torch_unets(sessions, ref_pipe, stage, size, batch):
    h, w = size
    inputs = example_inputs(ref_pipe.config, stage, batch, h, w, seed=h * w + batch)
    model = ref_pipe.model
    with torch.no_grad():
        ref = model.detector.probability(*inputs) if stage == "detector" \
            else model.polisher(*inputs)
    got = sessions[stage](*inputs)
    assert got.shape == (batch, 1 if stage == "detector" else 3, h, w)
    assert _max_err(got, ref) <= TOL


@pytest.mark.parametrize("batch", [1, 3])
def test_ort_matches_torch_conditioning(sessions, ref_pipe, batch):
    (outline,) = example_inputs(ref_pipe.config, "conditioning", batch, seed=batch)
    with torch.no_grad():
        ref = ref_pipe.model.lowres.condition(outline)
    got = sessions["conditioning"](outline)
    s = ref_pipe.config.lowres_size
    assert got.shape == (batch, ref_pipe.config.conditioning.out_channels, s, s)
    assert _max_err(got, ref) <= TOL


def test_ort_conditioning_with_color_prior(tmp_path):
    """A model with a color prior (``models.color_prior``) exports its conditioning with
    the prior's injected features."""
    import dataclasses
    cfg = FastcolorConfig.tiny()
    cfg = dataclasses.replace(cfg, conditioning=dataclasses.replace(
        cfg.conditioning, prior_widths=(4, 8, 8), prior_dilations=(1, 2)))
    pipe = Pipeline.random(cfg, seed=0, backend="reference")
    with torch.no_grad():
        pipe.model.lowres.prior.inject.weight.normal_()
    path = export_onnx(pipe, "conditioning", tmp_path / onnx_filename("conditioning"))
    (outline,) = example_inputs(cfg, "conditioning", 2, seed=3)
    with torch.no_grad():
        ref = pipe.model.lowres.condition(outline)
        without = pipe.model.lowres.adaptation(pipe.model.lowres.conditioning(outline))
    got = OrtStage(path, "conditioning", ["CPUExecutionProvider"])(outline)
    assert _max_err(got, ref) <= TOL and _max_err(got, without) > 100 * TOL


def test_ort_pipeline_paints_the_prior_colors_as_torch(tmp_path):
    """The onnxruntime backend takes the conditioning from its graph and the prior's
    colors from PyTorch (step 2's two outputs); the page equals the reference backend's."""
    import dataclasses
    cfg = FastcolorConfig.tiny()
    cfg = dataclasses.replace(cfg, conditioning=dataclasses.replace(
        cfg.conditioning, prior_widths=(4, 8, 8), prior_dilations=(1, 2)))
    ref = Pipeline.random(cfg, seed=0, backend="reference")
    ort = Pipeline.random(cfg, seed=0, backend="onnxruntime", cache_dir=tmp_path)
    (outline,) = example_inputs(cfg, "conditioning", 2, seed=5)
    with torch.no_grad():
        want_cond, want_colors = ref.model.lowres.condition_and_prior(outline)
    got_cond, got_colors = ort.backend.condition_and_prior(ort.model.lowres, outline)
    assert _max_err(got_cond, want_cond) <= TOL
    torch.testing.assert_close(got_colors, want_colors, rtol=0, atol=1e-6)
    page = np.full((40, 40), 255, np.uint8)
    page[8:32, 8] = page[8:32, 31] = page[8, 8:32] = page[31, 8:32] = 0
    a = ref(page, seed=4, figure_colors="prior", flats=False)
    b = ort(page, seed=4, figure_colors="prior", flats=False)
    assert np.abs(a.image.astype(int) - b.image.astype(int)).max() <= 1


@pytest.mark.parametrize("stage", STAGES)
def test_batch_equals_single_runs(sessions, ref_pipe, stage):
    inputs = example_inputs(ref_pipe.config, stage, 3, 29, 41, seed=7)
    batched = sessions[stage](*inputs)
    for i in range(3):
        single = sessions[stage](*[t[i:i + 1] for t in inputs])
        assert _max_err(batched[i:i + 1], single) <= 1e-5


def test_padded_graph_equals_unet_forward(ref_pipe):
    """The export graph (always pad, always crop) is UNetGenerator.forward at every size,
    multiples of 2**depth included, down to 1 x 1."""
    graph = stage_graph(ref_pipe.model, "polisher")
    for h, w in [(8, 16), (1, 1), (9, 7), (33, 8)]:
        inputs = example_inputs(ref_pipe.config, "polisher", 2, h, w, seed=h + w)
        with torch.no_grad():
            assert _max_err(graph(*inputs), ref_pipe.model.polisher(*inputs)) == 0


def test_default_config_detector_at_odd_size(tmp_path):
    """The shipped size: depth-6 U-Net, so 70 x 45 is padded to 128 x 64 in the graph."""
    torch.manual_seed(3)
    pipe = Pipeline.random(FastcolorConfig(), seed=3)
    path = export_onnx(pipe, "detector", tmp_path / "detector.onnx")
    session = OrtStage(path, "detector", ["CPUExecutionProvider"])
    for batch, h, w in [(1, 70, 45), (3, 256, 256)]:
        inputs = example_inputs(pipe.config, "detector", batch, h, w, seed=batch)
        with torch.no_grad():
            ref = pipe.model.detector.probability(*inputs)
        assert _max_err(session(*inputs), ref) <= TOL


@pytest.mark.parametrize("precision, dtype", [("fp16", onnx.TensorProto.FLOAT16),
                                              ("bf16", onnx.TensorProto.BFLOAT16)])
def test_typed_exports(tmp_path, ref_pipe, precision, dtype):
    """fp16/bf16 graphs (for TensorRT's strongly typed networks): float32 in and out,
    weights and math in the low precision, checker clean."""
    path = export_onnx(ref_pipe, "detector", tmp_path / onnx_filename("detector", precision),
                       precision=precision)
    assert path.name == f"detector.{precision}.onnx"
    meta = check_onnx(path, stage="detector")
    assert meta["precision"] == precision
    proto = onnx.load(str(path))
    weights = [t for t in proto.graph.initializer if len(t.dims) == 4]
    assert weights and all(t.data_type == dtype for t in weights)
    assert any(n.op_type == "Cast" for n in proto.graph.node)
    if precision == "fp16":  # ONNX Runtime's CPU provider runs float16 convolutions
        inputs = example_inputs(ref_pipe.config, "detector", 2, 37, 53, seed=1)
        with torch.no_grad():
            ref = ref_pipe.model.detector.probability(*inputs)
        err = _max_err(OrtStage(path, "detector", ["CPUExecutionProvider"])(*inputs), ref)
        assert 0 < err <= 1e-2


# ---------------------------------------------------------------------------
# Pipeline(backend="onnxruntime")
# ---------------------------------------------------------------------------


def _record_detector(pipe):
    probs = []
    inner = pipe.backend.detect

    def detect(*args):
        p = inner(*args)
        probs.append(p)
        return p

    pipe.backend.detect = detect
    return probs


def test_pipeline_onnxruntime_equals_reference(ref_pipe, ort_pipe):
    """Same seed, same image. The conditioning features differ by ~1e-6 between ONNX
    Runtime and PyTorch, and float32 sampling can flip a low-res value that close to an
    8-bit bin edge (docs/design.md, "Comparing generators"), after which the samples differ;
    this seed and page do not flip, which the lowres equality checks first."""
    from fastcolor.pipeline import _resize

    threshold = 0.5
    ref_probs, ort_probs = _record_detector(ref_pipe), _record_detector(ort_pipe)
    try:
        ref = ref_pipe(str(HOUSE), seed=5, samples=2, threshold=threshold)
        got = ort_pipe(str(HOUSE), seed=5, samples=2, threshold=threshold)
    finally:
        del ref_pipe.backend.detect, ort_pipe.backend.detect
    assert ort_pipe.backend.name == "onnxruntime"
    assert _max_err(ort_probs[0], ref_probs[0]) <= TOL
    for n, (a, b) in enumerate(zip(ref, got)):
        np.testing.assert_array_equal(a.lowres, b.lowres)
        assert a.background_color == b.background_color
        diff = np.abs(a.image.astype(np.int16) - b.image.astype(np.int16)).max(axis=2)
        assert (diff <= 1).mean() >= 0.999
        # anything further off lies where the mask flipped, and the mask flips only where
        # the reference probability sits at the threshold
        H, W = a.background_mask.shape
        prob = _resize(ref_probs[0][n, 0].numpy(), W, H)
        flipped = a.background_mask != b.background_mask
        assert np.all(np.abs(prob[flipped] - threshold) < 1e-4)
        assert np.all(flipped[diff > 1])


def test_pipeline_onnxruntime_cache_layout_and_reuse(ort_pipe, ref_pipe, cache_root):
    backend = ort_pipe.backend
    sha = backend.weights_sha256
    assert len(sha) == 64 and backend.cache_dir == cache_root / sha
    files = sorted(p.name for p in backend.cache_dir.iterdir() if p.suffix == ".onnx")
    assert files == sorted(onnx_filename(s) for s in STAGES)
    stamps = {p: p.stat().st_mtime_ns for p in backend.cache_dir.iterdir()}
    again = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="onnxruntime",
                            cache_dir=cache_root)
    assert again.backend.weights_sha256 == sha
    r = again(torch.zeros(20, 24), seed=1)
    assert r.image.shape == (20, 24, 3)
    assert {p: p.stat().st_mtime_ns for p in backend.cache_dir.iterdir()} == stamps
    # other weights: another cache folder
    other = Pipeline.random(FastcolorConfig.tiny(), seed=1, backend="onnxruntime",
                            cache_dir=cache_root)
    assert other.backend.weights_sha256 != sha
    assert other.backend.cache_dir == cache_root / other.backend.weights_sha256


def test_pipeline_onnxruntime_reexports_damaged_cache(tmp_path, onnx_dir):
    pipe = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="onnxruntime",
                           cache_dir=tmp_path, stages=("polisher",))
    target = pipe.backend.cache_dir / "polisher.onnx"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"truncated")
    path = pipe.backend.onnx_path("polisher")
    assert path == target and check_onnx(path, stage="polisher")["stage"] == "polisher"


def test_pipeline_onnxruntime_from_user_files(onnx_dir, ref_pipe, tmp_path):
    pipe = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="onnxruntime",
                           onnx_dir=onnx_dir, cache_dir=tmp_path)
    a = pipe(str(HOUSE), seed=5)
    b = ref_pipe(str(HOUSE), seed=5)
    np.testing.assert_array_equal(a.lowres, b.lowres)
    assert (np.abs(a.image.astype(int) - b.image).max(axis=2) <= 1).mean() >= 0.999
    assert not any(tmp_path.iterdir())   # nothing exported into the cache
    # files of other weights are refused, naming the sha256s
    other = Pipeline.random(FastcolorConfig.tiny(), seed=1, backend="onnxruntime",
                            onnx_dir=onnx_dir)
    with pytest.raises(EngineMismatchError, match="weights sha256") as info:
        other(torch.zeros(40, 30), seed=2)
    assert other.backend.weights_sha256 in str(info.value)
    assert isinstance(info.value, RuntimeError)
    # a stage file that is missing: the error says how to export it
    empty = tmp_path / "empty"
    empty.mkdir()
    pipe2 = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="onnxruntime",
                            onnx_dir=empty)
    with pytest.raises(EngineError, match="build-engine --onnx-only"):
        pipe2(torch.zeros(40, 30), seed=2)


def test_onnxruntime_backend_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="float32"):
        Pipeline.random(FastcolorConfig.tiny(), backend="onnxruntime", dtype=torch.float64,
                        cache_dir=tmp_path)
    with pytest.raises(BackendUnavailableError, match="NoSuchExecutionProvider"):
        Pipeline.random(FastcolorConfig.tiny(), backend="onnxruntime",
                        providers=["NoSuchExecutionProvider"])
    with pytest.raises(InvalidInputError, match="not a folder"):
        Pipeline.random(FastcolorConfig.tiny(), backend="onnxruntime",
                        onnx_dir=tmp_path / "nope")
    with pytest.raises(InvalidInputError, match="threads"):
        Pipeline.random(FastcolorConfig.tiny(), backend="onnxruntime", threads=0)
    with pytest.raises(InvalidInputError, match="unknown stage"):
        Pipeline.random(FastcolorConfig.tiny(), backend="onnxruntime", stages=("pixelcnn",))
    unbound = OnnxRuntimeBackend("cpu", cache_dir=tmp_path)
    with pytest.raises(EngineError, match="bind"):
        unbound.session("detector")


def test_onnxruntime_backend_checks_inputs(ort_pipe, ref_pipe):
    b, model = ort_pipe.backend, ort_pipe.model
    with pytest.raises(InvalidInputError, match="colors"):
        b.detect(model.detector, torch.zeros(1, 1, 32, 32), torch.zeros(1, 3, 16, 32))
    with pytest.raises(InvalidInputError, match="outline"):
        b.polish(model.polisher, torch.zeros(1, 2, 32, 32), torch.zeros(1, 3, 32, 32),
                 torch.zeros(1, 1, 32, 32))
    with pytest.raises(InvalidInputError, match="32 x 32"):
        b.condition(model.lowres, torch.zeros(1, 1, 16, 16))
    with pytest.raises(InvalidInputError, match="another model"):
        b.detect(ref_pipe.model.detector, torch.zeros(1, 1, 32, 32), torch.zeros(1, 3, 32, 32))


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTCOLOR_CACHE", str(tmp_path / "fc"))
    assert default_cache_dir() == tmp_path / "fc" / "onnx"
    monkeypatch.delenv("FASTCOLOR_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "fastcolor" / "onnx"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path(os.path.expanduser("~")) / ".cache" / "fastcolor" / "onnx"


# ---------------------------------------------------------------------------
# shape profiles
# ---------------------------------------------------------------------------


def test_parse_shape():
    assert parse_shape("1x256x256") == (1, 256, 256)
    assert parse_shape(" 4X512x384 ") == (4, 512, 384)
    assert parse_shape((2, 3, 4)) == (2, 3, 4)
    for bad in ("256x256", "1x256x", "ax2x3", "1x2x3x4", "", "0x256x256", "1x0x5",
                (1, 2), (1, 2.0, 3), (True, 2, 3), 7, "5000x8x8", "1x40000x8"):
        with pytest.raises(InvalidInputError):
            parse_shape(bad)


def test_shape_profile_order_and_defaults():
    p = ShapeProfile.make("1x256x256", "2x256x256", "4x512x512")
    assert (p.min, p.opt, p.max) == ((1, 256, 256), (2, 256, 256), (4, 512, 512))
    assert ShapeProfile.make("2x64x64") == ShapeProfile((2, 64, 64), (2, 64, 64), (2, 64, 64))
    for lo, mid, hi, name in [("2x64x64", "1x64x64", "4x64x64", "batch"),
                              ("1x64x64", "1x128x64", "1x96x64", "height"),
                              ("1x64x65", "1x64x64", "1x64x64", "width")]:
        with pytest.raises(InvalidInputError, match=f"min <= opt <= max.*{name}"):
            ShapeProfile.make(lo, mid, hi)
    assert p.contains((3, 300, 256)) and not p.contains((5, 300, 256)) \
        and not p.contains((1, 255, 256)) and not p.contains((1, 256, 513))
    assert ShapeProfile.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    with pytest.raises(InvalidInputError):
        ShapeProfile.from_dict({"min": [1, 2, 3]})
    assert str(p) == "min 1x256x256, opt 2x256x256, max 4x512x512"
    fp = ShapeProfile.for_pipeline(256, max_batch=4)
    assert fp.min == fp.opt == (1, 256, 256) and fp.max == (4, 256, 256)


def test_shape_profile_per_stage():
    p = ShapeProfile.make("1x64x64", "2x128x96", "8x256x256")
    shapes = p.input_shapes("polisher")
    assert list(shapes) == ["outline", "colors", "mask"]
    assert shapes["colors"] == ((1, 3, 64, 64), (2, 3, 128, 96), (8, 3, 256, 256))
    p.check_stage("detector", 256)
    with pytest.raises(InvalidInputError, match="conditioning stage takes 256 x 256"):
        p.check_stage("conditioning", 256)
    cond = stage_profile(p, "conditioning", 256)
    assert cond == ShapeProfile((1, 256, 256), (2, 256, 256), (8, 256, 256))
    cond.check_stage("conditioning", 256)
    assert cond.input_shapes("conditioning") == {
        "outline": ((1, 1, 256, 256), (2, 1, 256, 256), (8, 1, 256, 256))}
    assert stage_profile(p, "detector", 256) is p


# ---------------------------------------------------------------------------
# engine metadata
# ---------------------------------------------------------------------------


def _meta(**overrides) -> EngineMetadata:
    d = dict(stage="detector", precision="fp16", fastcolor_version="0.1.0",
             weights_sha256="ab" * 32, tensorrt_version="10.3.0", gpu_name="NVIDIA H100",
             compute_capability="9.0", profile=ShapeProfile.make("1x256x256", "1x256x256",
                                                                 "8x512x512"),
             image_size=256, extra={"torch": "2.13.0"})
    d.update(overrides)
    return EngineMetadata(**d)


RUNNING = dict(fastcolor_version="0.1.0", weights_sha256="ab" * 32, tensorrt_version="10.3.0",
               gpu_name="NVIDIA H100", compute_capability="9.0", image_size=256)


def test_metadata_round_trip(tmp_path):
    m = _meta()
    engine, meta_path = engine_paths(tmp_path, "detector")
    assert (engine.name, meta_path.name) == ("detector.engine", "detector.json")
    m.write(meta_path)
    d = json.loads(meta_path.read_text())
    for key in ("fastcolor_version", "weights_sha256", "tensorrt_version", "gpu_name",
                "compute_capability", "precision", "profile"):
        assert key in d
    assert d["profile"] == {"min": [1, 256, 256], "opt": [1, 256, 256], "max": [8, 512, 512]}
    assert EngineMetadata.read(meta_path) == m
    check_metadata(m, **RUNNING, stage="detector")


@pytest.mark.parametrize("field, value, words", [
    ("fastcolor_version", "0.2.0", "fastcolor version: built for 0.2.0, running 0.1.0"),
    ("weights_sha256", "cd" * 32, "weights sha256: built for " + "cd" * 32),
    ("tensorrt_version", "10.5.1", "TensorRT version: built for 10.5.1, running 10.3.0"),
    ("gpu_name", "NVIDIA A10", "GPU: built for NVIDIA A10, running NVIDIA H100"),
    ("compute_capability", "8.6", "GPU compute capability: built for 8.6, running 9.0"),
    ("image_size", 128, "model image_size: built for 128, running 256"),
    ("profile", ShapeProfile.make("2x256x256", "2x256x256", "4x256x256"),
     "does not contain the pipeline's working shape 1x256x256"),
])
def test_metadata_mismatch_is_refused(field, value, words):
    with pytest.raises(EngineMismatchError) as info:
        check_metadata(_meta(**{field: value}), **RUNNING)
    msg = str(info.value)
    assert words in msg and "fastcolor build-engine" in msg
    assert isinstance(info.value, RuntimeError)


def test_metadata_lists_every_mismatch():
    with pytest.raises(EngineMismatchError) as info:
        check_metadata(_meta(tensorrt_version="11.0.0", gpu_name="NVIDIA L4",
                             compute_capability="8.9"), **RUNNING)
    msg = str(info.value)
    assert "TensorRT version" in msg and "GPU: built for NVIDIA L4" in msg \
        and "compute capability" in msg


def test_metadata_bad_files(tmp_path):
    with pytest.raises(EngineError, match="no engine metadata"):
        EngineMetadata.read(tmp_path / "nope.json")
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(EngineError, match="not readable"):
        EngineMetadata.read(tmp_path / "a.json")
    d = _meta().to_dict()
    del d["gpu_name"]
    (tmp_path / "b.json").write_text(json.dumps(d))
    with pytest.raises(EngineError, match="lacks gpu_name"):
        EngineMetadata.read(tmp_path / "b.json")
    d = _meta().to_dict()
    d["format"] = 99
    (tmp_path / "c.json").write_text(json.dumps(d))
    with pytest.raises(EngineError, match="format"):
        EngineMetadata.read(tmp_path / "c.json")
    d = _meta().to_dict()
    d["profile"]["max"] = [0, 1, 1]
    (tmp_path / "d.json").write_text(json.dumps(d))
    with pytest.raises(EngineError, match="bad engine metadata"):
        EngineMetadata.read(tmp_path / "d.json")
    with pytest.raises(InvalidInputError):
        _meta(precision="int8")
    with pytest.raises(InvalidInputError):
        _meta(stage="pixelcnn")


# ---------------------------------------------------------------------------
# TensorRT absent; the CLI
# ---------------------------------------------------------------------------


@pytest.mark.skipif(_have_tensorrt(), reason="tensorrt is installed: this checks its absence")
def test_tensorrt_backend_without_tensorrt_is_a_clear_error(tmp_path, ref_pipe):
    from fastcolor.engines import build_engine
    for device in ("cpu", "cuda"):
        with pytest.raises(BackendUnavailableError) as info:
            Pipeline.random(FastcolorConfig.tiny(), backend="tensorrt", device=device,
                            engine_dir=tmp_path)
        msg = str(info.value)
        assert "'tensorrt'" in msg and "pip install tensorrt" in msg and "NVIDIA GPU" in msg
    with pytest.raises(BackendUnavailableError, match="pip install tensorrt"):
        build_engine(ref_pipe, tmp_path)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, ref_pipe) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    ref_pipe.save_pretrained(path)
    return path


def test_cli_build_engine_onnx_only(tmp_path, capsys, weights_file, ref_pipe):
    out = tmp_path / "onnx"
    rc = main(["build-engine", "--weights", str(weights_file), "--stages", "detector",
               "--min", "1x32x32", "--opt", "2x32x32", "--max", "4x64x64", "--out", str(out),
               "--onnx-only"])
    assert rc == 0
    text = capsys.readouterr().out
    assert f"wrote {out / 'detector.onnx'} (onnx.checker: ok)" in text
    sha = ref_pipe.save_pretrained(tmp_path / "again.safetensors")
    assert sha in text
    assert (f"fastcolor build-engine --weights {weights_file} --onnx-dir {out} --stages detector "
            f"--min 1x32x32 --opt 2x32x32 --max 4x64x64 --out ENGINE_DIR") in text
    meta = check_onnx(out / "detector.onnx", stage="detector")
    assert meta["weights_sha256"] == sha
    assert sorted(p.name for p in out.iterdir()) == ["detector.onnx"]
    assert read_onnx_metadata(out / "detector.onnx")["version"]


@pytest.mark.parametrize("args, words", [
    (["--min", "2x32x32", "--opt", "1x32x32"], "min <= opt <= max"),
    (["--min", "32x32"], "BATCHxHEIGHTxWIDTH"),
    (["--stages", "detector,pixelcnn"], "unknown stage"),
    (["--fp16", "--bf16"], None),
])
def test_cli_build_engine_bad_arguments(tmp_path, capsys, weights_file, args, words):
    argv = ["build-engine", "--weights", str(weights_file), "--out", str(tmp_path / "o"),
            "--onnx-only"] + args
    if words is None:   # argparse: mutually exclusive options
        with pytest.raises(SystemExit):
            main(argv)
        return
    assert main(argv) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(_have_tensorrt(), reason="tensorrt is installed: this checks its absence")
def test_cli_build_engine_without_tensorrt(tmp_path, capsys, weights_file):
    rc = main(["build-engine", "--weights", str(weights_file), "--out", str(tmp_path / "e")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "pip install tensorrt" in err and "--onnx-only" in err
    assert not (tmp_path / "e").exists() or not any((tmp_path / "e").iterdir())


def test_info_lists_onnxruntime_available(capsys, weights_file):
    assert main(["info", "--weights", str(weights_file), "--backend", "reference"]) == 0
    assert "backend onnxruntime  available" in capsys.readouterr().out
