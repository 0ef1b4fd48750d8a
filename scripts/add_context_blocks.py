"""Add context blocks to a weight file's conditioning net, as the identity.

    python scripts/add_context_blocks.py --weights fastcolor/weights/default.safetensors \
        --dilations 2 4 8 --out runs/w7_init.safetensors

The output has the input's model config with ``conditioning.context_dilations`` set,
every tensor of the input unchanged, and the new blocks initialized so that each is the
identity (``ConditioningNet.zero_init_context``): it colors exactly as the input does
until ``fastcolor train --stage lowres --init OUT`` trains the blocks. The file's
``fastcolor_training`` metadata says where it came from.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import torch

from fastcolor.errors import FastcolorError, WeightsError
from fastcolor.models import FastcolorModel
from fastcolor.weights import load_weights, save_weights


def add_context(weights, dilations, out) -> str:
    """Write ``out``; returns its sha256."""
    config, tensors, sha = load_weights(weights)
    if config.conditioning.context_dilations:
        raise WeightsError(f"{weights} already has context blocks "
                           f"{config.conditioning.context_dilations}")
    grown = dataclasses.replace(config, conditioning=dataclasses.replace(
        config.conditioning, context_dilations=tuple(dilations)))
    torch.manual_seed(0)
    model = FastcolorModel(grown)
    state = model.state_dict()
    new = sorted(set(state) - set(tensors))
    if set(tensors) - set(state) or not all(".context." in k for k in new):
        raise WeightsError(f"{weights} does not match its own config")
    state.update(tensors)
    model.load_state_dict(state)
    model.lowres.conditioning.zero_init_context()
    return save_weights(model, out, training={
        "context_blocks_added_to": str(weights), "context_blocks_added_to_sha256": sha,
        "context_dilations": list(dilations)})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--dilations", type=int, nargs="+", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    try:
        print(add_context(args.weights, args.dilations, args.out))
    except FastcolorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
