"""``FastcolorModel``: the three stages of one fastcolor model, sized by a ``FastcolorConfig``."""

from __future__ import annotations

from torch import nn

from ..config import FastcolorConfig
from .lowres import LowResColorizer
from .stages import BackgroundDetector, PolishingNet


class FastcolorModel(nn.Module):
    """Holds ``lowres`` (LowResColorizer), ``detector`` (BackgroundDetector) and
    ``polisher`` (PolishingNet); its ``state_dict`` is what weight files store."""

    def __init__(self, config: FastcolorConfig | None = None):
        super().__init__()
        self.config = config or FastcolorConfig()
        self.lowres = LowResColorizer(self.config)
        self.detector = BackgroundDetector(self.config.detector)
        self.polisher = PolishingNet(self.config.polisher)
