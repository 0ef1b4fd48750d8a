"""Low-res generators. All take the arguments of ``common.prepare_inputs`` and agree
sample for sample given the same noise (exactly in float64)."""

from .cached import CachedPixelCNN, generate_cached
from .common import GenerationInputs, prepare_inputs
from .naive import generate_naive

__all__ = ["CachedPixelCNN", "GenerationInputs", "generate_cached", "generate_naive",
           "prepare_inputs"]
