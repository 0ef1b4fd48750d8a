"""Add context blocks and/or a color prior to a weight file's conditioning, as the identity.

    python scripts/add_context_blocks.py --weights fastcolor/weights/default.safetensors \
        --dilations 2 4 8 --out runs/w7_init.safetensors
    python scripts/add_context_blocks.py --weights fastcolor/weights/default.safetensors \
        --prior-widths 32 64 96 --out runs/w11_init.safetensors

The output has the input's model config with ``conditioning.context_dilations`` (and/or
``conditioning.prior_widths``, ``prior_dilations``) set, every tensor of the input
unchanged, and the new parts initialized so that the model computes what the input did:
each context block the identity (``ConditioningNet.zero_init_context``), the color
prior's ``inject`` zero (``models.color_prior``; the rest of the prior from seed 0). It
colors exactly as the input does until ``fastcolor train --stage lowres --init OUT``
trains them. The file's ``fastcolor_training`` metadata says where it came from.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import torch

from fastcolor.errors import FastcolorError, InvalidInputError, WeightsError
from fastcolor.models import FastcolorModel
from fastcolor.weights import load_weights, save_weights


def add_context(weights, dilations, out, prior_widths=(), prior_dilations=(1, 2, 4, 8)) -> str:
    """Write ``out``; returns its sha256."""
    config, tensors, sha = load_weights(weights)
    if not dilations and not prior_widths:
        raise InvalidInputError("nothing to add: give --dilations and/or --prior-widths")
    if dilations and config.conditioning.context_dilations:
        raise WeightsError(f"{weights} already has context blocks "
                           f"{config.conditioning.context_dilations}")
    if prior_widths and config.conditioning.prior_widths:
        raise WeightsError(f"{weights} already has a color prior "
                           f"{config.conditioning.prior_widths}")
    cond = config.conditioning
    if dilations:
        cond = dataclasses.replace(cond, context_dilations=tuple(dilations))
    if prior_widths:
        cond = dataclasses.replace(cond, prior_widths=tuple(prior_widths),
                                   prior_dilations=tuple(prior_dilations))
    grown = dataclasses.replace(config, conditioning=cond)
    torch.manual_seed(0)
    model = FastcolorModel(grown)
    state = model.state_dict()
    new = sorted(set(state) - set(tensors))
    if set(tensors) - set(state) or not all(
            ".context." in k or k.startswith("lowres.prior.") for k in new):
        raise WeightsError(f"{weights} does not match its own config")
    state.update(tensors)
    model.load_state_dict(state)
    if dilations:
        model.lowres.conditioning.zero_init_context()
    return save_weights(model, out, training={
        "context_blocks_added_to": str(weights), "context_blocks_added_to_sha256": sha,
        "context_dilations": list(dilations), "prior_widths": list(prior_widths),
        "prior_dilations": list(prior_dilations) if prior_widths else []})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--dilations", type=int, nargs="+", default=[])
    ap.add_argument("--prior-widths", type=int, nargs=3, default=[])
    ap.add_argument("--prior-dilations", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    try:
        print(add_context(args.weights, args.dilations, args.out, args.prior_widths,
                          args.prior_dilations))
    except FastcolorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
