"""Fuzz the input side: corrupted, truncated and mutated PNG, JPEG, WebP and TIFF files and
random arrays go to ``fastcolor.imageio.load_image`` (from a file and from a PIL image)
and, when they load, to ``fastcolor.outline.extract`` (and with ``--pipeline`` to a tiny
random ``Pipeline``). Every case must give a result or a ``FastcolorError``; anything
else is a failure.

::

    python benchmarks/fuzz_inputs.py --cases 10000 --json [--seed 0] [--pipeline]
                                     [--save-failures DIR]

The last line of ``--json`` output is ``{"cases", "failures", "seconds", ...}``.
``tests/test_fuzz.py`` drives the same cases (``seed_files``, ``mutate``, ``check_bytes``,
``check_array``) with hypothesis.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import traceback
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from fastcolor import outline
from fastcolor.errors import FastcolorError
from fastcolor.imageio import load_image

FORMATS = ("png", "jpeg", "webp", "tiff")
# outline extraction and the pipeline run on decoded images up to this many pixels (a
# mutated header can declare a large image; load_image alone checks those)
MAX_PROCESS_PIXELS = 1 << 20
# mutation ops: ("flip", pos, byte) ("truncate", pos) ("insert", pos, bytes)
# ("delete", pos, n) ("repeat", pos, n): pos taken modulo the data's length; ("crc",):
# recompute the CRC of every PNG chunk (else nearly every mutated PNG stops at a CRC)
OPS = ("flip", "truncate", "insert", "delete", "repeat", "crc")


def _drawing(h: int = 45, w: int = 67) -> np.ndarray:
    """A small RGBA page: lines on paper, a colored fill, a transparent corner."""
    rng = np.random.default_rng(0)
    img = np.full((h, w, 4), 255, np.uint8)
    img[4, 2:-2, :3] = 0
    img[2:-2, 6, :3] = 0
    img[10:30, 12:45, :3] = (200, 90, 40)
    img[:5, -6:, 3] = 0
    img[..., :3] = np.clip(img[..., :3] + rng.integers(-6, 7, (h, w, 3)), 0, 255)
    return img


def seed_files() -> list[tuple[str, bytes]]:
    """Valid small files to mutate, ``(suffix, bytes)``: every format in the modes and
    codecs a scan or an export may use (8/16-bit, palette, bilevel, alpha, CMYK, float
    TIFF, EXIF-rotated JPEG, compressed TIFF)."""
    rgba = Image.fromarray(_drawing())
    rgb, gray = rgba.convert("RGB"), rgba.convert("L")
    gray16 = Image.fromarray((np.asarray(gray).astype(np.uint16) * 257))
    exif = Image.Exif()
    exif[0x0112] = 6                                     # orientation: rotate 90
    cases = [
        (".png", rgb, {}), (".png", rgba, {}), (".png", gray, {}), (".png", gray16, {}),
        (".png", rgb.convert("P"), {}), (".png", gray.convert("1"), {}),
        (".png", rgba.convert("LA"), {}),
        (".jpg", rgb, {"quality": 80}), (".jpg", gray, {}), (".jpg", rgb.convert("CMYK"), {}),
        (".jpg", rgb, {"exif": exif, "progressive": True}),
        (".webp", rgb, {"quality": 80}), (".webp", rgba, {"lossless": True}),
        (".tif", rgb, {}), (".tif", rgba, {"compression": "tiff_lzw"}),
        (".tif", gray16, {"compression": "tiff_deflate"}),
        (".tif", Image.fromarray(np.asarray(gray, np.float32) / 255), {}),
        (".tif", gray.convert("1"), {"compression": "group4"}),
        (".tif", rgb.convert("CMYK"), {}),
    ]
    out = []
    for suffix, img, options in cases:
        buf = io.BytesIO()
        img.save(buf, format={".jpg": "JPEG", ".tif": "TIFF"}.get(suffix, suffix[1:].upper()),
                 **options)
        out.append((suffix, buf.getvalue()))
    return out


def _fix_png_crcs(b: bytearray) -> None:
    """Rewrite the CRC of each whole chunk of a PNG in place (as far as it parses)."""
    pos = 8
    while pos + 12 <= len(b):
        n = int.from_bytes(b[pos:pos + 4], "big")
        end = pos + 8 + n
        if end + 4 > len(b):
            break
        b[end:end + 4] = zlib.crc32(bytes(b[pos + 4:end])).to_bytes(4, "big")
        pos = end + 4


def mutate(data: bytes, ops) -> bytes:
    """``data`` with each of ``ops`` (see ``OPS``) applied in turn."""
    b = bytearray(data)
    for op in ops:
        if not b:
            break
        if op[0] == "crc":
            if b.startswith(b"\x89PNG"):
                _fix_png_crcs(b)
            continue
        kind, pos = op[0], op[1] % len(b)
        if kind == "flip":
            b[pos] = op[2] & 0xFF
        elif kind == "truncate":
            del b[pos:]
        elif kind == "insert":
            b[pos:pos] = bytes(op[2])
        elif kind == "delete":
            del b[pos:pos + op[2]]
        elif kind == "repeat":
            b[pos:pos] = b[pos:pos + op[2]]
        else:
            raise ValueError(f"unknown mutation {kind!r}")
    return bytes(b)


_OP_WEIGHTS = (0.5, 0.2, 0.1, 0.1, 0.1, 0.0)   # "crc" is added on its own


def random_ops(rng: np.random.Generator) -> list[tuple]:
    """1-3 random mutations (mostly byte flips), 30% of them in the first 64 bytes
    (where the decoders branch), the others anywhere."""
    ops = []
    for _ in range(int(rng.integers(1, 4))):
        kind = OPS[int(rng.choice(len(OPS), p=_OP_WEIGHTS))]
        pos = int(rng.integers(0, 64)) if rng.random() < 0.3 else int(rng.integers(0, 1 << 20))
        if kind == "flip":
            ops.append((kind, pos, int(rng.integers(256))))
        elif kind == "truncate":
            ops.append((kind, pos))
        elif kind == "insert":
            ops.append((kind, pos, rng.integers(0, 256, int(rng.integers(1, 9))).tolist()))
        else:
            ops.append((kind, pos, int(rng.integers(1, 17))))
    if rng.random() < 0.5:
        ops.append(("crc",))
    return ops


def random_array(rng: np.random.Generator) -> np.ndarray:
    """An array of a random dtype (accepted or not), shape and value range."""
    dtype = rng.choice(["uint8", "uint16", "float16", "float32", "float64", "int8", "int32",
                        "int64", "bool", "complex64", "uint32"])
    ndim = int(rng.integers(0, 5))
    shape = tuple(int(rng.choice([0, 1, 2, 3, 4, 5, 17, 40])) for _ in range(ndim))
    if np.dtype(dtype).kind == "f":
        arr = rng.uniform(-0.5, 1.5, shape) if rng.random() < 0.3 else rng.random(shape)
        if arr.size and rng.random() < 0.2:
            arr.flat[int(rng.integers(arr.size))] = rng.choice([np.nan, np.inf, -np.inf])
        return arr.astype(dtype)
    if dtype == "complex64":
        return (rng.random(shape) + 1j * rng.random(shape)).astype(dtype)
    info = np.iinfo(dtype) if dtype != "bool" else None
    if info is None:
        return rng.random(shape) < 0.5
    return rng.integers(max(info.min, -(1 << 40)), min(info.max, 1 << 40), shape,
                        dtype=dtype, endpoint=True)


def _process(arr: np.ndarray, pipe) -> None:
    """What follows a successful load: the outline (and the pipeline)."""
    if arr.shape[0] * arr.shape[1] > MAX_PROCESS_PIXELS:
        return
    ink = outline.extract(arr)
    assert ink.dtype == np.uint8 and ink.shape == arr.shape[:2], (ink.dtype, ink.shape)
    if pipe is not None:
        image = pipe(arr, seed=0).image
        assert image.shape == arr.shape[:2] + (3,), image.shape


def _checked(fn, outcomes: dict | None = None) -> BaseException | None:
    """Run ``fn``: None if it returns or raises a ``FastcolorError``, else the exception.
    ``outcomes`` counts ``loaded`` (returned) and ``refused`` (FastcolorError)."""
    outcome = "loaded"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except FastcolorError:
        outcome = "refused"
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 - that is the finding
        return e
    if outcomes is not None:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return None


def check_bytes(data: bytes, suffix: str, folder: Path, pipe=None,
                outcomes: dict | None = None) -> BaseException | None:
    """``data`` as a file (``suffix``) and as a PIL image through ``load_image`` and, if
    it loads, the outline (and ``pipe``). Returns the first exception that is not a
    ``FastcolorError``, or None."""
    path = Path(folder) / f"case{suffix}"
    path.write_bytes(data)

    def from_file():
        _process(load_image(path), pipe)

    def from_pil():
        try:
            img = Image.open(io.BytesIO(data))     # the caller's own call: may raise
        except Exception:  # noqa: BLE001 - PIL refusing to open is not fastcolor's
            return
        with img:
            _process(load_image(img), pipe)

    return _checked(from_file, outcomes) or _checked(from_pil)


def check_array(arr, pipe=None, outcomes: dict | None = None) -> BaseException | None:
    """``arr`` through ``load_image`` and, if it loads, the outline (and ``pipe``)."""
    return _checked(lambda: _process(load_image(arr), pipe), outcomes)


def run(cases: int, seed: int = 0, pipe=None, save_failures: Path | None = None,
        array_share: float = 0.2) -> dict:
    rng = np.random.default_rng(seed)
    seeds = seed_files()
    failures, examples, outcomes = 0, [], {"loaded": 0, "refused": 0}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(cases):
            if rng.random() < array_share:
                arr = random_array(rng)
                err, what = check_array(arr, pipe, outcomes), f"array {arr.dtype} {arr.shape}"
            else:
                suffix, data = seeds[int(rng.integers(len(seeds)))]
                ops = random_ops(rng)
                case = mutate(data, ops)
                err = check_bytes(case, suffix, Path(tmp), pipe, outcomes)
                what = f"{suffix} {ops}"
                if err is not None and save_failures is not None:
                    save_failures.mkdir(parents=True, exist_ok=True)
                    (save_failures / f"failure{i}{suffix}").write_bytes(case)
            if err is not None:
                failures += 1
                if len(examples) < 10:
                    examples.append({"case": i, "input": what,
                                     "error": "".join(traceback.format_exception_only(err)).strip()})
    return {"cases": cases, "failures": failures,
            "seconds": round(time.perf_counter() - t0, 1), "seed": seed,
            "pipeline": pipe is not None, **outcomes, "failure_examples": examples}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pipeline", action="store_true",
                   help="also color every loaded image with a tiny random Pipeline")
    p.add_argument("--save-failures", type=Path, default=None,
                   help="write the failing files here")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    pipe = None
    if args.pipeline:
        from fastcolor import FastcolorConfig, Pipeline
        pipe = Pipeline.random(FastcolorConfig.tiny(), seed=0)
    result = run(args.cases, args.seed, pipe, args.save_failures)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['cases']} cases ({result['loaded']} loaded, {result['refused']} "
              f"refused with a FastcolorError), {result['failures']} failures, "
              f"{result['seconds']} s")
        for ex in result["failure_examples"]:
            print(f"  case {ex['case']}: {ex['input']}: {ex['error']}")
    return result


if __name__ == "__main__":
    sys.exit(1 if main()["failures"] else 0)
