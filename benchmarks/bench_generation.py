"""Low-res generation at the default model size, side by side in one run: naive PyTorch
(a full forward pass per position), cached PyTorch, the C++ cached generator, and one
plain PixelCNN forward pass (the floor: cached generation does about one forward's
arithmetic), for batch 1 and 8.

    python benchmarks/bench_generation.py [--json] [--naive-positions N | --full-naive]
    pytest benchmarks/bench_generation.py          # pytest-benchmark suite

The naive generator costs one full 32x32 forward per position, the same at every
position, so by default it is timed over its first N positions (64) and scaled to the
1024 positions of an image ("projected"); --full-naive times all of them. The JSON also
reports the float32 end-to-end mismatch: the fraction of positions whose C++ sample
differs from the naive one (bin-edge ties, docs/design.md), over the first rows.
"""

from __future__ import annotations

import argparse
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import best_time, machine, print_json  # noqa: E402

from fastcolor.config import FastcolorConfig  # noqa: E402
from fastcolor.dlmm import sample_noise  # noqa: E402
from fastcolor.generation import generate_cached, generate_naive  # noqa: E402
from fastcolor.generation.cpp import CppPixelCNN, cpp_unavailable_reason  # noqa: E402
from fastcolor.models import FastcolorModel  # noqa: E402


def setup(batch: int, dtype=torch.float32):
    torch.manual_seed(0)
    cfg = FastcolorConfig()
    model = FastcolorModel(cfg).to(dtype).eval()
    outline = (torch.rand(batch, 1, cfg.image_size, cfg.image_size) < 0.1).to(dtype)
    with torch.no_grad():
        cond = model.lowres.condition(outline)
    s = cfg.lowres_size
    noise = sample_noise(batch, cfg.pixelcnn.mixtures, s, s,
                         generator=torch.Generator().manual_seed(1), dtype=dtype)
    return model.lowres.pixelcnn, cond, noise


def calls(batch: int, naive_positions: int | None):
    pix, cond, noise = setup(batch)
    packed = CppPixelCNN(pix)
    x = torch.zeros(batch, 3, cond.shape[2], cond.shape[3])

    def forward():
        with torch.no_grad():
            pix(x, cond)

    return {
        "naive": lambda: generate_naive(pix, cond, noise=noise, max_positions=naive_positions),
        "cached": lambda: generate_cached(pix, cond, noise=noise),
        "cpp": lambda: packed.generate(cond, noise=noise),
        "forward": forward,
    }


needs_cpp = pytest.mark.skipif(cpp_unavailable_reason() is not None,
                               reason=f"fastcolor._C is not built: {cpp_unavailable_reason()}")


@needs_cpp
@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("generator", ["cpp", "cached", "forward"])
def test_generation(benchmark, generator, batch):
    benchmark.extra_info["batch"] = batch
    benchmark(calls(batch, None)[generator])


@needs_cpp
@pytest.mark.parametrize("batch", [1, 8])
def test_naive_64_positions(benchmark, batch):
    """The naive generator's first 64 positions (x 16 for one image)."""
    benchmark.extra_info["batch"] = batch
    benchmark.pedantic(calls(batch, 64)["naive"], rounds=2, iterations=1)


def float32_mismatch(batch: int = 8, rows: int = 8) -> float:
    """Fraction of the first ``rows`` rows' positions where the float32 C++ sample differs
    from the naive one (generation is causal in rows, so a row prefix is exact)."""
    pix, cond, noise = setup(batch)
    cond, noise = cond[:, :, :rows].contiguous(), noise[:, :, :rows].contiguous()
    a = CppPixelCNN(pix).generate(cond, noise=noise)
    b = generate_naive(pix, cond, noise=noise)
    return float((a != b).any(dim=1).float().mean())


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object last")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--naive-positions", type=int, default=64)
    p.add_argument("--full-naive", action="store_true", help="time all 1024 naive positions")
    args = p.parse_args(argv)
    reason = cpp_unavailable_reason()
    if reason:
        sys.exit(f"bench_generation needs fastcolor._C: {reason}")
    cfg = FastcolorConfig()
    positions = cfg.lowres_size ** 2
    n_naive = positions if args.full_naive else min(args.naive_positions, positions)
    figures = {"machine": machine(), "naive_positions_timed": n_naive,
               "model": {"pixelcnn": vars(cfg.pixelcnn), "lowres_size": cfg.lowres_size}}
    for batch in (1, 8):
        fns = calls(batch, n_naive)
        t = {}
        t["naive"] = best_time(fns["naive"], repeat=1 if n_naive > 64 else 2, warmup=0) \
            * positions / n_naive
        for name in ("cached", "cpp", "forward"):
            t[name] = best_time(fns[name], repeat=args.repeat if name != "cached" else 2)
        for name, v in t.items():
            figures[f"{name}_b{batch}_ms"] = round(v * 1e3, 2)
        figures[f"naive_over_cpp_b{batch}"] = round(t["naive"] / t["cpp"], 1)
        figures[f"cached_over_cpp_b{batch}"] = round(t["cached"] / t["cpp"], 1)
        figures[f"cpp_over_forward_b{batch}"] = round(t["cpp"] / t["forward"], 2)
        print(f"batch {batch}: naive {t['naive']:.2f} s{'' if n_naive == positions else ' (projected)'}"
              f" | cached {t['cached'] * 1e3:.0f} ms | C++ {t['cpp'] * 1e3:.1f} ms | one forward "
              f"{t['forward'] * 1e3:.1f} ms || naive/C++ {t['naive'] / t['cpp']:.0f}x, cached/C++ "
              f"{t['cached'] / t['cpp']:.1f}x, C++/forward {t['cpp'] / t['forward']:.2f}")
    figures["float32_mismatch_rate"] = round(float32_mismatch(), 5)
    print(f"float32 end-to-end mismatch C++ vs naive: {figures['float32_mismatch_rate']:.4%} "
          f"of positions (first 8 rows, batch 8)")
    if args.json:
        print_json(figures)
    return figures


if __name__ == "__main__":
    main()
