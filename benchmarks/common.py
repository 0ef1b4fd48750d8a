"""Helpers shared by the benchmark scripts: timing and the machine description."""

from __future__ import annotations

import json
import os
import platform
import time

import torch


def machine() -> dict:
    """Who measured: CPU, cores, torch version and threads (kept with every figure)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "python": platform.python_version(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def best_time(fn, repeat: int = 5, warmup: int = 1) -> float:
    """Best wall time of ``repeat`` calls of ``fn`` in seconds (after ``warmup`` calls)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def print_json(figures: dict) -> None:
    """The script mode's last line: one JSON object of figures."""
    print(json.dumps(figures, sort_keys=True))
