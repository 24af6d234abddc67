"""Training ChemVLM in two stages: InternVL-format data, stage policies as YAML, PEFT LoRA, transformers' Trainer."""

from chemvlm.train.config import (
    ConfigError,
    StagePolicy,
    TrainConfig,
    load_config,
    load_stage,
)
from chemvlm.train.data import AnnotationRow, SkipLog, load_meta

__all__ = [
    "AnnotationRow", "ConfigError", "SkipLog", "StagePolicy", "TrainConfig", "load_config", "load_meta", "load_stage",
]
