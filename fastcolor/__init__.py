"""fastcolor: consistent comic colorization with pixel-wise background classification.

``fastcolor.Pipeline`` colors line art; ``fastcolor.outline.extract`` turns a page into
its outline; ``fastcolor.models`` holds the reference PyTorch modules.

The torch-backed names (``Pipeline``, ``models``, ``dlmm``, ...) are imported on first
use, so ``import fastcolor`` (and the command line's ``--help``) stays fast.
"""

__version__ = "0.1.0"

import importlib

from .config import (ConditioningConfig, FastcolorConfig, PixelCNNConfig,  # noqa: E402
                     UNetConfig)
from .errors import (BackendUnavailableError, FastcolorError, ImageTooLargeError,  # noqa: E402
                     InvalidImageError, InvalidInputError, OutputPathError, WeightsError,
                     WeightsNotFoundError)

# name -> the module that defines it (a submodule itself where the name is the module's)
_LAZY = {"dlmm": ".dlmm", "models": ".models", "outline": ".outline",
         "ColorizeResult": ".pipeline", "Hints": ".pipeline", "Pipeline": ".pipeline"}


def __getattr__(name: str):
    """The torch-backed names of ``__all__``, and any subpackage (``fastcolor.engines``),
    imported on first access."""
    where = _LAZY.get(name, "." + name)
    if name.startswith("__"):
        raise AttributeError(f"module 'fastcolor' has no attribute {name!r}")
    try:
        module = importlib.import_module(where, __name__)
    except ModuleNotFoundError as e:
        if e.name != __name__ + where:
            raise
        raise AttributeError(f"module 'fastcolor' has no attribute {name!r}") from None
    value = module if where == "." + name else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BackendUnavailableError", "ColorizeResult", "ConditioningConfig", "FastcolorConfig",
    "FastcolorError", "Hints", "ImageTooLargeError", "InvalidImageError", "InvalidInputError",
    "OutputPathError", "PixelCNNConfig", "Pipeline", "UNetConfig", "WeightsError", "WeightsNotFoundError",
    "__version__", "dlmm", "models", "outline",
]
