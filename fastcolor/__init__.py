"""fastcolor: consistent comic colorization with pixel-wise background classification.

``fastcolor.Pipeline`` colors line art; ``fastcolor.outline.extract`` turns a page into
its outline; ``fastcolor.models`` holds the reference PyTorch modules.
"""

__version__ = "0.1.0"

from . import dlmm, models, outline  # noqa: E402
from .config import (ConditioningConfig, FastcolorConfig, PixelCNNConfig,  # noqa: E402
                     UNetConfig)
from .errors import (BackendUnavailableError, FastcolorError, ImageTooLargeError,  # noqa: E402
                     InvalidImageError, InvalidInputError, OutputPathError, WeightsError,
                     WeightsNotFoundError)
from .pipeline import ColorizeResult, Hints, Pipeline  # noqa: E402

__all__ = [
    "BackendUnavailableError", "ColorizeResult", "ConditioningConfig", "FastcolorConfig",
    "FastcolorError", "Hints", "ImageTooLargeError", "InvalidImageError", "InvalidInputError",
    "OutputPathError", "PixelCNNConfig", "Pipeline", "UNetConfig", "WeightsError", "WeightsNotFoundError",
    "__version__", "dlmm", "models", "outline",
]
