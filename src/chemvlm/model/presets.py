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

    template: str = "internlm2-chat"  # the only template the released ChemVLM checkpoints use
    system_message: str = ""
    max_tiles: int = 6  # tiles per image at inference (ChemVLM's own evaluation used 6)
    train_max_tiles: int = 12  # tiles per image in training (the paper used 12)
    use_thumbnail: bool = True  # a 1-tile overview is appended when an image takes several tiles
    transpose_tiles: bool = False  # True for checkpoints converted from pixel-shuffle v1 (InternVL 1.5)
    # The "ink view" of small models trained from scratch (chemvlm.mini): one tile of the whole image padded
    # to a square, strokes thickened by a `thicken`-px minimum filter, ink bright on a zero background.
    ink_view: bool = False
    thicken: int = 3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "ChatSettings":
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


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

    @property
    def tokens_per_tile(self) -> int:
        side = self.vision["image_size"] // self.vision["patch_size"]
        return int(side * side * self.downsample_ratio**2)


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
