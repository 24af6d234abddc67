"""Named model shapes kept as data (presets/*.yaml), read into typed dataclasses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

import yaml

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass
class ChatSettings:
    """How the model is prompted; saved inside config.json under `chemvlm` so checkpoints carry it."""

    system_message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "ChatSettings":
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


def tokens_per_tile(image_size: int, patch_size: int, downsample_ratio: float) -> int:
    """Image tokens one tile becomes: patches per side squared, shrunk by the pixel shuffle."""
    side = image_size // patch_size
    return int(side * side * downsample_ratio**2)


@dataclass
class Preset:
    name: str
    description: str
    source: str
    vision: dict  # InternVLVisionConfig arguments
    text: dict  # causal-LM config arguments, with `model_type`
    downsample_ratio: float = 0.5  # pixel shuffle: 2x2 patches -> one token with 4x the channels
    vision_feature_layer: int = -1
    image_token_id: int | None = None  # None: taken from the tokenizer's <IMG_CONTEXT>
    tokens: dict = field(default_factory=dict)  # ids of the special tokens in the released vocabulary
    chat: ChatSettings = field(default_factory=ChatSettings)
    image_processor: dict = field(default_factory=dict)  # ImageProcessor settings (tile size: the tower's)

    @property
    def tokens_per_tile(self) -> int:
        return tokens_per_tile(self.vision["image_size"], self.vision["patch_size"], self.downsample_ratio)


@cache
def preset_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))


def load_preset(name: str) -> Preset:
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(preset_names())}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["chat"] = ChatSettings.from_dict(data.get("chat"))
    return Preset(**data)
