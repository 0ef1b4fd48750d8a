"""ONNX export of the feed-forward stages (``graphs.STAGES``) and its checks.

Each file is one stage of one set of weights: dynamic batch (and height and width for
the U-Nets), the fastcolor version, stage, precision and weights sha256 in its
``metadata_props``, and it passes ``onnx.checker`` (full check, shape inference
included). Export uses ``torch.onnx.export(dynamo=True)`` (torch.export + onnxscript),
which keeps the padding amount a function of the input's shape.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from pathlib import Path

import torch

from .. import __version__
from ..atomic import write_atomic
from ..errors import BackendUnavailableError, InvalidInputError
from .errors import EngineError, EngineMismatchError
from .graphs import (check_precision, check_stage, example_inputs, parse_stages,
                     stage_graph)

# Bump when the exported graphs change meaning, so cached files of older builds are
# re-exported instead of used.
EXPORT_FORMAT = "1"
MAX_BATCH = 4096
MAX_SIDE = 32768
EXPORT_SECONDS = 10   # about what exporting and checking one stage takes on a CPU

_META_PREFIX = "fastcolor_"


def graph_precision(precision: str) -> str:
    """The precision the ONNX graph is typed in (tf32 runs the fp32 graph)."""
    return "fp32" if check_precision(precision) in ("fp32", "tf32") else precision


def opset_for(precision: str) -> int:
    """ONNX opset of the exported graphs: 18 (read by ONNX Runtime and every TensorRT 10
    and 11 parser); bf16 needs 22, the first opset whose Conv takes bfloat16."""
    return 22 if graph_precision(precision) == "bf16" else 18


def onnx_filename(stage: str, precision: str = "fp32") -> str:
    p = graph_precision(precision)
    name = check_stage(stage).name
    return f"{name}.onnx" if p == "fp32" else f"{name}.{p}.onnx"


def require_onnx_export() -> None:
    """Raise ``BackendUnavailableError`` naming the packages export needs, if missing."""
    missing = []
    for mod in ("onnx", "onnxscript"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if missing:
        raise BackendUnavailableError(
            f"exporting ONNX graphs needs the package(s) {', '.join(missing)}: "
            f"pip install {' '.join(missing)} (see requirements.txt)")


# torch.export (and the logger/warning settings of _quiet) are process-wide and not
# thread-safe: one export at a time.
_EXPORT_LOCK = threading.RLock()


@contextlib.contextmanager
def _quiet():
    """The exporter warns about things that do not concern these graphs (torchvision
    ops not registered, renamed dynamic axes); keep them off the user's console."""
    names = ("torch.onnx", "torch.export", "torch._export", "torch.fx.experimental.symbolic_shapes",
             "onnxscript")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def resolve_model(model, weights_sha256: str | None = None):
    """A ``Pipeline`` or a ``FastcolorModel`` -> ``(model, weights sha256)``; without a
    recorded sha256, the state dict's."""
    from ..weights import tensors_sha256

    inner = getattr(model, "model", None)
    if inner is not None and hasattr(model, "weights_sha256"):
        weights_sha256 = weights_sha256 or model.weights_sha256
        model = inner
    if not all(hasattr(model, a) for a in ("config", "lowres", "detector", "polisher")):
        raise InvalidInputError(
            f"expected a Pipeline or a FastcolorModel, got {type(model).__name__}")
    return model, weights_sha256 or tensors_sha256(model.state_dict())


def export_model_proto(model, stage: str, *, precision: str = "fp32",
                       weights_sha256: str | None = None):
    """``onnx.ModelProto`` of ``stage`` of ``model`` (a ``Pipeline`` or a
    ``FastcolorModel``)."""
    import onnx

    require_onnx_export()
    model, weights_sha256 = resolve_model(model, weights_sha256)
    spec = check_stage(stage)
    gp = graph_precision(precision)
    config = model.config
    graph = stage_graph(model, stage, gp)
    S = config.image_size
    # distinct sample sizes: equal ones would be taken as the same symbol
    inputs = example_inputs(config, stage, batch=2, height=S + 5, width=S + 11)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    axes = {0: batch}
    if spec.dynamic_hw:
        axes.update({2: torch.export.Dim("height", min=1, max=MAX_SIDE),
                     3: torch.export.Dim("width", min=1, max=MAX_SIDE)})
    dynamic = {name: dict(axes) for name, _ in spec.inputs}
    names = [name for name, _ in spec.inputs]
    with _EXPORT_LOCK, _quiet(), torch.no_grad():
        program = torch.onnx.export(graph, inputs, None, input_names=names,
                                    output_names=[spec.output], dynamo=True,
                                    dynamic_shapes=dynamic, opset_version=opset_for(gp),
                                    optimize=True, verbose=False)
    proto = program.model_proto
    # The exporter names the output's H and W by the padding/crop expression; they are
    # the input's H and W, and the batch is the input's batch.
    out_dims = proto.graph.output[0].type.tensor_type.shape.dim
    out_dims[0].dim_param = "batch"
    if spec.dynamic_hw:
        out_dims[2].dim_param = "height"
        out_dims[3].dim_param = "width"
    meta = {"version": __version__, "stage": stage, "precision": gp,
            "weights_sha256": weights_sha256, "export_format": EXPORT_FORMAT,
            "image_size": str(S), "config": config.to_json(),
            "torch": torch.__version__}
    onnx.helper.set_model_props(proto, {_META_PREFIX + k: v for k, v in meta.items()})
    proto.producer_name = "fastcolor"
    proto.producer_version = __version__
    proto.doc_string = f"fastcolor {__version__} stage {stage!r} ({gp})"
    return proto


def export_onnx(model, stage: str, path, *, precision: str = "fp32",
                weights_sha256: str | None = None) -> Path:
    """Export ``stage`` of ``model`` to ``path`` (written atomically) and check it;
    returns the path."""
    proto = export_model_proto(model, stage, precision=precision, weights_sha256=weights_sha256)
    path = Path(path)
    write_atomic(path, proto.SerializeToString())
    check_onnx(path, stage=stage)
    return path


def export_stages(model, out_dir, stages=("conditioning", "detector", "polisher"), *,
                  precision: str = "fp32", weights_sha256: str | None = None) -> dict:
    """Export each of ``stages`` of ``model`` (a ``Pipeline`` or a ``FastcolorModel``)
    into ``out_dir`` (``onnx_filename`` names); returns ``{stage: path}``."""
    model, weights_sha256 = resolve_model(model, weights_sha256)
    out_dir = Path(out_dir)
    return {s: export_onnx(model, s, out_dir / onnx_filename(s, precision), precision=precision,
                           weights_sha256=weights_sha256)
            for s in parse_stages(stages)}


def read_onnx_metadata(path) -> dict:
    """The ``fastcolor_*`` metadata of an exported file, without the prefix."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - onnx raises DecodeError, OSError, ...
        raise EngineError(f"{str(path)!r} is not a readable ONNX file: {e}") from None
    return {p.key[len(_META_PREFIX):]: p.value for p in proto.metadata_props
            if p.key.startswith(_META_PREFIX)}


def _dims(value_info) -> list:
    return [d.dim_param if d.dim_param else d.dim_value
            for d in value_info.type.tensor_type.shape.dim]


def check_onnx(path, stage: str | None = None) -> dict:
    """Run ``onnx.checker`` (full check) on ``path`` and verify it is a fastcolor stage
    graph: its metadata, input/output names, channels and dynamic axes. Returns the
    metadata; raises ``EngineError`` saying what is wrong."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise EngineError(f"no ONNX file at {str(path)!r}")
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as e:  # noqa: BLE001 - ValidationError, InferenceError, DecodeError
        raise EngineError(f"{str(path)!r} fails onnx.checker: {e}") from None
    meta = read_onnx_metadata(path)
    if "stage" not in meta:
        raise EngineError(f"{str(path)!r} is not a fastcolor export (no fastcolor_stage "
                          f"metadata); export it with fastcolor build-engine --onnx-only")
    if stage is not None and meta["stage"] != stage:
        raise EngineMismatchError(f"{str(path)!r} holds stage {meta['stage']!r}, not {stage!r}")
    spec = check_stage(meta["stage"])
    proto = onnx.load(str(path), load_external_data=False)
    inputs = [(i.name, _dims(i)) for i in proto.graph.input]
    S = int(meta.get("image_size", 0))
    want = [(name, ["batch", c] + (["height", "width"] if spec.dynamic_hw else [S, S]))
            for name, c in spec.inputs]
    if inputs != want:
        raise EngineError(f"{str(path)!r} has inputs {inputs}, expected {want}")
    outputs = [(o.name, _dims(o)) for o in proto.graph.output]
    if len(outputs) != 1 or outputs[0][0] != spec.output or outputs[0][1][0] != "batch" \
            or (spec.dynamic_hw and outputs[0][1][2:] != ["height", "width"]):
        raise EngineError(f"{str(path)!r} has outputs {outputs}, expected one "
                          f"{spec.output!r} of (batch, C{', height, width' if spec.dynamic_hw else ''})")
    for i in list(proto.graph.input) + list(proto.graph.output):
        if i.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            raise EngineError(f"{str(path)!r}: {i.name!r} is not float32")
    return meta


def config_of(meta: dict):
    """The ``FastcolorConfig`` recorded in an export's metadata."""
    from ..config import FastcolorConfig
    return FastcolorConfig.from_json(meta["config"])


def check_onnx_matches(path, *, stage: str, weights_sha256: str, precision: str = "fp32",
                       config=None) -> dict:
    """``check_onnx`` plus: the file was exported from these weights (and ``config``,
    if given), at this precision, by this export format. Raises ``EngineMismatchError``
    listing every difference."""
    meta = check_onnx(path, stage=stage)
    problems = []
    if config is not None and meta.get("config") != config.to_json():
        problems.append(f"model config {meta.get('config')} != the running model's "
                        f"{config.to_json()}")
    if meta.get("weights_sha256") != weights_sha256:
        problems.append(f"weights sha256 {meta.get('weights_sha256') or '(none)'} "
                        f"!= the running weights' {weights_sha256}")
    if meta.get("precision") != graph_precision(precision):
        problems.append(f"precision {meta.get('precision')} != {graph_precision(precision)}")
    if meta.get("export_format") != EXPORT_FORMAT:
        problems.append(f"export format {meta.get('export_format')} (fastcolor "
                        f"{meta.get('version')}) != {EXPORT_FORMAT} (fastcolor {__version__})")
    if problems:
        raise EngineMismatchError(f"{str(path)!r} does not fit: " + "; ".join(problems)
                                  + ". Export it again from these weights (fastcolor "
                                  "build-engine --onnx-only --weights W --out DIR).")
    return meta


__all__ = ["EXPORT_FORMAT", "check_onnx", "check_onnx_matches", "config_of", "export_model_proto",
           "export_onnx", "export_stages", "graph_precision", "onnx_filename", "opset_for",
           "read_onnx_metadata", "require_onnx_export"]
