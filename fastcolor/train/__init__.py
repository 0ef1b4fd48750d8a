"""Training of the three stages (``fastcolor train``); see ``trainer`` for the run folder
and ``losses`` for the losses."""

from .presets import PRESETS, resolve_config
from .trainer import STAGES, TrainOptions, parse_stage_values, train

__all__ = ["PRESETS", "STAGES", "TrainOptions", "parse_stage_values", "resolve_config", "train"]
