"""The feed-forward stages: PyTorch eager vs ONNX Runtime (vs TensorRT where present).

    python benchmarks/bench_unet.py [--json]      # side-by-side figures, one run
    pytest benchmarks/bench_unet.py               # pytest-benchmark suite

Default model config (``FastcolorConfig()``), batch 1: the background detector and the
polishing net at 256 x 256 and 512 x 512, the conditioning net at its fixed 256 x 256.
ONNX Runtime runs the graphs ``fastcolor.engines`` exports (CPU provider,
``ORT_ENABLE_ALL``, as many intra-op threads as torch uses). With ``tensorrt`` importable
and a CUDA GPU, fp32 TensorRT engines are built (profile 1x256x256 .. 1x512x512) and
timed against eager PyTorch on the same GPU.

Figures (ms, best of ``--repeat``): ``eager_<stage>_<size>_ms``,
``ort_<stage>_<size>_ms``, and the ratio ``eager_over_ort_<stage>_<size>`` (> 1: ONNX
Runtime is faster); with TensorRT, ``eager_cuda_*``, ``trt_*`` and
``eager_cuda_over_trt_*``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import best_time, machine, print_json  # noqa: E402

from fastcolor import Pipeline  # noqa: E402
from fastcolor.config import FastcolorConfig  # noqa: E402
from fastcolor.engines import example_inputs, export_onnx, onnx_filename  # noqa: E402
from fastcolor.engines.ort_backend import OrtStage  # noqa: E402
from fastcolor.weights import tensors_sha256  # noqa: E402

CASES = [("conditioning", 256), ("detector", 256), ("detector", 512), ("polisher", 256),
         ("polisher", 512)]


def interleaved_best(fns, repeat: int = 10, warmup: int = 2) -> list[float]:
    """Best wall time (s) of each of ``fns``, timed in turn within each round, so that
    load from other processes falls on all of them alike (``common.best_time`` per fn,
    interleaved)."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], best_time(fn, repeat=1, warmup=0))
    return best


def _tensorrt_present() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


class Bench:
    """The default-size model, its exported stages and one ONNX Runtime session each."""

    def __init__(self, workdir: str, threads: int | None = None):
        self.pipe = Pipeline.random(FastcolorConfig(), seed=0, backend="reference")
        self.config = self.pipe.config
        self.threads = threads or torch.get_num_threads()
        self.export_s = {}
        self.sessions = {}
        for stage in sorted({s for s, _ in CASES}):
            t = time.perf_counter()
            path = export_onnx(self.pipe, stage, os.path.join(workdir, onnx_filename(stage)))
            self.export_s[stage] = time.perf_counter() - t
            self.sessions[stage] = OrtStage(path, stage, ["CPUExecutionProvider"], self.threads)
        self.workdir = workdir
        self.runners = None

    def inputs(self, stage, size, device="cpu"):
        return [t.to(device) for t in example_inputs(self.config, stage, 1, size, size, seed=size)]

    def eager(self, stage, size, device="cpu"):
        m = self.pipe.model if device == "cpu" else self.cuda_model
        fn = {"conditioning": m.lowres.condition, "detector": m.detector.probability,
              "polisher": m.polisher}[stage]
        x = self.inputs(stage, size, device)

        def run():
            with torch.no_grad():
                out = fn(*x)
            if device != "cpu":
                torch.cuda.synchronize()
            return out
        return run

    def ort(self, stage, size):
        session, x = self.sessions[stage], self.inputs(stage, size)
        return lambda: session(*x)

    def build_tensorrt(self):
        from fastcolor.engines import ShapeProfile, build_engine, load_engine
        S = self.config.image_size
        out = os.path.join(self.workdir, "engines")
        build_engine(self.pipe, out, stages=("conditioning", "detector", "polisher"),
                     profile=ShapeProfile.make(f"1x{S}x{S}", f"1x{S}x{S}", "1x512x512"))
        sha = tensors_sha256(self.pipe.model.state_dict())   # random weights: no file sha
        self.runners = {s: load_engine(out, s, weights_sha256=sha)
                        for s in ("conditioning", "detector", "polisher")}
        self.cuda_model = self.pipe.model.to("cuda")

    def trt(self, stage, size):
        runner, x = self.runners[stage], self.inputs(stage, size, "cuda")

        def run():
            out = runner(*x)
            torch.cuda.synchronize()
            return out
        return run


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return Bench(str(tmp_path_factory.mktemp("bench_unet")))


@pytest.mark.parametrize("stage, size", CASES, ids=[f"{s}_{n}" for s, n in CASES])
@pytest.mark.parametrize("impl", ["eager", "ort"])
def test_stage(benchmark, bench, impl, stage, size):
    benchmark.group = f"{stage}_{size}"
    benchmark(getattr(bench, impl)(stage, size))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object last")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--threads", type=int, default=None,
                   help="threads of both torch and ONNX Runtime (intra-op); default: torch's")
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as workdir:
        b = Bench(workdir, args.threads)
        figures = {"machine": machine(), "ort_threads": b.threads,
                   "onnxruntime": __import__("onnxruntime").__version__,
                   "load_average_1min_before": round(os.getloadavg()[0], 2)}
        for stage, s in b.export_s.items():
            figures[f"onnx_export_{stage}_s"] = round(s, 2)
        for stage, size in CASES:
            te, to = interleaved_best([b.eager(stage, size), b.ort(stage, size)],
                                      repeat=args.repeat)
            key = f"{stage}_{size}"
            figures[f"eager_{key}_ms"] = round(te * 1e3, 3)
            figures[f"ort_{key}_ms"] = round(to * 1e3, 3)
            figures[f"eager_over_ort_{key}"] = round(te / to, 3)
            print(f"{key:18s} eager {te * 1e3:8.2f} ms   onnxruntime {to * 1e3:8.2f} ms   "
                  f"x{te / to:5.2f}")
        if _tensorrt_present():
            b.build_tensorrt()
            figures["tensorrt"] = __import__("tensorrt").__version__
            for stage, size in CASES:
                te, tt = interleaved_best([b.eager(stage, size, "cuda"), b.trt(stage, size)],
                                          repeat=args.repeat)
                key = f"{stage}_{size}"
                figures[f"eager_cuda_{key}_ms"] = round(te * 1e3, 3)
                figures[f"trt_{key}_ms"] = round(tt * 1e3, 3)
                figures[f"eager_cuda_over_trt_{key}"] = round(te / tt, 3)
                print(f"{key:18s} eager cuda {te * 1e3:8.3f} ms   tensorrt {tt * 1e3:8.3f} ms"
                      f"   x{te / tt:5.2f}")
        else:
            figures["tensorrt"] = None
        figures["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    if args.json:
        print_json(figures)
    return figures


if __name__ == "__main__":
    main()
