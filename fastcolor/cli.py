"""The ``fastcolor`` command line.

::

    fastcolor outline IN -o OUT.png
    fastcolor colorize IN... -o OUT [--weights W] [--seed N] [--samples N]
                       [--background R,G,B] [--hints HINTS.png] [--temperature T]
                       [--no-detect-background] [--backend NAME]
    fastcolor info [--weights W]
    fastcolor build-engine [--weights W] [--stages detector,polisher] [--fp16 | --bf16 | --tf32]
                       [--min BxHxW] [--opt BxHxW] [--max BxHxW] --out DIR
                       [--onnx-only | --onnx-dir DIR] [--workspace-gib G] [--timing-cache F]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import FastcolorError, InvalidInputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def _expand_inputs(paths: list[str]) -> list[Path]:
    """Files as given; folders -> their image files, sorted."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InvalidInputError(f"folder {str(p)!r} holds no images")
            out += found
        else:
            out.append(p)
    return out


def _output_paths(inputs: list[Path], out: Path, samples: int) -> list[list[Path]]:
    """Where each input's samples go: ``-o`` is a file for one input and one sample,
    otherwise a folder receiving ``NAME.png`` (or ``NAME_k.png`` for sample k)."""
    if len(inputs) == 1 and samples == 1 and out.suffix.lower() in IMAGE_SUFFIXES:
        return [[out]]
    return [[out / (f"{p.stem}.png" if samples == 1 else f"{p.stem}_{k}.png")
             for k in range(samples)] for p in inputs]


def cmd_outline(args) -> int:
    from . import outline
    from .imageio import load_image, save_image
    save_image(args.output, outline.extract(load_image(args.input)))
    print(f"wrote {args.output}")
    return 0


def _pipeline(args):
    from .pipeline import Pipeline
    return Pipeline.from_pretrained(args.weights, backend=args.backend)


def cmd_colorize(args) -> int:
    from .pipeline import Hints
    inputs = _expand_inputs(args.inputs)
    outputs = _output_paths(inputs, Path(args.output), args.samples)
    pipe = _pipeline(args)
    hints = Hints.from_image(args.hints, pipe.config.lowres_size) if args.hints else None
    for i, (src, dsts) in enumerate(zip(inputs, outputs)):
        result = pipe(str(src), seed=args.seed + i, samples=args.samples, hints=hints,
                      background=args.background, temperature=args.temperature,
                      detect_background=not args.no_detect_background)
        for res, dst in zip(result if args.samples > 1 else [result], dsts):
            res.save(dst)
            print(f"wrote {dst}")
    return 0


def cmd_info(args) -> int:
    from . import __version__
    from .backends import BACKEND_NAMES, backend_unavailable_reason
    from .weights import describe
    import torch
    pipe = _pipeline(args)
    print(f"fastcolor {__version__}, torch {torch.__version__}")
    print(f"weights sha256 {pipe.weights_sha256}")
    print(pipe.config.to_json())
    print(describe(pipe.model))
    for name in BACKEND_NAMES:
        reason = backend_unavailable_reason(name, torch.device("cpu"))
        print(f"backend {name:12s} {'available' if reason is None else 'unavailable: ' + reason}")
    return 0


def cmd_build_engine(args) -> int:
    from . import engines
    from .errors import BackendUnavailableError
    from .pipeline import Pipeline
    precision = "fp16" if args.fp16 else "bf16" if args.bf16 else "tf32" if args.tf32 else "fp32"
    stages = engines.parse_stages(args.stages)
    pipe = Pipeline.from_pretrained(args.weights, backend="reference")
    S = pipe.config.image_size
    lo = engines.parse_shape(args.min) if args.min else (1, S, S)
    mid = engines.parse_shape(args.opt) if args.opt else lo
    hi = engines.parse_shape(args.max) if args.max else tuple(
        max(a, b) for a, b in zip(mid, (8, S, S)))
    profile = engines.ShapeProfile.make(lo, mid, hi)
    for stage in stages:
        engines.stage_profile(profile, stage, S).check_stage(stage, S)
    out = Path(args.out)
    if args.onnx_only:
        paths = engines.export_stages(pipe, out, stages, precision=precision,
                                      weights_sha256=pipe.weights_sha256)
        for stage, path in paths.items():
            print(f"wrote {path} (onnx.checker: ok)")
        weights = args.weights or "W.safetensors"
        shape = engines.format_shape
        flag = "" if precision == "fp32" else f" --{precision}"
        print(f"\nThese ONNX files hold weights sha256 {pipe.weights_sha256}. On the GPU "
              f"machine (pip install tensorrt), with the same weights and this folder, run:\n"
              f"  fastcolor build-engine --weights {weights} --onnx-dir {out} "
              f"--stages {','.join(stages)}{flag} --min {shape(lo)} --opt {shape(mid)} "
              f"--max {shape(hi)} --out ENGINE_DIR\n"
              f"then use Pipeline(backend=\"tensorrt\", engine_dir=\"ENGINE_DIR\", device=\"cuda\").")
        return 0
    try:
        built = engines.build_engine(pipe, out, stages=stages, precision=precision,
                                     profile=profile, onnx_dir=args.onnx_dir,
                                     workspace_gib=args.workspace_gib,
                                     timing_cache=args.timing_cache, verbose=args.verbose)
    except BackendUnavailableError as e:
        raise BackendUnavailableError(
            f"{e}. On a machine without TensorRT, export the ONNX files with --onnx-only "
            f"and build the engines on the GPU machine") from None
    for stage, path in built.items():
        meta = engines.EngineMetadata.read(engines.engine_paths(out, stage)[1])
        print(f"wrote {path} ({meta.precision}, profile {meta.profile}, TensorRT "
              f"{meta.tensorrt_version}, {meta.gpu_name}; max abs error vs PyTorch "
              f"{meta.extra.get('max_abs_error_vs_torch'):.2e})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fastcolor", description="Color comic line art.")
    sub = p.add_subparsers(dest="command", required=True)

    o = sub.add_parser("outline", help="extract the outline of a page (black ink on white)")
    o.add_argument("input")
    o.add_argument("-o", "--output", required=True)
    o.set_defaults(func=cmd_outline)

    def add_weights(sp):
        sp.add_argument("--weights", default=None,
                        help="a .safetensors weight file (default: the shipped weights)")
        sp.add_argument("--backend", default="auto",
                        help="auto, reference, cpp, triton, onnxruntime or tensorrt")

    c = sub.add_parser("colorize", help="color line art (files or folders)")
    c.add_argument("inputs", nargs="+")
    c.add_argument("-o", "--output", required=True,
                   help="output file (one input) or folder (several inputs or samples)")
    add_weights(c)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--samples", type=int, default=1, help="variants per image")
    c.add_argument("--background", default=None, help="background color: R,G,B or #rrggbb")
    c.add_argument("--hints", default=None, help="RGBA image whose opaque pixels are hints")
    c.add_argument("--temperature", type=float, default=1.0)
    c.add_argument("--no-detect-background", action="store_true",
                   help="skip the background detector (the paper's ablation)")
    c.set_defaults(func=cmd_colorize)

    i = sub.add_parser("info", help="print the model config, sizes and backends")
    add_weights(i)
    i.set_defaults(func=cmd_info)

    e = sub.add_parser(
        "build-engine", help="export ONNX graphs and build TensorRT engines of the U-Nets",
        description="Build TensorRT engines (or, with --onnx-only, the checked ONNX files) of "
                    "the feed-forward stages. Shapes are BATCHxHEIGHTxWIDTH, e.g. 1x256x256; "
                    "the engine accepts every shape between --min and --max and is tuned "
                    "for --opt. The conditioning stage keeps the batch range at the model's "
                    "image size.")
    e.add_argument("--weights", default=None,
                   help="a .safetensors weight file (default: the shipped weights)")
    e.add_argument("--stages", default="detector,polisher",
                   help="comma-separated: conditioning, detector, polisher "
                        "(default detector,polisher)")
    prec = e.add_mutually_exclusive_group()
    prec.add_argument("--fp16", action="store_true", help="float16 engines")
    prec.add_argument("--bf16", action="store_true",
                      help="bfloat16 engines (compute capability >= 8.0)")
    prec.add_argument("--tf32", action="store_true",
                      help="float32 graphs, TF32 math allowed (default: full float32)")
    e.add_argument("--min", default=None, help="smallest BxHxW (default 1xSxS)")
    e.add_argument("--opt", default=None, help="BxHxW to tune for (default: --min)")
    e.add_argument("--max", default=None, help="largest BxHxW (default 8xSxS, at least --opt)")
    e.add_argument("--out", required=True, help="output folder")
    src = e.add_mutually_exclusive_group()
    src.add_argument("--onnx-only", action="store_true",
                     help="export and check the ONNX files only (no TensorRT needed), and "
                          "print the command to run on the GPU machine")
    src.add_argument("--onnx-dir", default=None,
                     help="build from ONNX files exported earlier with --onnx-only")
    e.add_argument("--workspace-gib", type=float, default=4.0,
                   help="TensorRT workspace memory-pool limit in GiB (default 4)")
    e.add_argument("--timing-cache", default=None,
                   help="TensorRT timing cache file, read and updated (default OUT/timing.cache)")
    e.add_argument("--verbose", action="store_true", help="TensorRT's verbose log")
    e.set_defaults(func=cmd_build_engine)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except FastcolorError as e:
        print(f"fastcolor: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
