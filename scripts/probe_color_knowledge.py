"""Does the low-res colorizer know the drawings' colors? Its expectation against a constant.

    python scripts/probe_color_knowledge.py --data data/comic128 --split val --limit 150 \
        --samples 8 [--weights W]

One sample is a draw from the model's belief about a region's color, so its error mixes
what the model knows with how unsure it is. The mean of ``--samples`` samples per region
(CIELAB, of each sample's flat color) estimates the model's expectation: a colorizer that
knows a drawing's colors brings it closer to the truth than any constant color. Printed,
as ``fastcolor eval`` scores regions (area-weighted CIEDE2000; ``fg_colored``: the
figure's regions whose true color is not white): one sample, the mean of the samples,
and the training data's mean color (the ``mean_color`` baseline of ``fastcolor eval``);
for weights with a color prior (``models.color_prior``) also the prior's own colors (its
low-res colors upsampled bilinearly, each region then scored by its median as above).
Run it on ``--split train`` to tell underfitting (no better than the constant on the
drawings it was trained on) from not generalizing (better there, not on validation).
Panel ``i`` draws from seed ``i``, as ``fastcolor eval --seed 0`` does.
"""

from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

from fastcolor.errors import FastcolorError
from fastcolor.evaluate import _region_medians, cache_items, region_color_error
from fastcolor.flats import find_regions
from fastcolor.pipeline import Pipeline

KEYS = ("all", "bg", "fg", "fg_colored")


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(lab.astype(np.float32)[None], cv2.COLOR_Lab2RGB)[0]
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def prior_colors(pipe, outline: np.ndarray) -> np.ndarray | None:
    """The color prior's colors of a panel's line art uint8 ``(H, W)`` (255 = paper) at
    the panel's size, uint8 RGB; None without a prior."""
    import torch
    lowres = pipe.model.lowres
    if lowres.prior is None:
        return None
    S = pipe.config.image_size
    ink = cv2.resize(255 - outline, (S, S), interpolation=cv2.INTER_AREA)
    with torch.no_grad():
        colors = lowres.prior(torch.from_numpy(ink.astype(np.float32) / 255)[None, None])[1]
    rgb = np.clip(np.rint((colors[0].permute(1, 2, 0).numpy() + 1) * 127.5), 0, 255)
    return cv2.resize(rgb.astype(np.uint8), outline.shape[::-1], interpolation=cv2.INTER_LINEAR)


def probe(pipe, items, mean_color, samples: int) -> dict:
    """``{"one sample" | "mean of samples" | "mean color" [| "color prior"]: {key: error}}``."""
    errors = {"one sample": [], "mean of samples": [], "mean color": []}
    if pipe.model.lowres.prior is not None:
        errors["color prior"] = []
    constant = np.clip(np.rint(mean_color), 0, 255).astype(np.uint8)
    for i, item in enumerate(items):
        results = pipe(item.outline, seed=i, samples=samples, extract_outline=False)
        labels = find_regions(item.outline)
        paper = item.outline >= 250
        n = int(labels.max()) + 1
        labs = [_region_medians(r.image[paper], labels[paper], n) for r in results]
        expected = results[0].image.copy()
        expected[paper] = _lab_to_rgb(np.mean(labs, axis=0))[labels[paper]]
        flat = np.empty_like(item.color)
        flat[:] = constant
        images = [("one sample", results[0].image), ("mean of samples", expected),
                  ("mean color", flat)]
        if "color prior" in errors:
            images.append(("color prior", prior_colors(pipe, item.outline)))
        for name, image in images:
            errors[name].append(region_color_error(image, item.color, labels, paper,
                                                   item.background))
    return {name: {k: float(np.mean([e[k] for e in v if e[k] is not None]))
                   for k in KEYS} for name, v in errors.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="val", choices=["val", "train"])
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--weights", default=None)
    args = ap.parse_args(argv)
    try:
        import torch
        torch.set_num_threads(1)
        items, mean = cache_items(args.data, args.split, args.limit)
        table = probe(Pipeline.from_pretrained(args.weights), items, mean, args.samples)
    except FastcolorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{'region CIEDE2000':18s} " + " ".join(f"{k:>10s}" for k in KEYS))
    for name, row in table.items():
        print(f"{name:18s} " + " ".join(f"{row[k]:10.2f}" for k in KEYS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
