"""The whole job as a user runs it: ``fastcolor colorize`` on a page, with the shipped
weights, side by side with and without flats (and with step 6c's vote of 4 samples).

    python benchmarks/bench_pipeline.py [--json] [--repeat N] [--cases panel a4 strip big]
                                        [--modes flats soft consensus4 sample_colors]
    pytest benchmarks/bench_pipeline.py             # pytest-benchmark suite

Pages (made here from the bundled examples, deterministically; no data files):

- ``panel``: one 256 x 256 panel (``examples/panel_faces.png`` resized);
- ``a4``: a 1654 x 2339 manga page, A4 at 200 dpi (``examples/page_manga.png`` scaled:
  four panels, gutters, balloons, hatching);
- ``strip``: an 800 x 20000 webtoon strip, 31 panels of the examples with 120 px paper
  gutters;
- ``strip5k``: the same strip 5000 px long (time and memory should grow linearly with
  the strip's length; not in the default cases);
- ``big``: the largest page fastcolor takes, 8192 x 8192 (``page_manga`` scaled; not in
  the default cases: it shows that memory stays bounded).

Each case runs in a fresh process (so its peak RSS is its own): the pipeline is loaded
once, one untimed warm-up page, then ``--repeat`` timed pages (the best is reported) from
a PNG file on disk to a PNG file on disk. Modes: ``flats`` (the default colorize),
``soft`` (``--no-flats``), ``consensus4`` (``--consensus 4``: four samples through steps
2-6b, one composed), ``sample_colors`` (``--figure-colors sample``: the figure painted from
the low-res sample, the paper's, instead of the color prior's; for weights with a prior
the difference is the prior's own pass in step 2). Figures: ``<case>_<mode>_ms`` (ms per page),
``<case>_<mode>_peak_rss_mb``, the share of time per step
(``<case>_<mode>_share``: load, outline, panels, condition, generate, detect, polish,
flats, compose, write) and the panels and tiles the page was cut into. The load average
before and after is reported with them: other work on the 2 cores slows the model steps
(torch's OpenMP threads) most.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine, print_json  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CASES = ("panel", "a4", "strip")
MODES = {"flats": {}, "soft": {"flats": False}, "consensus4": {"consensus": 4},
         "sample_colors": {"figure_colors": "sample"}}
STEPS = ("load", "outline", "panels", "condition", "generate", "detect", "polish", "flats",
         "compose", "write")


def make_page(case: str) -> np.ndarray:
    """The gray line art of a case (uint8, 0 = ink)."""
    manga = cv2.imread(str(EXAMPLES / "page_manga.png"), cv2.IMREAD_GRAYSCALE)
    if case == "panel":
        faces = cv2.imread(str(EXAMPLES / "panel_faces.png"), cv2.IMREAD_GRAYSCALE)
        return cv2.resize(faces, (256, 256), interpolation=cv2.INTER_AREA)
    if case == "a4":
        return cv2.resize(manga, (1654, 2339), interpolation=cv2.INTER_LINEAR)
    if case == "big":
        return cv2.resize(manga, (8192, 8192), interpolation=cv2.INTER_LINEAR)
    if case in ("strip", "strip5k"):
        length = 20000 if case == "strip" else 5000
        house = cv2.imread(str(EXAMPLES / "panel_house.png"), cv2.IMREAD_GRAYSCALE)
        faces = cv2.imread(str(EXAMPLES / "panel_faces.png"), cv2.IMREAD_GRAYSCALE)
        sources = [cv2.resize(house, (720, 540)), cv2.resize(faces, (720, 720)),
                   cv2.resize(manga[40:420, 40:960], (720, 300))]
        strip = np.full((length, 800), 255, np.uint8)
        y, k = 40, 0
        while y + sources[k % 3].shape[0] <= length - 40:
            panel = sources[k % 3]
            strip[y:y + panel.shape[0], 40:760] = panel
            y += panel.shape[0] + 120
            k += 1
        return strip
    raise ValueError(f"unknown case {case!r}")


def run_case(case: str, mode: str, repeat: int, folder: Path) -> dict:
    """One case in this process: ms per page (best of ``repeat``), step shares, peak RSS."""
    from fastcolor import Pipeline
    src = folder / f"{case}.png"
    if not src.exists():
        cv2.imwrite(str(src), make_page(case))
    pipe = Pipeline.from_pretrained()
    best, share = None, None
    for i in range(repeat + 1):                 # the first run is the warm-up
        start = time.perf_counter()
        result = pipe(str(src), seed=0, **MODES[mode])
        t_write = time.perf_counter()
        result.save(folder / f"{case}_out.png")
        end = time.perf_counter()
        timings = dict(result.extras["timings"], write=end - t_write)
        if i and (best is None or end - start < best):
            best, share = end - start, timings
        shape, panels, tiles = result.image.shape[:2], len(result.panels), \
            len(result.extras["tiles"])
        del result                              # one page in memory at a time, as the CLI
    total = sum(share.values())
    return {"ms": round(best * 1e3, 1),
            "share": {k: round(share.get(k, 0.0) / total, 3) for k in STEPS},
            "step_ms": {k: round(share.get(k, 0.0) * 1e3, 1) for k in STEPS},
            "panels": panels, "tiles": tiles, "size": list(shape),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("bench_pipeline")


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", CASES)
def test_pipeline(benchmark, folder, case, mode):
    from fastcolor import Pipeline
    src = folder / f"{case}.png"
    cv2.imwrite(str(src), make_page(case))
    pipe = Pipeline.from_pretrained()
    pipe(str(src), seed=0, **MODES[mode])
    benchmark.pedantic(lambda: pipe(str(src), seed=0, **MODES[mode]).save(folder / "out.png"),
                       rounds=2, iterations=1)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object last")
    p.add_argument("--repeat", type=int, default=3, help="timed pages per case (best taken)")
    p.add_argument("--cases", nargs="+", default=list(CASES),
                   choices=list(CASES) + ["strip5k", "big"])
    p.add_argument("--modes", nargs="+", default=["flats", "soft"], choices=list(MODES))
    p.add_argument("--child", nargs=2, metavar=("CASE", "FLATS"), help=argparse.SUPPRESS)
    p.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:                              # one case in a fresh process
        print(json.dumps(run_case(args.child[0], args.child[1], args.repeat,
                                  Path(args.folder))))
        return {}
    figures = {"machine": machine(), "load_average_before": [round(v, 2) for v in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            for mode in args.modes:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", case, mode,
                     "--repeat", str(args.repeat), "--folder", tmp],
                    check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
                r = json.loads(out)
                key = f"{case}_{mode}"
                figures[f"{key}_ms"] = r["ms"]
                figures[f"{key}_peak_rss_mb"] = r["peak_rss_mb"]
                figures[f"{key}_share"] = r["share"]
                figures[f"{key}_step_ms"] = r["step_ms"]
                figures[f"{case}_panels"], figures[f"{case}_tiles"] = r["panels"], r["tiles"]
                top = sorted(r["share"].items(), key=lambda kv: -kv[1])[:4]
                print(f"{case:6s} {mode:10s} {r['size'][1]} x {r['size'][0]}: {r['ms']:8.1f} ms, "
                      f"peak RSS {r['peak_rss_mb']:7.1f} MB, {r['panels']} panels, "
                      f"{r['tiles']} tiles; " + ", ".join(f"{k} {v:.0%}" for k, v in top))
    figures["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    print(f"load average (1, 5, 15 min) before {figures['load_average_before']}, after "
          f"{figures['load_average_after']}")
    if args.json:
        print_json(figures)
    return figures


if __name__ == "__main__":
    main()
