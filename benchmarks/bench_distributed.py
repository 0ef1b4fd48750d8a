"""Pages/s of ``fastcolor colorize`` on one process against ``fastcolor.distributed`` on a
local Ray with 1 and 2 actors (the shipped weights, PNG in and out).

    python benchmarks/bench_distributed.py [--json] [--panels 100] [--cpus 2]

The panels are 256 x 256 crops of ``examples/panel_*.png``, each shifted and flipped a
little so no two are the same file. Every mode writes its PNGs to a fresh folder and is
timed from the start of the call to the last page written, model loading included (one
load for the single process, one per actor on Ray); Ray itself is started once before
(``ray.init(num_cpus=--cpus)``, not timed).

The single process runs ``--threads`` torch threads (default 1, what each actor of one CPU
runs: the same float32 sums, so ``ray_<n>actor_same_bytes`` checks byte identity; with 2
threads on this loaded 2-core machine it was 3x slower, oversubscribed).

Figures: ``single_pages_per_s``, ``ray_<n>actor_pages_per_s``, ``ray_<n>actor_overhead``
(Ray's time over the single process's, less one: 0.10 = 10 % slower; with 2 actors on 2
cores it may be negative), ``ray_1actor_overhead_ms_per_page`` and the bytes a page moves
(``input_bytes_per_page``, ``output_bytes_per_page`` through the shared file system;
``row_bytes_per_page`` through Ray's object store: only the path, outputs and seed travel,
never pixels). The load average before and after is kept with them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine, print_json  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def make_panels(folder: Path, n: int) -> list[Path]:
    sources = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
               for p in sorted(EXAMPLES.glob("panel_*.png"))]
    sources = [cv2.resize(s, (288, 288), interpolation=cv2.INTER_AREA) for s in sources]
    paths = []
    for i in range(n):
        src = sources[i % len(sources)]
        dy, dx = (i // len(sources)) % 32, (i * 7) % 32
        panel = src[dy:dy + 256, dx:dx + 256]
        if (i // (len(sources) * 32)) % 2:
            panel = panel[:, ::-1]
        paths.append(folder / f"panel{i:04d}.png")
        cv2.imwrite(str(paths[-1]), np.ascontiguousarray(panel))
    return paths


def single_process(inputs: Path, out: Path, seed: int, threads: int) -> float:
    import torch
    from fastcolor.cli import main
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t = time.perf_counter()
        code = main(["colorize", str(inputs), "-o", f"{out}/", "--seed", str(seed),
                     "--seed-by", "path"])
        assert code == 0
        return time.perf_counter() - t
    finally:
        torch.set_num_threads(before)


def on_ray(inputs: Path, out: Path, seed: int, actors: int) -> float:
    from fastcolor.distributed import colorize_dataset
    t = time.perf_counter()
    summary = colorize_dataset(inputs, out, seed=seed, actors=actors)
    assert summary.failed == 0 and summary.done > 0, summary
    return time.perf_counter() - t


def run(panels: int, cpus: int, threads: int = 1) -> dict:
    import json

    import ray
    from fastcolor.distributed import page_seed
    work = Path(tempfile.mkdtemp(prefix="bench_distributed_"))
    try:
        inputs = work / "in"
        inputs.mkdir()
        make_panels(inputs, panels)
        load_before = os.getloadavg()[0]
        figures = {"panels": panels, "cpus": cpus}
        t = single_process(inputs, work / "single", 0, threads)
        figures["single_s"], figures["single_threads"] = t, threads
        figures["single_pages_per_s"] = panels / t
        ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False)
        try:
            for actors in (1, 2):
                out = work / f"ray{actors}"
                t = on_ray(inputs, out, 0, actors)
                figures[f"ray_{actors}actor_s"] = t
                figures[f"ray_{actors}actor_pages_per_s"] = panels / t
                figures[f"ray_{actors}actor_overhead"] = t / figures["single_s"] - 1
                same = all((work / "single" / p.name).read_bytes() == p.read_bytes()
                           for p in out.glob("*.png"))
                figures[f"ray_{actors}actor_same_bytes"] = same
        finally:
            ray.shutdown()
        figures["ray_1actor_overhead_ms_per_page"] = \
            1000 * (figures["ray_1actor_s"] - figures["single_s"]) / panels
        figures["input_bytes_per_page"] = sum(p.stat().st_size
                                              for p in inputs.iterdir()) / panels
        figures["output_bytes_per_page"] = sum(p.stat().st_size
                                               for p in (work / "single").iterdir()) / panels
        row = {"path": str(inputs / "panel0000.png"),
               "outputs": str(work / "ray1" / "panel0000.png"),
               "seed": page_seed(0, "panel0000.png")}
        figures["row_bytes_per_page"] = len(json.dumps(row))
        figures["load_avg_before"], figures["load_avg_after"] = load_before, os.getloadavg()[0]
        figures["machine"] = machine()
        return figures
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="one JSON object of figures")
    ap.add_argument("--panels", type=int, default=100, help="panels per mode (default 100)")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray (default 2)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads of the single process (default 1, as each actor: "
                         "the same float sums, so the same bytes)")
    args = ap.parse_args(argv)
    figures = run(args.panels, args.cpus, args.threads)
    if args.json:
        print_json(figures)
    else:
        for k, v in figures.items():
            print(f"{k:36s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
