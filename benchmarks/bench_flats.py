"""Flat regions (``fastcolor.flats.find_regions``) at the page's own size, side by side in
one run: the NumPy/OpenCV reference and the C++ fast path (``fastcolor._C``).

    python benchmarks/bench_flats.py [--json] [--repeat N] [--sizes 1024 2048 4096] [--threads N]
    pytest benchmarks/bench_flats.py               # pytest-benchmark suite

The line art is a synthetic comic page made here, deterministically (no data files):
panels with borders, closed shapes (circles, ellipses, polygons), anti-aliased lines of a
few widths, broken outlines, hatching, a speech balloon with text, thick black fills and
noise specks, drawn at 1024 x 1024 and scaled with the page (line widths and shapes grow
with it, like a page scanned at a higher resolution). ``gap`` and ``min_area`` are the
defaults for the page's size, the threshold is ``ink_threshold``'s.

Figures: ``flats_<size>_ms`` (C++ with torch's OpenMP threads, ``--threads`` sets them;
best of ``--repeat``), ``flats_<size>_1thread_ms`` (the same on one thread: OpenMP pays
only on an idle machine, pages under 2048 x 2048 run on one thread anyway),
``reference_<size>_ms`` (the reference, timed once: it takes seconds at 4096),
``reference_over_fast_<size>``, the region count ``regions_<size>`` and
``labels_equal_<size>`` (both paths' labels compared in the run); ``hatching_<size>_ms``
(step 6b's hatching pass, ``fastcolor.flats.hatching.sliver_hosts``, on those regions;
best of ``--repeat``) and ``hatching_over_flats_<size>``; ``balloons_<size>_ms`` (step
6b's balloon finder, ``fastcolor.flats.balloons.find_balloons``, on the same regions; its
page has one lettered balloon: ``balloons_found_<size>``). The load average of
the machine before and after the run is reported with them (other work on the cores slows
both paths, the threaded C++ path most).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import cv2
import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import best_time, machine, print_json  # noqa: E402

from fastcolor.flats import default_gap, default_min_area, find_ink, ink_threshold  # noqa: E402
from fastcolor.flats.balloons import find_balloons  # noqa: E402
from fastcolor.flats.hatching import sliver_hosts  # noqa: E402
from fastcolor.flats.reference import flat_regions_reference  # noqa: E402
from fastcolor.generation.cpp import cpp_unavailable_reason, load_extension  # noqa: E402

SIZES = (1024, 2048, 4096)


def _pt(rng, x0, y0, x1, y1):
    return int(rng.integers(x0, max(x0 + 1, x1))), int(rng.integers(y0, max(y0 + 1, y1)))


def _panel(img, rng, x0, y0, x1, y1, s):
    """One panel's drawing inside the box (x0, y0)-(x1, y1); ``s``: the page scale."""
    aa = cv2.LINE_AA
    w, h = x1 - x0, y1 - y0
    widths = [max(1, round(v * s)) for v in (1, 2, 3, 5)]
    for _ in range(6):          # closed shapes
        kind = rng.integers(3)
        t = int(rng.choice(widths))
        if kind == 0:
            r = int(rng.integers(w // 20 + 2, w // 6 + 3))
            cv2.circle(img, _pt(rng, x0 + r, y0 + r, x1 - r, y1 - r), r, 0, t, aa)
        elif kind == 1:
            ax = (int(rng.integers(w // 20 + 2, w // 6 + 3)), int(rng.integers(h // 20 + 2, h // 6 + 3)))
            cv2.ellipse(img, _pt(rng, x0 + ax[0], y0 + ax[0], x1 - ax[0], y1 - ax[0]), ax,
                        float(rng.integers(180)), 0, 360, 0, t, aa)
        else:
            c = np.array(_pt(rng, x0 + w // 6, y0 + h // 6, x1 - w // 6, y1 - h // 6))
            k = int(rng.integers(3, 8))
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))
            rad = rng.uniform(w / 20, w / 6, k)
            pts = (c + np.stack([np.cos(ang) * rad, np.sin(ang) * rad], 1)).astype(np.int32)
            cv2.polylines(img, [pts], True, 0, t, aa)
    for _ in range(3):          # broken outlines: a circle with short gaps cut out
        r = int(rng.integers(w // 12 + 2, w // 5 + 3))
        c = _pt(rng, x0 + r, y0 + r, x1 - r, y1 - r)
        cv2.circle(img, c, r, 0, widths[1], aa)
        for a in rng.uniform(0, 2 * np.pi, 3):
            g = int(rng.integers(1, max(2, round(4 * s)) + 1))
            px, py = c[0] + r * np.cos(a), c[1] + r * np.sin(a)
            cv2.line(img, (int(px - g * np.sin(a) / 2), int(py + g * np.cos(a) / 2)),
                     (int(px + g * np.sin(a) / 2), int(py - g * np.cos(a) / 2)), 255,
                     widths[2] + 2)
    for _ in range(4):          # open strokes
        cv2.line(img, _pt(rng, x0, y0, x1, y1), _pt(rng, x0, y0, x1, y1), 0,
                 int(rng.choice(widths)), aa)
    hx, hy = _pt(rng, x0, y0, x1 - w // 4, y1 - h // 4)    # a hatching patch
    step = max(3, round(5 * s))
    for k in range(0, w // 4, step):
        cv2.line(img, (hx + k, hy), (hx + k + w // 10, hy + h // 5), 0, widths[0], aa)
    c = _pt(rng, x0 + w // 8, y0 + h // 8, x1 - w // 8, y1 - h // 8)  # a thick black fill
    cv2.circle(img, c, int(rng.integers(w // 30 + 2, w // 12 + 3)), 0, -1, aa)


def comic_page(size: int, seed: int = 0) -> np.ndarray:
    """A synthetic comic page, uint8 ``(size, size)`` line art (0 = ink), deterministic."""
    rng = np.random.default_rng(seed)
    s = size / 1024
    img = np.full((size, size), 255, np.uint8)
    margin, gutter = round(24 * s), round(16 * s)
    rows, cols = 3, 2
    ph = (size - 2 * margin - (rows - 1) * gutter) // rows
    pw = (size - 2 * margin - (cols - 1) * gutter) // cols
    for r in range(rows):
        for c in range(cols):
            x0, y0 = margin + c * (pw + gutter), margin + r * (ph + gutter)
            _panel(img, rng, x0, y0, x0 + pw, y0 + ph, s)
            cv2.rectangle(img, (x0, y0), (x0 + pw, y0 + ph), 0, max(2, round(3 * s)))
    # a speech balloon with text over the first panel
    bx, by = margin + pw // 2, margin + ph // 4
    ax = (pw // 3, ph // 6)
    cv2.ellipse(img, (bx, by), ax, 0, 0, 360, 255, -1)
    cv2.ellipse(img, (bx, by), ax, 0, 0, 360, 0, max(1, round(2 * s)), cv2.LINE_AA)
    tail = np.array([[bx - ax[0] // 4, by + ax[1] - 2], [bx - ax[0] // 2, by + 2 * ax[1]],
                     [bx, by + ax[1] - 2]], np.int32)
    cv2.polylines(img, [tail], False, 0, max(1, round(2 * s)), cv2.LINE_AA)
    for i, line in enumerate(("WHAT IS THAT?!", "A CAT... ON THE", "ROOF AGAIN?")):
        cv2.putText(img, line, (bx - int(ax[0] * 0.8), by - ax[1] // 3 + int(i * 0.3 * ax[1])),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6 * s, 0, max(1, round(1.5 * s)), cv2.LINE_AA)
    specks = rng.integers(0, size, (int(300 * s * s), 2))      # noise specks
    img[specks[:, 1], specks[:, 0]] = rng.integers(0, 120, len(specks)).astype(np.uint8)
    return img


def params(gray: np.ndarray) -> tuple[int, int, int]:
    h, w = gray.shape
    return default_gap(h, w), default_min_area(h, w), ink_threshold(gray)


def fast(gray: np.ndarray, gap: int, min_area: int, threshold: int) -> np.ndarray:
    return np.asarray(load_extension().flat_regions(gray, gap, min_area, threshold))


needs_cpp = pytest.mark.skipif(cpp_unavailable_reason() is not None,
                               reason=f"fastcolor._C is not built: {cpp_unavailable_reason()}")


@needs_cpp
@pytest.mark.parametrize("size", SIZES)
def test_flats_cpp(benchmark, size):
    gray = comic_page(size)
    args = params(gray)
    benchmark.extra_info.update(size=size, gap=args[0], min_area=args[1], threshold=args[2])
    benchmark(fast, gray, *args)


@needs_cpp
@pytest.mark.parametrize("size", SIZES)
def test_hatching(benchmark, size):
    """Step 6b's hatching pass (fastcolor.flats.hatching.sliver_hosts) on the page's
    regions: a pure NumPy/OpenCV op, timed beside the regions it follows."""
    gray = comic_page(size)
    gap, min_area, threshold = params(gray)
    labels = fast(gray, gap, min_area, threshold)
    benchmark.extra_info.update(size=size)
    benchmark(sliver_hosts, labels, find_ink(gray, threshold))


@needs_cpp
@pytest.mark.parametrize("size", SIZES)
def test_balloons(benchmark, size):
    """Step 6b's balloon finder (fastcolor.flats.balloons.find_balloons) on the page's
    regions."""
    gray = comic_page(size)
    gap, min_area, threshold = params(gray)
    labels = fast(gray, gap, min_area, threshold)
    benchmark.extra_info.update(size=size)
    benchmark(find_balloons, labels, find_ink(gray, threshold))


@needs_cpp
@pytest.mark.parametrize("size", [1024])
def test_flats_reference(benchmark, size):
    gray = comic_page(size)
    benchmark.pedantic(flat_regions_reference, args=(gray, *params(gray)), rounds=1, iterations=1)


def timed_by_threads(fn, thread_counts, repeat: int) -> list[float]:
    """Best wall time (s) of ``fn`` with each of ``thread_counts`` OpenMP threads, the
    counts taking turns within each round (load from other processes falls on all alike)."""
    before = torch.get_num_threads()
    best = [float("inf")] * len(thread_counts)
    try:
        for r in range(repeat + 1):
            for i, n in enumerate(thread_counts):
                torch.set_num_threads(n)
                t = best_time(fn, repeat=1, warmup=0)
                best[i] = min(best[i], t) if r else best[i]    # round 0 warms up
    finally:
        torch.set_num_threads(before)
    return best


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object last")
    p.add_argument("--repeat", type=int, default=5, help="C++ runs per size (best taken)")
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--threads", type=int, default=None,
                   help="OpenMP threads (torch's); default: torch's")
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    reason = cpp_unavailable_reason()
    if reason:
        sys.exit(f"bench_flats needs fastcolor._C: {reason}")
    figures = {"machine": machine(), "threads": threads,
               "load_average_before": [round(v, 2) for v in os.getloadavg()]}
    for size in args.sizes:
        gray = comic_page(size)
        gap, min_area, threshold = params(gray)
        t_fast, t_one = timed_by_threads(lambda: fast(gray, gap, min_area, threshold),
                                         (threads, 1), args.repeat)
        start = time.perf_counter()
        want = flat_regions_reference(gray, gap, min_area, threshold)
        t_ref = time.perf_counter() - start
        got = fast(gray, gap, min_area, threshold)
        figures[f"flats_{size}_ms"] = round(t_fast * 1e3, 1)
        figures[f"flats_{size}_1thread_ms"] = round(t_one * 1e3, 1)
        figures[f"reference_{size}_ms"] = round(t_ref * 1e3, 1)
        figures[f"reference_over_fast_{size}"] = round(t_ref / t_fast, 1)
        figures[f"regions_{size}"] = int(got.max()) + 1
        figures[f"labels_equal_{size}"] = bool(np.array_equal(got, want))
        figures[f"params_{size}"] = {"gap": gap, "min_area": min_area, "threshold": threshold}
        ink = find_ink(gray, threshold)           # step 6b's hatching pass on these regions
        t_hatch = best_time(lambda: sliver_hosts(got, ink), repeat=args.repeat, warmup=1)
        figures[f"hatching_{size}_ms"] = round(t_hatch * 1e3, 1)
        figures[f"hatching_over_flats_{size}"] = round(t_hatch / t_fast, 2)
        t_balloons = best_time(lambda: find_balloons(got, ink), repeat=args.repeat, warmup=1)
        figures[f"balloons_{size}_ms"] = round(t_balloons * 1e3, 1)
        figures[f"balloons_found_{size}"] = int(find_balloons(got, ink).sum())
        print(f"{size} x {size}: C++ {t_fast * 1e3:.1f} ms ({threads} threads), "
              f"{t_one * 1e3:.1f} ms (1 thread) | reference {t_ref:.2f} s | "
              f"reference/C++ {t_ref / t_fast:.0f}x | {figures[f'regions_{size}']} regions | "
              f"labels equal: {figures[f'labels_equal_{size}']} (gap {gap}, min_area {min_area}, "
              f"threshold {threshold}) | hatching {t_hatch * 1e3:.1f} ms | balloons "
              f"{t_balloons * 1e3:.1f} ms")
    figures["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    print(f"load average (1, 5, 15 min) before {figures['load_average_before']}, after "
          f"{figures['load_average_after']}")
    if not all(figures[f"labels_equal_{s}"] for s in args.sizes):
        print("MISMATCH: the C++ labels differ from the reference", file=sys.stderr)
    if args.json:
        print_json(figures)
    return figures


if __name__ == "__main__":
    main()
