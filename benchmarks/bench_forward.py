"""Forward time of each reference stage at the default model size (batch 1 and 8).

    python benchmarks/bench_forward.py [--json]      # side-by-side figures
    pytest benchmarks/bench_forward.py               # pytest-benchmark suite

Figures: one PixelCNN forward at 32x32 (the unit of work of every generator: naive
generation costs 32*32 of them), the conditioning net, both U-Nets at 256x256, and the
naive generator's projected time per image (forward + DLMM sample, times 1024).
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
from fastcolor.dlmm import dlmm_sample  # noqa: E402
from fastcolor.models import FastcolorModel  # noqa: E402


def build(batch: int):
    torch.manual_seed(0)
    cfg = FastcolorConfig()
    model = FastcolorModel(cfg).eval()
    S, s = cfg.image_size, cfg.lowres_size
    outline = (torch.rand(batch, 1, S, S) < 0.1).float()
    x = torch.rand(batch, 3, s, s) * 2 - 1
    with torch.no_grad():
        cond = model.lowres.condition(outline)
    up = torch.rand(batch, 3, S, S) * 2 - 1
    mask = (torch.rand(batch, 1, S, S) < 0.5).float()
    return model, outline, x, cond, up, mask


def stage_calls(batch: int) -> dict:
    model, outline, x, cond, up, mask = build(batch)
    pixelcnn = model.lowres.pixelcnn

    def naive_step():
        params = pixelcnn(x, cond)[:, :, 5:6, 7:8]
        dlmm_sample(params, generator=torch.Generator().manual_seed(0))

    return {
        "pixelcnn_forward": lambda: pixelcnn(x, cond),
        "conditioning": lambda: model.lowres.condition(outline),
        "detector_256": lambda: model.detector.probability(outline, up),
        "polisher_256": lambda: model.polisher(outline, up, mask),
        "naive_step": naive_step,
    }


@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("stage", ["pixelcnn_forward", "conditioning", "detector_256",
                                   "polisher_256"])
def test_stage_forward(benchmark, stage, batch):
    fn = stage_calls(batch)[stage]
    with torch.no_grad():
        benchmark(fn)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object last")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    figures = {"machine": machine()}
    cfg = FastcolorConfig()
    positions = cfg.lowres_size ** 2
    with torch.no_grad():
        for batch in (1, 8):
            for name, fn in stage_calls(batch).items():
                t = best_time(fn, repeat=args.repeat)
                figures[f"{name}_b{batch}_ms"] = round(t * 1e3, 3)
                print(f"{name:18s} batch {batch}: {t * 1e3:9.2f} ms")
            proj = figures[f"naive_step_b{batch}_ms"] * positions / 1e3
            figures[f"naive_projected_b{batch}_s"] = round(proj, 2)
            print(f"{'naive generation':18s} batch {batch}: {proj:9.2f} s (projected: "
                  f"{positions} x one step)")
    if args.json:
        print_json(figures)
    return figures


if __name__ == "__main__":
    main()
