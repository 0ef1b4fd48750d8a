"""``Pipeline(backend="onnxruntime")``: the feed-forward stages through ONNX Runtime.

The conditioning net, background detector and polishing net run as ONNX Runtime
sessions; low-res generation stays with the parent backend's generator. The ONNX files
come from

- ``onnx_dir=DIR``: files the user exported (``fastcolor build-engine --onnx-only``),
  checked against the running weights (sha256), config and precision; or
- the export cache (default): each stage is exported on first use into
  ``cache_dir/<weights sha256>/<stage>.onnx``, where ``cache_dir`` is the option, else
  ``$FASTCOLOR_CACHE/onnx``, else ``$XDG_CACHE_HOME/fastcolor/onnx`` (``~/.cache/...``).
  Weights without a recorded sha256 (``Pipeline.random``) are keyed by the sha256 of
  their state dict.

Options: ``providers`` (ONNX Runtime execution providers, default CUDA then CPU on a CUDA
device, CPU otherwise), ``threads`` (intra-op threads; default ONNX Runtime's: one per
physical core), ``progress`` (default True: before the first export, which takes
tens of seconds, one line on stderr says so). Sessions use ``ORT_ENABLE_ALL`` graph
optimizations. The graphs are float32: a float64 pipeline is refused.
"""

from __future__ import annotations

import numbers
import os
import sys
import threading
from pathlib import Path

import numpy as np
import torch

from ..backends import ReferenceBackend, fastest_generator
from ..errors import BackendUnavailableError, InvalidInputError
from ..weights import tensors_sha256
from .errors import EngineError, EngineMismatchError
from .graphs import STAGE_SPECS, STAGES, check_unet_inputs, parse_stages
from .onnx_export import EXPORT_SECONDS, check_onnx_matches, export_onnx, onnx_filename


_CACHE_LOCKS: dict[Path, threading.Lock] = {}
_CACHE_LOCKS_GUARD = threading.Lock()


def _cache_lock(path: Path) -> threading.Lock:
    """One lock per export-cache file in this process: a file is checked and exported by
    one thread at a time. (Processes sharing a cache each export to a unique temporary
    name and rename it into place, so they never see a partial file.)"""
    key = Path(os.path.abspath(path))
    with _CACHE_LOCKS_GUARD:
        return _CACHE_LOCKS.setdefault(key, threading.Lock())


def onnxruntime_unavailable(device) -> str | None:
    """None if the onnxruntime backend can run, else what is missing."""
    try:
        __import__("onnxruntime")
    except ImportError:
        return ("the ONNX Runtime package onnxruntime is not installed "
                "(pip install onnxruntime, or onnxruntime-gpu for CUDA)")
    return None


def default_cache_dir() -> Path:
    """Where exported ONNX files are cached (see the module doc)."""
    root = os.environ.get("FASTCOLOR_CACHE")
    if root:
        return Path(root).expanduser() / "onnx"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fastcolor" / "onnx"


def session_options(threads: int | None = None):
    """``ORT_ENABLE_ALL`` graph optimizations; ``threads`` intra-op threads (None: ONNX
    Runtime's default)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        if isinstance(threads, (bool, np.bool_)) or not isinstance(threads, numbers.Integral) \
                or threads < 1:
            raise InvalidInputError(f"threads must be a positive integer, got {threads!r}")
        so.intra_op_num_threads = int(threads)
    so.log_severity_level = 3   # errors only
    return so


def default_providers(device: torch.device) -> list[str]:
    import onnxruntime as ort

    present = ort.get_available_providers()
    if device.type == "cuda" and "CUDAExecutionProvider" in present:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OrtStage:
    """One stage's ONNX Runtime session: torch tensors in, a torch tensor out."""

    def __init__(self, path, stage: str, providers, threads=None):
        import onnxruntime as ort

        self.path = Path(path)
        self.spec = STAGE_SPECS[stage]
        try:
            self.session = ort.InferenceSession(str(self.path), session_options(threads),
                                                providers=list(providers))
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph
            raise EngineError(f"ONNX Runtime cannot load {str(self.path)!r}: {e}") from None
        names = [i.name for i in self.session.get_inputs()]
        if names != [n for n, _ in self.spec.inputs]:
            raise EngineError(f"{str(self.path)!r} has inputs {names}, expected "
                              f"{[n for n, _ in self.spec.inputs]}")

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor:
        device, dtype = tensors[0].device, tensors[0].dtype
        feeds = {name: np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())
                 for (name, _), t in zip(self.spec.inputs, tensors)}
        (out,) = self.session.run([self.spec.output], feeds)
        return torch.from_numpy(out).to(device=device, dtype=dtype)


class OnnxRuntimeBackend(ReferenceBackend):
    """The feed-forward stages through ONNX Runtime (see the module doc). ``Pipeline``
    calls ``bind(model, weights_sha256)``; the sessions are made on first use, once,
    under a lock: one backend (one ``Pipeline``) may be called from several threads."""

    name = "onnxruntime"
    kernel_mode = "auto"

    def __init__(self, device, *, cache_dir=None, onnx_dir=None, providers=None,
                 threads: int | None = None, stages=STAGES, progress: bool = True):
        super().__init__(torch.device(device), progress=progress)
        reason = onnxruntime_unavailable(self.device)
        if reason is not None:
            raise BackendUnavailableError(f"backend 'onnxruntime' cannot run here: {reason}")
        import onnxruntime as ort

        self.stages = parse_stages(stages)
        self.onnx_dir = Path(onnx_dir) if onnx_dir is not None else None
        if self.onnx_dir is not None and not self.onnx_dir.is_dir():
            raise InvalidInputError(f"onnx_dir {str(self.onnx_dir)!r} is not a folder")
        self.cache_root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        if providers is None:
            providers = default_providers(self.device)
        if isinstance(providers, str):
            providers = [providers]
        present = ort.get_available_providers()
        missing = [p for p in providers if p not in present]
        if missing or not providers:
            raise BackendUnavailableError(
                f"ONNX Runtime execution provider(s) {missing or providers} not present here; "
                f"this onnxruntime has {present}")
        self.providers = list(providers)
        self.threads = threads
        session_options(threads)   # check the option now
        self._model = None
        self.weights_sha256 = None
        self._sessions: dict[str, OrtStage] = {}
        self._sessions_lock = threading.Lock()
        self._generate = fastest_generator(self.device)
        self._export_told = False

    def generate(self, pixelcnn, cond: torch.Tensor, **kwargs) -> torch.Tensor:
        """The PixelCNN stays with the fastest cached generator present (C++ on the CPU)."""
        return self._generate(pixelcnn, cond, **kwargs)

    # ---- binding ------------------------------------------------------------------
    def bind(self, model, weights_sha256: str | None = None) -> None:
        """Attach the model whose stages run here (``Pipeline`` calls this). Without a
        sha256 the state dict's is computed (it keys the export cache)."""
        dtypes = {p.dtype for p in model.parameters()}
        if dtypes != {torch.float32}:
            raise InvalidInputError(
                f"the onnxruntime backend runs float32 graphs; this model is "
                f"{', '.join(sorted(str(d) for d in dtypes))} (use dtype=torch.float32)")
        with self._sessions_lock:
            self._model = model
            self.weights_sha256 = weights_sha256 or tensors_sha256(model.state_dict())
            self._sessions.clear()

    @property
    def cache_dir(self) -> Path:
        """The export cache folder of the bound weights."""
        self._require_bound()
        return self.cache_root / self.weights_sha256

    def _require_bound(self):
        if self._model is None:
            raise EngineError("the onnxruntime backend has no model: call "
                              "backend.bind(model, weights_sha256) first (Pipeline does)")

    def onnx_path(self, stage: str) -> Path:
        """The file ``stage`` runs from (exported now if the cache lacks it)."""
        self._require_bound()
        name = onnx_filename(stage)
        cfg = self._model.config
        if self.onnx_dir is not None:
            path = self.onnx_dir / name
            if not path.is_file():
                raise EngineError(
                    f"no {name} in onnx_dir {str(self.onnx_dir)!r}; export it with fastcolor "
                    f"build-engine --onnx-only --stages {stage} --weights W --out "
                    f"{self.onnx_dir}")
            check_onnx_matches(path, stage=stage, weights_sha256=self.weights_sha256, config=cfg)
            return path
        path = self.cache_dir / name
        with _cache_lock(path):
            if path.is_file():
                try:
                    check_onnx_matches(path, stage=stage, weights_sha256=self.weights_sha256,
                                       config=cfg)
                    return path
                except (EngineError, EngineMismatchError):
                    pass   # a stale or damaged cache entry: export it again
            self._tell_export()
            return export_onnx(self._model, stage, path, weights_sha256=self.weights_sha256)

    def _tell_export(self) -> None:
        """One line on stderr before the first export of this backend (not per stage)."""
        if self.progress and not self._export_told:
            self._export_told = True
            print(f"fastcolor: exporting the ONNX graphs of these weights into "
                  f"{self.cache_dir} (first use: about {EXPORT_SECONDS * len(self.stages)} "
                  f"s; later runs reuse them)...", file=sys.stderr, flush=True)

    def session(self, stage: str) -> OrtStage:
        """The session of ``stage``, made (and its file exported) once, whatever the
        number of threads asking."""
        s = self._sessions.get(stage)
        if s is None:
            with self._sessions_lock:
                s = self._sessions.get(stage)
                if s is None:
                    s = self._sessions[stage] = OrtStage(self.onnx_path(stage), stage,
                                                         self.providers, self.threads)
        return s

    # ---- the stages -----------------------------------------------------------------
    def condition(self, lowres, outline):
        if "conditioning" not in self.stages:
            return super().condition(lowres, outline)
        from ..models.lowres import check_outline
        self._check_module(lowres, "lowres")
        check_outline(outline, self._model.config.image_size)
        return self.session("conditioning")(outline)

    def detect(self, detector, outline, colors):
        if "detector" not in self.stages:
            return super().detect(detector, outline, colors)
        self._check_module(detector, "detector")
        check_unet_inputs(outline, colors)
        return self.session("detector")(outline, colors)

    def polish(self, polisher, outline, colors, mask):
        if "polisher" not in self.stages:
            return super().polish(polisher, outline, colors, mask)
        self._check_module(polisher, "polisher")
        check_unet_inputs(outline, colors, mask)
        return self.session("polisher")(outline, colors, mask)

    def _check_module(self, module, attr):
        self._require_bound()
        if module is not getattr(self._model, attr):
            raise InvalidInputError(
                f"this {self.name} backend is bound to another model; its {attr} runs the "
                f"bound model's exported graph")


__all__ = ["OnnxRuntimeBackend", "OrtStage", "default_cache_dir", "default_providers",
           "onnxruntime_unavailable", "session_options"]
