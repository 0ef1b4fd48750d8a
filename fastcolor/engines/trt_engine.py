"""TensorRT engines of the feed-forward stages: the builder, the runner and
``Pipeline(backend="tensorrt", engine_dir=DIR)``.

Written against the TensorRT 10/11 Python API (``import tensorrt`` happens only when a
function here needs it):

- build: ``OnnxParser`` reads the stage's ONNX graph into a strongly typed network; the
  builder config gets a workspace memory-pool limit, TF32 on or off, one optimization
  profile (min/opt/max of every input) and a timing cache that is loaded from and saved
  to ``timing.cache`` so later builds skip the kernel timing they already did;
  ``build_serialized_network`` makes the plan. fp16/bf16 live in the graph (the ONNX
  export is typed; TensorRT 11 removed the FP16/BF16 builder flags and TensorRT 10.12
  deprecated them).
- run: ``Runtime.deserialize_cuda_engine``, one execution context, ``set_input_shape``
  and ``set_tensor_address`` on torch CUDA tensors, ``execute_async_v3`` on torch's
  current stream, so results stay on the GPU and in stream order.

Every engine ``DIR/<stage>.engine`` has ``DIR/<stage>.json`` (``metadata.EngineMetadata``);
loading checks it against the running fastcolor, weights, TensorRT and GPU and refuses a
mismatch (``EngineMismatchError``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import torch

from .. import __version__
from ..atomic import write_atomic
from ..backends import ReferenceBackend, fastest_generator
from ..errors import BackendUnavailableError, InvalidInputError
from ..weights import tensors_sha256
from .errors import EngineError
from .graphs import (STAGE_SPECS, STAGES, check_precision, check_unet_inputs, example_inputs,
                     parse_stages, stage_graph)
from .metadata import EngineMetadata, check_metadata, engine_paths
from .onnx_export import check_onnx_matches, export_onnx, onnx_filename, resolve_model
from .profiles import ShapeProfile, format_shape

INSTALL_HINT = "pip install tensorrt on a machine with an NVIDIA GPU"
TIMING_CACHE_NAME = "timing.cache"


def import_tensorrt():
    """``import tensorrt``, or ``BackendUnavailableError`` saying how to get it."""
    try:
        import tensorrt
    except ImportError as e:
        raise BackendUnavailableError(
            f"TensorRT (the Python package tensorrt) cannot be imported: {e}; "
            f"{INSTALL_HINT}") from None
    major = int(str(tensorrt.__version__).split(".")[0])
    if major < 10:
        raise BackendUnavailableError(
            f"fastcolor needs TensorRT >= 10 (the name-based tensor API); found "
            f"{tensorrt.__version__}: pip install -U tensorrt")
    return tensorrt


def tensorrt_unavailable(device) -> str | None:
    """None if TensorRT engines can run on ``device``, else what is missing."""
    try:
        import_tensorrt()
    except BackendUnavailableError as e:
        return str(e)
    device = torch.device(device)
    if device.type != "cuda":
        return "TensorRT engines run on NVIDIA GPUs: use device='cuda'"
    if not torch.cuda.is_available():
        return "torch sees no CUDA GPU (a CUDA build of torch and an NVIDIA driver are needed)"
    return None


def gpu_identity(device="cuda") -> tuple[str, str]:
    """``(GPU name, "major.minor" compute capability)`` of ``device``."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        raise BackendUnavailableError("TensorRT needs a CUDA GPU; torch sees none")
    major, minor = torch.cuda.get_device_capability(device)
    return torch.cuda.get_device_name(device), f"{major}.{minor}"


def stage_profile(profile: ShapeProfile, stage: str, image_size: int) -> ShapeProfile:
    """``profile`` for ``stage``: the conditioning stage keeps its batch range at
    ``S x S`` (its only size)."""
    if STAGE_SPECS[stage].dynamic_hw:
        return profile
    S = image_size
    return ShapeProfile.make((profile.min[0], S, S), (profile.opt[0], S, S), (profile.max[0], S, S))


class _Logger:
    """One ``trt.Logger`` per process (TensorRT wants a single logger)."""

    logger = None

    @classmethod
    def get(cls, trt, verbose=False):
        if cls.logger is None:
            cls.logger = trt.Logger(trt.Logger.WARNING)
        cls.logger.min_severity = trt.Logger.VERBOSE if verbose else trt.Logger.WARNING
        return cls.logger


def build_engine(model, out_dir, *, stages=("detector", "polisher"), precision: str = "fp32",
                 profile: ShapeProfile | dict | None = None, weights_sha256: str | None = None,
                 onnx_dir=None, workspace_gib: float = 4.0, timing_cache=None,
                 device="cuda", verbose: bool = False) -> dict[str, Path]:
    """Build a TensorRT engine for each of ``stages`` of ``model`` (a ``Pipeline`` or a
    ``FastcolorModel``) into ``out_dir``: ``<stage>.engine``, ``<stage>.json`` (metadata)
    and the ``<stage>*.onnx`` it was built from. Returns ``{stage: engine path}``.

    precision: fp32 (TF32 off: matches PyTorch to ~1e-5), tf32, fp16 or bf16 (bf16
    needs compute capability >= 8.0). profile: a ``ShapeProfile`` (or ``{stage:
    profile}``); default ``ShapeProfile.for_pipeline(S)``; the conditioning stage uses
    its batch range at ``S x S``. onnx_dir: build from files exported earlier
    (``fastcolor build-engine --onnx-only``) instead of exporting now; they are checked
    against the weights. timing_cache: file (default ``out_dir/timing.cache``), read if
    present and written after each build. workspace_gib: the workspace memory-pool limit.
    After each build the engine is run once at the profile's opt shape against PyTorch;
    the max abs difference goes into the metadata (``extra.max_abs_error_vs_torch``).
    """
    trt = import_tensorrt()
    model, sha = resolve_model(model, weights_sha256)
    stages = parse_stages(stages)
    check_precision(precision)
    device = torch.device(device)
    gpu_name, capability = gpu_identity(device)
    if precision == "bf16" and float(capability) < 8.0:
        raise InvalidInputError(f"bf16 needs compute capability >= 8.0; {gpu_name} has "
                                f"{capability} (use --fp16)")
    if not (isinstance(workspace_gib, (int, float)) and workspace_gib > 0):
        raise InvalidInputError(f"workspace_gib must be > 0, got {workspace_gib!r}")
    S = model.config.image_size
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_path = Path(timing_cache) if timing_cache is not None else out_dir / TIMING_CACHE_NAME
    built = {}
    for stage in stages:
        p = profile.get(stage) if isinstance(profile, dict) else profile
        p = stage_profile(p if p is not None else ShapeProfile.for_pipeline(S), stage, S)
        p.check_order()
        p.check_stage(stage, S)
        if onnx_dir is not None:
            onnx_path = Path(onnx_dir) / onnx_filename(stage, precision)
            check_onnx_matches(onnx_path, stage=stage, weights_sha256=sha, precision=precision,
                               config=model.config)
        else:
            onnx_path = export_onnx(model, stage, out_dir / onnx_filename(stage, precision),
                                    precision=precision, weights_sha256=sha)
        engine_path, meta_path = engine_paths(out_dir, stage)
        t0 = time.perf_counter()
        plan = _build_plan(trt, onnx_path, stage, p, precision, workspace_gib, cache_path,
                           verbose)
        write_atomic(engine_path, plan)
        meta = EngineMetadata(
            stage=stage, precision=precision, fastcolor_version=__version__, weights_sha256=sha,
            tensorrt_version=str(trt.__version__), gpu_name=gpu_name,
            compute_capability=capability, profile=p, image_size=S,
            extra={"torch": torch.__version__, "onnx_file": onnx_path.name,
                   "build_seconds": round(time.perf_counter() - t0, 2),
                   "workspace_gib": workspace_gib})
        runner = TensorRTRunner(engine_path, meta, device)
        err = _max_error_vs_torch(runner, model, stage, p, device)
        meta = dataclasses.replace(meta, extra={**meta.extra, "max_abs_error_vs_torch": err})
        meta.write(meta_path)
        built[stage] = engine_path
    return built


def _build_plan(trt, onnx_path: Path, stage: str, profile: ShapeProfile, precision: str,
                workspace_gib: float, cache_path: Path, verbose: bool):
    """The TensorRT calls of one build; returns the serialized engine."""
    logger = _Logger.get(trt, verbose)
    builder = trt.Builder(logger)
    flags = 0
    strongly = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if strongly is not None:    # TensorRT 10: opt in; 11: always on (the flag is ignored)
        flags |= 1 << int(strongly)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"TensorRT's ONNX parser rejects {str(onnx_path)!r}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if precision == "tf32":
        config.set_flag(trt.BuilderFlag.TF32)
    else:   # fp32 is full fp32; fp16/bf16 graphs are typed
        config.clear_flag(trt.BuilderFlag.TF32)
    opt_profile = builder.create_optimization_profile()
    for name, (lo, mid, hi) in profile.input_shapes(stage).items():
        opt_profile.set_shape(name, lo, mid, hi)
    config.add_optimization_profile(opt_profile)
    cache_bytes = cache_path.read_bytes() if cache_path.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        cache = config.create_timing_cache(b"")     # from another TensorRT/GPU: start anew
        config.set_timing_cache(cache, ignore_mismatch=False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineError(f"TensorRT failed to build the {stage} engine from "
                          f"{str(onnx_path)!r} (its log above says why)")
    write_atomic(cache_path, memoryview(config.get_timing_cache().serialize()))
    return memoryview(plan)


@torch.no_grad()
def _max_error_vs_torch(runner, model, stage, profile, device) -> float:
    b, h, w = profile.opt
    inputs = [t.to(device) for t in example_inputs(model.config, stage, b, h, w, seed=1)]
    graph = stage_graph(model, stage, "fp32").to(device)
    ref = graph(*inputs)
    got = runner(*inputs)
    return float((got - ref).abs().max())


class TensorRTRunner:
    """A deserialized engine of one stage: ``runner(*inputs)`` on torch tensors (moved
    to its CUDA device as float32) -> the float32 output on that device. Batches larger
    than the profile's max batch run in chunks (and one below its min batch padded:
    every norm is per sample); H or W outside the profile raise ``InvalidInputError``."""

    def __init__(self, engine_path, meta: EngineMetadata, device="cuda"):
        trt = import_tensorrt()
        self.trt = trt
        self.path = Path(engine_path)
        self.meta = meta
        self.spec = STAGE_SPECS[meta.stage]
        self.device = torch.device(device)
        if self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        if not self.path.is_file():
            raise EngineError(f"no engine file at {str(self.path)!r}")
        runtime = trt.Runtime(_Logger.get(trt))
        with torch.cuda.device(self.device):
            self.engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
            if self.engine is None:
                raise EngineError(f"TensorRT cannot deserialize {str(self.path)!r} (damaged, "
                                  f"or built by another TensorRT version)")
            self.context = self.engine.create_execution_context()
        self._runtime = runtime
        self._lock = threading.Lock()    # one execution context: its shapes/addresses are shared
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        want = [n for n, _ in self.spec.inputs]
        if inputs != want or outputs != [self.spec.output]:
            raise EngineError(f"{str(self.path)!r} has inputs {inputs} and outputs {outputs}; "
                              f"a {meta.stage} engine has {want} and {[self.spec.output]}")
        for n in names:
            if self.engine.get_tensor_dtype(n) != trt.DataType.FLOAT:
                raise EngineError(f"{str(self.path)!r}: tensor {n!r} is "
                                  f"{self.engine.get_tensor_dtype(n)}, expected float32")
        for name, shapes in meta.profile.input_shapes(meta.stage).items():
            actual = tuple(tuple(int(v) for v in s)
                           for s in self.engine.get_tensor_profile_shape(name, 0))
            if actual != shapes:
                raise EngineError(f"{str(self.path)!r}: input {name!r} has profile {actual}, "
                                  f"its metadata says {shapes}")

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor:
        if len(tensors) != len(self.spec.inputs):
            raise InvalidInputError(f"the {self.meta.stage} engine takes "
                                    f"{len(self.spec.inputs)} inputs, got {len(tensors)}")
        b, _, h, w = tensors[0].shape
        prof = self.meta.profile
        if not (prof.min[1] <= h <= prof.max[1] and prof.min[2] <= w <= prof.max[2]):
            raise InvalidInputError(
                f"the {self.meta.stage} engine was built for H x W from "
                f"{prof.min[1]}x{prof.min[2]} to {prof.max[1]}x{prof.max[2]}; got {h}x{w}. "
                f"Rebuild it with --min/--max covering that size")
        step, lo = prof.max[0], prof.min[0]
        outs = []
        for i in range(0, b, step):
            chunk = [t[i:i + step] for t in tensors]
            n = chunk[0].shape[0]
            if n < lo:   # below the profile's min batch: pad with copies of the last row
                chunk = [torch.cat([c] + [c[-1:]] * (lo - n)) for c in chunk]
            outs.append(self._run(chunk)[:n])
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def _run(self, tensors) -> torch.Tensor:
        ctx = self.context
        with self._lock, torch.cuda.device(self.device):
            keep = []
            for (name, _), t in zip(self.spec.inputs, tensors):
                t = t.detach().to(self.device, torch.float32).contiguous()
                keep.append(t)
                if not ctx.set_input_shape(name, tuple(t.shape)):
                    raise EngineError(f"the {self.meta.stage} engine rejects input {name!r} of "
                                      f"shape {format_shape(t.shape)} (profile "
                                      f"{self.meta.profile})")
                ctx.set_tensor_address(name, t.data_ptr())
            shape = tuple(int(v) for v in ctx.get_tensor_shape(self.spec.output))
            out = torch.empty(shape, dtype=torch.float32, device=self.device)
            ctx.set_tensor_address(self.spec.output, out.data_ptr())
            stream = torch.cuda.current_stream(self.device)
            if not ctx.execute_async_v3(stream.cuda_stream):
                raise EngineError(f"TensorRT failed to run the {self.meta.stage} engine")
        # `keep` may be freed now: torch's caching allocator hands that memory only to work
        # queued after this on the same stream, which runs after the engine has read it
        return out


def load_engine(engine_dir, stage: str, *, weights_sha256: str, image_size: int | None = None,
                device="cuda") -> TensorRTRunner:
    """The runner of ``engine_dir``'s ``stage`` engine after checking its metadata
    against this fastcolor, these weights, this TensorRT and this GPU."""
    trt = import_tensorrt()
    engine_path, meta_path = engine_paths(engine_dir, stage)
    meta = EngineMetadata.read(meta_path)
    gpu_name, capability = gpu_identity(device)
    check_metadata(meta, fastcolor_version=__version__, weights_sha256=weights_sha256,
                   tensorrt_version=str(trt.__version__), gpu_name=gpu_name,
                   compute_capability=capability, image_size=image_size, stage=stage,
                   source=f"engine {str(engine_path)!r}")
    return TensorRTRunner(engine_path, meta, device)


class TensorRTBackend(ReferenceBackend):
    """``Pipeline(backend="tensorrt", engine_dir=DIR)``: each stage with an engine in
    ``DIR`` runs it; stages without one (the CLI builds detector and polisher by
    default) run in PyTorch on the same GPU; low-res generation runs on the fastest
    cached generator present (``backends.fastest_generator``). ``engine_stages`` lists the stages that run on TensorRT."""

    name = "tensorrt"
    kernel_mode = "auto"

    def __init__(self, device, *, engine_dir=None):
        device = torch.device(device)
        if device.type == "cuda" and device.index is None and torch.cuda.is_available():
            device = torch.device("cuda", torch.cuda.current_device())
        super().__init__(device)
        reason = tensorrt_unavailable(device)
        if reason is not None:
            raise BackendUnavailableError(f"backend 'tensorrt' cannot run here: {reason}")
        if engine_dir is None:
            raise InvalidInputError(
                "backend='tensorrt' needs engine_dir=DIR, a folder of engines built on this "
                "machine by: fastcolor build-engine --weights W --out DIR")
        self.engine_dir = Path(engine_dir)
        if not self.engine_dir.is_dir():
            raise InvalidInputError(f"engine_dir {str(self.engine_dir)!r} is not a folder")
        self._model = None
        self.runners: dict[str, TensorRTRunner] = {}
        self._generate = fastest_generator(self.device)

    def generate(self, pixelcnn, cond: torch.Tensor, **kwargs) -> torch.Tensor:
        """The PixelCNN stays with the fastest cached generator present (Triton on CUDA)."""
        return self._generate(pixelcnn, cond, **kwargs)

    @property
    def engine_stages(self) -> tuple[str, ...]:
        return tuple(self.runners)

    def bind(self, model, weights_sha256: str | None = None) -> None:
        """Load and check every engine in ``engine_dir`` for ``model`` (Pipeline calls
        this)."""
        dtypes = {p.dtype for p in model.parameters()}
        if dtypes != {torch.float32}:
            raise InvalidInputError(
                f"the tensorrt backend takes float32 pipelines; this model is "
                f"{', '.join(sorted(str(d) for d in dtypes))}")
        sha = weights_sha256 or tensors_sha256(model.state_dict())
        runners = {}
        for stage in STAGES:
            engine_path, _ = engine_paths(self.engine_dir, stage)
            if engine_path.is_file():
                runners[stage] = load_engine(self.engine_dir, stage, weights_sha256=sha,
                                             image_size=model.config.image_size,
                                             device=self.device)
        if not runners:
            raise EngineError(f"no engines (<stage>.engine) in {str(self.engine_dir)!r}; build "
                              f"them with fastcolor build-engine --weights W --out "
                              f"{self.engine_dir}")
        self._model, self.runners = model, runners

    def _runner(self, stage, module, attr):
        if self._model is None:
            raise EngineError("the tensorrt backend has no model: call "
                              "backend.bind(model, weights_sha256) first (Pipeline does)")
        if module is not getattr(self._model, attr):
            raise InvalidInputError(f"this tensorrt backend is bound to another model; its "
                                    f"{attr} runs the bound model's engine")
        return self.runners.get(stage)

    def condition(self, lowres, outline):
        r = self._runner("conditioning", lowres, "lowres")
        if r is None:
            return super().condition(lowres, outline)
        from ..models.lowres import check_outline
        check_outline(outline, self._model.config.image_size)
        return r(outline)

    def detect(self, detector, outline, colors):
        r = self._runner("detector", detector, "detector")
        if r is None:
            return super().detect(detector, outline, colors)
        check_unet_inputs(outline, colors)
        return r(outline, colors)

    def polish(self, polisher, outline, colors, mask):
        r = self._runner("polisher", polisher, "polisher")
        if r is None:
            return super().polish(polisher, outline, colors, mask)
        check_unet_inputs(outline, colors, mask)
        return r(outline, colors, mask)


__all__ = ["INSTALL_HINT", "TensorRTBackend", "TensorRTRunner", "build_engine", "gpu_identity",
           "import_tensorrt", "load_engine", "stage_profile", "tensorrt_unavailable"]
