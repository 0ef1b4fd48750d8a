"""Low-res generators. All take the arguments of ``common.prepare_inputs`` and agree
sample for sample given the same noise."""

from .common import GenerationInputs, prepare_inputs
from .naive import generate_naive

__all__ = ["GenerationInputs", "generate_naive", "prepare_inputs"]
