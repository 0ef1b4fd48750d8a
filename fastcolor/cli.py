"""The ``fastcolor`` command line.

::

    fastcolor outline IN -o OUT.png
    fastcolor colorize IN... -o OUT [--weights W] [--seed N] [--samples N]
                       [--background R,G,B] [--hints HINTS.png] [--temperature T]
                       [--no-detect-background] [--backend NAME]
    fastcolor info [--weights W]
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
