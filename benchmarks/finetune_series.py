"""Fine-tuning on one series (issue 17): the shipped weights vs weights fine-tuned for at
most 30 minutes on 2 CPU cores, on held-out pages of a series neither has seen.

    python benchmarks/finetune_series.py --work /tmp/series [--json] [--seed 0]
        [--characters 5] [--train-pages 40] [--heldout-pages 10] [--budget-minutes 28]
        [--threads 2] [--epochs lowres=100,detector=30,polisher=100] [--run run]
        [--steps make,build,train,eval]

The series is made here, deterministically from ``--seed``: ``--characters`` OpenMoji
drawings of the VALIDATION split (``split_of(hexcode) == "val"``, so never in the training
split of the shipped weights; near-black-and-white ones skipped; tests use other emoji)
are the series' characters. Each page is 2 x 2 black-bordered panels with white gutters,
each panel showing 1-2 characters (full drawings, ink included) at random scales and
positions on the series' fixed background (a pale tint). ``WORK/pages/train`` and
``WORK/pages/heldout`` hold different pages of the same characters.

Steps (each a ``fastcolor`` command, run via subprocess and printed):

- ``make``: the pages;
- ``build``: ``fastcolor data build --images pages/train --out cache-train`` and a cache of
  the held-out pages (``--val-fraction 0``: every held-out page in its train split, which
  the evaluation reads with ``--split train``);
- ``train``: ``nice -n 5 fastcolor train --data cache-train --out run --init default
  --stage all --budget-minutes B --epochs E --threads T --seed SEED`` (B split 50/20/30 by stage);
- ``eval``: ``fastcolor eval --data cache-heldout --split train --seed SEED`` with the
  shipped weights and with ``run/weights.safetensors``, and the same on the held-out page
  files (``--images pages/heldout``: whole pages).

Figures: region CIEDE2000 (all / fg / bg) of fastcolor and of the baselines, flat share and
background IoU, for both weights; ``ratio_*``: shipped / fine-tuned (target >= 2). On
``heldout_panels`` the ``class_mean`` baseline takes its class colors from the held-out
cache's train split, i.e. from the held-out panels themselves: an oracle there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

STEPS = ("make", "build", "train", "eval")


def characters(n: int, seed: int, size: int):
    """``n`` colorful validation-split OpenMoji drawings (full SVG, ink included)."""
    from fastcolor.data.openmoji import list_emoji, select_emoji, split_of
    from fastcolor.data.render import is_colorful, render_emoji
    pool = [e for e in select_emoji(list_emoji()) if split_of(e.hexcode) == "val"]
    rng = np.random.default_rng([seed, 17])
    out = []
    for i in rng.permutation(len(pool)):
        d = render_emoji(pool[i], size)
        if is_colorful(d) and min(d.shape) >= size // 3:
            out.append(d)
        if len(out) == n:
            break
    return out


def paste(canvas: np.ndarray, rgba: np.ndarray, top: int, left: int) -> None:
    h, w = rgba.shape[:2]
    a = rgba[..., 3:4].astype(np.float32) / 255
    region = canvas[top:top + h, left:left + w].astype(np.float32)
    canvas[top:top + h, left:left + w] = np.round(
        region * (1 - a) + rgba[..., :3].astype(np.float32) * a).astype(np.uint8)


def make_page(chars, rng, page: int, gutter: int, border: int, background) -> np.ndarray:
    canvas = np.full((page, page, 3), 255, np.uint8)
    inner = (page - 3 * gutter) // 2
    for r in range(2):
        for c in range(2):
            y0, x0 = gutter + r * (inner + gutter), gutter + c * (inner + gutter)
            canvas[y0:y0 + inner, x0:x0 + inner] = 0
            y1, x1, side = y0 + border, x0 + border, inner - 2 * border
            canvas[y1:y1 + side, x1:x1 + side] = background
            k = int(rng.integers(1, 3))
            for j in rng.choice(len(chars), size=k, replace=False):
                d = chars[j]
                scale = rng.uniform(0.45, 0.9) * side / max(d.shape)
                h, w = max(4, int(d.shape[0] * scale)), max(4, int(d.shape[1] * scale))
                img = Image.fromarray(d.color, "RGBA").resize((w, h), Image.LANCZOS)
                if rng.random() < 0.5:
                    img = img.transpose(Image.FLIP_LEFT_RIGHT)
                top = y1 + int(rng.integers(0, side - h + 1))
                left = x1 + int(rng.integers(0, side - w + 1))
                paste(canvas, np.asarray(img), top, left)
    return canvas


def make_series(work: Path, args) -> dict:
    rng = np.random.default_rng([args.seed, 0])
    # a pale tint, fixed for the series
    background = tuple(int(v) for v in 255 - rng.integers(8, 40, size=3))
    chars = characters(args.characters, args.seed, args.page)
    for split, n in (("train", args.train_pages), ("heldout", args.heldout_pages)):
        folder = work / "pages" / split
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()
        prng = np.random.default_rng([args.seed, 1 if split == "train" else 2])
        for i in range(n):
            Image.fromarray(make_page(chars, prng, args.page, args.gutter, args.border,
                                      background)).save(folder / f"page-{i:03d}.png")
    return {"characters": [d.hexcode for d in chars], "background": list(background),
            "train_pages": args.train_pages, "heldout_pages": args.heldout_pages,
            "page_size": args.page}


def run(cmd: list[str], log: list, nice: bool = False) -> str:
    cmd = (["nice", "-n", "5"] if nice else []) + cmd
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    t0 = time.time()
    res = subprocess.run(cmd, capture_output=True, text=True)
    log.append({"cmd": " ".join(cmd), "rc": res.returncode,
                "seconds": round(time.time() - t0, 1)})
    if res.returncode:
        sys.stderr.write(res.stdout[-4000:] + res.stderr[-4000:])
        raise SystemExit(f"failed ({res.returncode}): {' '.join(cmd)}")
    return res.stdout


def last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the output")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="/tmp/finetune_series")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--characters", type=int, default=5)
    p.add_argument("--train-pages", type=int, default=40)
    p.add_argument("--heldout-pages", type=int, default=10)
    p.add_argument("--page", type=int, default=288, help="page side in pixels")
    p.add_argument("--gutter", type=int, default=12)
    p.add_argument("--border", type=int, default=2)
    p.add_argument("--budget-minutes", type=float, default=28.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", default="lowres=100,detector=30,polisher=100",
                   help="fastcolor train --epochs (the budget stops a stage first)")
    p.add_argument("--run", default="run", help="the run folder under WORK")
    p.add_argument("--steps", default=",".join(STEPS))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    steps = args.steps.split(",")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    fc = [sys.executable, "-m", "fastcolor"]
    result_path = work / f"result-{args.run}.json"
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    log: list = result.setdefault("commands", [])

    if "make" in steps:
        result["series"] = make_series(work, args)
    if "build" in steps:
        run(fc + ["data", "build", "--images", str(work / "pages/train"), "--out",
                  str(work / "cache-train"), "--seed", str(args.seed), "--quiet"], log)
        run(fc + ["data", "build", "--images", str(work / "pages/heldout"), "--out",
                  str(work / "cache-heldout"), "--val-fraction", "0", "--seed",
                  str(args.seed), "--quiet"], log)
        for name in ("cache-train", "cache-heldout"):
            index = json.loads((work / name / "index.json").read_text())
            result[name] = {s: index["splits"][s]["panels"] for s in index["splits"]}
    if "train" in steps:
        t0 = time.time()
        run(fc + ["train", "--data", str(work / "cache-train"), "--out", str(work / args.run),
                  "--init", "default", "--stage", "all", "--budget-minutes",
                  str(args.budget_minutes), "--epochs", args.epochs, "--threads",
                  str(args.threads), "--seed",
                  str(args.seed), "--quiet"], log, nice=True)
        result["train_minutes"] = round((time.time() - t0) / 60, 2)
    if "eval" in steps:
        weights = {"shipped": [],
                   "finetuned": ["--weights", str(work / args.run / "weights.safetensors")]}
        sources = {"heldout_panels": ["--data", str(work / "cache-heldout"), "--split", "train"],
                   "heldout_pages": ["--images", str(work / "pages/heldout")]}
        evals = {}
        for src, src_args in sources.items():
            for name, w in weights.items():
                out = last_json(run(fc + ["eval", *src_args, *w, "--seed", str(args.seed),
                                          "--quiet"], log))
                evals[f"{src}/{name}"] = out
                (work / f"eval-{args.run}-{src}-{name}.json").write_text(json.dumps(out, indent=1))
        result["eval"] = {k: summarize(v) for k, v in evals.items()}
        for src in sources:
            before, after = result["eval"][f"{src}/shipped"], result["eval"][f"{src}/finetuned"]
            for key in ("region_ciede2000", "region_ciede2000_background",
                        "region_ciede2000_foreground"):
                k = f"{key}.fastcolor"
                result[f"ratio_{src}_{key}"] = round(before[k] / max(after[k], 1e-9), 3)
    result_path.write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(json.dumps(result, indent=1, sort_keys=True))
    return 0


def summarize(r: dict) -> dict:
    """The region-error figures of one eval result (whatever its JSON holds under keys
    mentioning ciede2000 / flat / iou)."""
    keep = {}

    def walk(obj, prefix=""):
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, f"{prefix}{k}.")
        elif isinstance(obj, (int, float)) and any(
                t in prefix.lower() for t in ("ciede", "de2000", "region", "flat", "iou")):
            keep[prefix[:-1]] = obj
    walk(r)
    return keep or r


if __name__ == "__main__":
    raise SystemExit(main())
