"""Deployment engines for the feed-forward stages (conditioning net, background detector,
polishing net); the autoregressive PixelCNN stays with the cached generators.

- ONNX export: ``export_onnx`` / ``export_stages`` (dynamic batch, height, width;
  ``onnx.checker`` clean), ``check_onnx``.
- ONNX Runtime: ``Pipeline(backend="onnxruntime")`` (``OnnxRuntimeBackend``), exporting
  on first use into a cache keyed by the weights' sha256, or from ``onnx_dir``.
- TensorRT: ``build_engine`` (CLI ``fastcolor build-engine``), ``load_engine`` /
  ``TensorRTRunner``, ``Pipeline(backend="tensorrt", engine_dir=DIR)``
  (``TensorRTBackend``); each engine has a metadata file checked when it loads.
"""

from __future__ import annotations

from .errors import EngineError, EngineMismatchError
from .graphs import PRECISIONS, STAGE_SPECS, STAGES, example_inputs, parse_stages, stage_graph
from .metadata import EngineMetadata, check_metadata, engine_paths
from .onnx_export import (check_onnx, check_onnx_matches, export_onnx, export_stages,
                          onnx_filename, read_onnx_metadata)
from .ort_backend import OnnxRuntimeBackend, default_cache_dir, onnxruntime_unavailable
from .profiles import ShapeProfile, format_shape, parse_shape
from .trt_engine import (TensorRTBackend, TensorRTRunner, build_engine, import_tensorrt,
                         load_engine, stage_profile, tensorrt_unavailable)


def onnxruntime_backend(device, **options) -> OnnxRuntimeBackend:
    """The ``"onnxruntime"`` entry of ``fastcolor.backends``."""
    return OnnxRuntimeBackend(device, **options)


def tensorrt_backend(device, **options) -> TensorRTBackend:
    """The ``"tensorrt"`` entry of ``fastcolor.backends``."""
    return TensorRTBackend(device, **options)


__all__ = [
    "EngineError", "EngineMetadata", "EngineMismatchError", "OnnxRuntimeBackend", "PRECISIONS",
    "STAGES", "STAGE_SPECS", "ShapeProfile", "TensorRTBackend", "TensorRTRunner",
    "build_engine", "check_metadata", "check_onnx", "check_onnx_matches", "default_cache_dir",
    "engine_paths", "example_inputs", "export_onnx", "export_stages", "format_shape",
    "import_tensorrt", "load_engine", "onnx_filename", "onnxruntime_backend",
    "onnxruntime_unavailable", "parse_shape", "parse_stages", "read_onnx_metadata",
    "stage_graph", "stage_profile", "tensorrt_backend", "tensorrt_unavailable",
]
