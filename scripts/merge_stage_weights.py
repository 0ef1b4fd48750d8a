"""Compose one weight file from stages trained in different run folders.

    python scripts/merge_stage_weights.py --lowres runs/w2/weights.safetensors \
        --detector runs/w2dp/weights.safetensors --polisher runs/w2dp/weights.safetensors \
        --out fastcolor/weights/default.safetensors

Each stage's tensors are taken from its file (the model config is the low-res file's;
the detector's and the polisher's files must agree with it on their own stage: a low-res
stage grown by ``scripts/add_context_blocks.py`` takes the others from the file it grew),
and the output's ``fastcolor_training`` metadata keeps, per stage, the training record
that file holds for that stage (steps, data fingerprint, init and its sha256), so the
shipped weights still say what each of their stages was trained from. Used for the
default weights: the low-res stage trained in one process while the detector and the
polisher trained in another (two processes must not merge into one run's file at once).
"""

from __future__ import annotations

import argparse
import sys

from fastcolor.errors import FastcolorError, InvalidInputError
from fastcolor.models import FastcolorModel
from fastcolor.weights import load_state_into, load_weights, read_training, save_weights

STAGES = ("lowres", "detector", "polisher")


def stage_config(cfg, stage: str):
    """The part of a model config a stage's tensors depend on."""
    if stage == "lowres":
        return (cfg.image_size, cfg.lowres_size, cfg.pixelcnn, cfg.conditioning)
    return (cfg.image_size, getattr(cfg, stage))


def merge(sources: dict, out) -> str:
    """``sources``: stage -> weight file. Returns the sha256 of the written file."""
    config, merged, training = None, None, {"stages": {}, "steps": {}}
    for stage in STAGES:
        cfg, tensors, sha = load_weights(sources[stage])
        if config is None:
            config, merged = cfg, FastcolorModel(cfg)
            load_state_into(merged, tensors, source=str(sources[stage]))
        elif stage_config(cfg, stage) != stage_config(config, stage):
            raise InvalidInputError(f"{sources[stage]} has another {stage} config than "
                                    f"{sources['lowres']}")
        state = merged.state_dict()
        state.update({k: v for k, v in tensors.items() if k.startswith(stage + ".")})
        merged.load_state_dict(state)
        record = (read_training(sources[stage]) or {}).get("stages", {}).get(stage)
        record = dict(record or {}, source_file=str(sources[stage]), source_sha256=sha)
        training["stages"][stage] = record
        training["steps"][stage] = record.get("steps")
    fingerprints = {r.get("data_fingerprint") for r in training["stages"].values()}
    training["data_fingerprint"] = fingerprints.pop() if len(fingerprints) == 1 else None
    return save_weights(merged, out, training=training)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for stage in STAGES:
        ap.add_argument(f"--{stage}", required=True, help=f"weight file to take {stage} from")
    ap.add_argument("--out", required=True, help="the merged .safetensors file")
    args = ap.parse_args(argv)
    try:
        sha = merge({s: getattr(args, s) for s in STAGES}, args.out)
    except FastcolorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} (sha256 {sha})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
