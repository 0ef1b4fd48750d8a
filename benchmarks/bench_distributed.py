"""Pages/s of ``fastcolor colorize`` on one process against ``fastcolor.distributed`` on a
local Ray with 1 and 2 actors (the shipped weights, PNG in and out), measured side by
side in one run, with where Ray's extra time goes.

    python benchmarks/bench_distributed.py [--json] [--panels 100] [--cpus 2]
                                           [--batch-size 4] [--shell]

The panels are 256 x 256 crops of ``examples/panel_*.png``, each shifted and flipped a
little so no two are the same file. Every mode writes its PNGs to a fresh folder and is
timed from the start of the call to its return, model loading included (one load for
the single process, one per actor on Ray); Ray itself is started once before
(``ray.init(num_cpus=--cpus)``, ``ray_init_s``, not in the Ray runs' times) and torch is
imported before the single process. The 1-actor run comes first, so it pays what Ray
Data does once per process (its import, its helper actors), as a CLI run does.

The single process runs ``--threads`` torch threads (default 1, what each actor of one CPU
runs: the same float32 sums, so ``ray_<n>actor_same_bytes`` checks byte identity; with 2
threads on this loaded 2-core machine it was 3x slower, oversubscribed).

Figures, end to end: ``single_pages_per_s``, ``ray_<n>actor_pages_per_s``,
``ray_<n>actor_overhead`` (Ray's time over the single process's, less one: 0.10 = 10 %
slower; with 2 actors on 2 cores it may be negative), ``ray_1actor_overhead_ms_per_page``.
The single process runs before Ray and again after it (``single_after_*``); the
overheads and ``ray_1actor_extra_s`` are against the mean of the two (``single_mean_s``),
so a background load that eases or grows during the run does not favour either side.
Apart, for each mode (``single_``, ``ray_<n>actor_``): ``startup_s`` (the call's start
to its first page's start), ``first_page_s`` (warm-up included), ``steady_page_s`` (the
mean of the later pages), ``tail_s`` (the last page's end to the return); Ray's
start-up split in ``ray_<n>actor_startup_parts``: ``plan_s`` (pages listed, outputs
checked), ``ray_data_s`` (``import ray.data``), ``actor_spawn_s`` (Ray Data's executor
and helper actors, the worker process, until the actor's constructor runs),
``actor_imports_s`` (torch, fastcolor), ``actor_load_s`` (the weights), ``dispatch_s``
(the first batch reaches it); ``ray_1actor_between_pages_ms_per_page``: the actor's
time after its first page not spent inside a page (Ray's cost per batch), per page.
``ray_1actor_extra_s`` splits the 1-actor overhead into
those phases; ``ray_1actor_pages_for_15pct``: the job size at which the measured
start-up difference falls under 15 % (at the single process's per-page time).
``--shell`` adds ``shell_single_s`` / ``shell_ray_1actor_s``: both as commands
(``python -m fastcolor colorize``, interpreter, imports and the local Ray included).
The bytes a page moves: ``input_bytes_per_page``, ``output_bytes_per_page`` (through the
shared file system), ``row_bytes_per_page`` (through Ray's object store: only the
path, outputs and seed travel, never pixels). The load average before and after is kept
with them.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
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


class _PageClock:
    """Wall-clock marks of the single process: when its pipeline was loaded and when each
    page's ``Pipeline.__call__`` began and ended. It wraps the real methods (they run
    unchanged) for the duration of one measured call."""

    def __enter__(self):
        from fastcolor.pipeline import Pipeline
        self.cls, self.load, self.call = Pipeline, Pipeline.from_pretrained, Pipeline.__call__
        self.loaded, self.pages = None, []
        load, call, clock = self.load, self.call, self

        def from_pretrained(*args, **kwargs):
            out = load(*args, **kwargs)
            clock.loaded = time.time()
            return out

        def timed_call(pipe, *args, **kwargs):
            t = time.time()
            try:
                return call(pipe, *args, **kwargs)
            finally:
                clock.pages.append((t, time.time()))
        Pipeline.from_pretrained, Pipeline.__call__ = from_pretrained, timed_call
        return self

    def __exit__(self, *exc):
        self.cls.from_pretrained, self.cls.__call__ = self.load, self.call


def single_process(inputs: Path, out: Path, seed: int, threads: int) -> dict:
    """``fastcolor colorize IN -o OUT/ --seed-by path`` in this process (torch already
    imported, as Ray is already started for the Ray runs)."""
    import torch
    from fastcolor.cli import main
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with _PageClock() as clock:
            t = time.time()
            code = main(["colorize", str(inputs), "-o", f"{out}/", "--seed", str(seed),
                         "--seed-by", "path"])
            end = time.time()
        assert code == 0
    finally:
        torch.set_num_threads(before)
    pages = [b - a for a, b in clock.pages]
    return {"s": end - t, "startup_s": clock.pages[0][0] - t, "load_s": clock.loaded - t,
            "first_page_s": pages[0], "steady_page_s": sum(pages[1:]) / max(1, len(pages) - 1),
            "tail_s": end - clock.pages[-1][1]}


def on_ray(inputs: Path, out: Path, seed: int, actors: int, batch_size: int) -> dict:
    """``colorize_dataset`` on the Ray this process is connected to; its profile says
    where the start-up went (see ``fastcolor.distributed._profile``)."""
    from fastcolor.distributed import colorize_dataset
    t = time.time()
    summary = colorize_dataset(inputs, out, seed=seed, actors=actors, batch_size=batch_size)
    end = time.time()
    assert summary.failed == 0 and summary.done > 0, summary
    prof = summary.profile
    first = min(a["first"] for a in prof["actors"])
    one = min(prof["actors"], key=lambda a: a["first"])       # the first actor to start
    return {"s": end - t, "startup_s": first,
            "startup_parts": {"plan_s": prof["planned"],
                              "ray_data_s": prof["ray"] - prof["planned"],
                              "actor_spawn_s": one["born"] - prof["ray"],
                              "actor_imports_s": one["imported"] - one["born"],
                              "actor_load_s": one["ready"] - one["imported"],
                              "dispatch_s": one["first"] - one["ready"]},
            "first_page_s": max(prof["first_page_s"]), "steady_page_s": prof["steady_page_s"],
            "tail_s": prof["end"] - prof["last"],
            # an actor's time between its first page and the last not inside a page:
            # Ray's cost per batch (fetch the next batch, return the results), per page
            "between_pages_ms_per_page": 1000 * (
                actors * (prof["last"] - first) - prof["busy_s"]) / summary.done
            if actors == 1 else None}


def from_shell(inputs: Path, out: Path, seed: int, ray_args: list[str] | None) -> float:
    """Wall seconds of ``fastcolor colorize`` run as a command (interpreter, imports and,
    with ``--ray``, its own local Ray included): what a person waits for."""
    cmd = [sys.executable, "-m", "fastcolor", "colorize", str(inputs), "-o", f"{out}/",
           "--seed", str(seed)] + (["--seed-by", "path"] if ray_args is None else ray_args)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t = time.time()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.time() - t


def run(panels: int, cpus: int, threads: int = 1, batch_size: int = 4,
        shell: bool = False) -> dict:
    import json

    import ray
    from fastcolor.distributed import page_seed
    work = Path(tempfile.mkdtemp(prefix="bench_distributed_"))
    try:
        inputs = work / "in"
        inputs.mkdir()
        make_panels(inputs, panels)
        load_before = os.getloadavg()[0]
        figures = {"panels": panels, "cpus": cpus, "batch_size": batch_size}
        single = single_process(inputs, work / "single", 0, threads)
        figures["single_threads"] = threads
        for k, v in single.items():
            figures[f"single_{k}"] = v
        figures["single_pages_per_s"] = panels / single["s"]
        t = time.time()
        ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False)
        figures["ray_init_s"] = time.time() - t         # not in the Ray runs' times
        try:
            for actors in (1, 2):
                out = work / f"ray{actors}"
                r = on_ray(inputs, out, 0, actors, batch_size)
                for k, v in r.items():
                    figures[f"ray_{actors}actor_{k}"] = v
                figures[f"ray_{actors}actor_pages_per_s"] = panels / r["s"]
                same = all((work / "single" / p.name).read_bytes() == p.read_bytes()
                           for p in out.glob("*.png"))
                figures[f"ray_{actors}actor_same_bytes"] = same
        finally:
            ray.shutdown()
        # the single process again after Ray: a load that changes over the run (a shared
        # machine) shows as the two single runs' difference; the overheads are taken
        # against their mean
        again = single_process(inputs, work / "single_after", 0, threads)
        for k, v in again.items():
            figures[f"single_after_{k}"] = v
        single = {k: (single[k] + again[k]) / 2 for k in single}
        figures["single_mean_s"] = single["s"]
        figures["single_mean_pages_per_s"] = panels / single["s"]
        for actors in (1, 2):
            figures[f"ray_{actors}actor_overhead"] = \
                figures[f"ray_{actors}actor_s"] / single["s"] - 1
        one = {k[len("ray_1actor_"):]: v for k, v in figures.items()
               if k.startswith("ray_1actor_")}
        figures["ray_1actor_overhead_ms_per_page"] = 1000 * (one["s"] - single["s"]) / panels
        # the 1-actor overhead, split: start-up (call -> first page), the first page's
        # warm-up, the later pages, the end (last page -> call returns)
        figures["ray_1actor_extra_s"] = {
            "startup": one["startup_s"] - single["startup_s"],
            "first_page": one["first_page_s"] - single["first_page_s"],
            "steady_pages": (one["steady_page_s"] - single["steady_page_s"]) * (panels - 1),
            "tail": one["tail_s"] - single["tail_s"]}
        # pages after which the 1-actor overhead would fall under 15 % with the measured
        # start-up + end of both and the single process's per-page time for both (the
        # same code per page; measured apart above): S_ray + n p < 1.15 (S_single + n p)
        s_r, s_s = one["startup_s"] + one["tail_s"], single["startup_s"] + single["tail_s"]
        figures["ray_1actor_pages_for_15pct"] = math.ceil(
            max(0.0, s_r - 1.15 * s_s) / (0.15 * single["steady_page_s"]))
        if shell:
            figures["shell_single_s"] = from_shell(inputs, work / "sh_single", 0, None)
            figures["shell_ray_1actor_s"] = from_shell(
                inputs, work / "sh_ray", 0, ["--ray", "--actors", "1", "--batch-size",
                                              str(batch_size)])
            figures["shell_ray_1actor_overhead"] = \
                figures["shell_ray_1actor_s"] / figures["shell_single_s"] - 1
        figures["input_bytes_per_page"] = sum(p.stat().st_size
                                              for p in inputs.iterdir()) / panels
        figures["output_bytes_per_page"] = sum(p.stat().st_size
                                               for p in (work / "single").iterdir()) / panels
        row = {"path": str(inputs / "panel0000.png"), "fs": -1,
               "key": str(inputs / "panel0000.png"),
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
    ap.add_argument("--batch-size", type=int, default=4,
                    help="pages per actor call on Ray (default 4, colorize_dataset's)")
    ap.add_argument("--shell", action="store_true",
                    help="also time both as commands (python -m fastcolor colorize ..., "
                         "with and without --ray --actors 1): interpreter, imports and "
                         "ray.init included")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads of the single process (default 1, as each actor: "
                         "the same float sums, so the same bytes)")
    args = ap.parse_args(argv)
    figures = run(args.panels, args.cpus, args.threads, args.batch_size, args.shell)
    if args.json:
        print_json(figures)
    else:
        for k, v in figures.items():
            print(f"{k:36s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
