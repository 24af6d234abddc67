"""Build the native InternVL model (config, weights, parameter counts) from a preset."""

from __future__ import annotations

import torch
from transformers import AutoConfig, InternVLConfig, InternVLForConditionalGeneration
from transformers.models.internvl.configuration_internvl import InternVLVisionConfig

from chemvlm.model.presets import ChatSettings, Preset, load_preset
from chemvlm.model.tokenizer import IMG_CONTEXT
from chemvlm.vision.processor import ImageProcessor

SETTINGS_KEY = "chemvlm"  # where config.json keeps the chat settings and the image processor


def save_settings(config: InternVLConfig, chat: ChatSettings, processor: ImageProcessor) -> None:
    """Write the chat settings and the image processor into `config` (they travel in config.json)."""
    setattr(config, SETTINGS_KEY, {**chat.to_dict(), "image_processor": processor.to_dict()})


def load_settings(config: InternVLConfig) -> tuple[ChatSettings, ImageProcessor]:
    saved = getattr(config, SETTINGS_KEY, None) or {}
    return ChatSettings.from_dict(saved), ImageProcessor.from_dict(saved, config.vision_config.image_size[0])


def build_config(preset: Preset | str, tokenizer=None) -> InternVLConfig:
    """InternVLConfig for the preset; vocabulary and image token come from `tokenizer` when the preset
    leaves them open (models trained from scratch)."""
    preset = load_preset(preset) if isinstance(preset, str) else preset
    text = dict(preset.text)
    model_type = text.pop("model_type")
    if "vocab_size" not in text:
        if tokenizer is None:
            raise ValueError(f"preset {preset.name!r} takes its vocabulary from a tokenizer; pass one")
        text["vocab_size"] = len(tokenizer)
    image_token_id = preset.image_token_id
    if image_token_id is None:
        if tokenizer is None:
            raise ValueError(f"preset {preset.name!r} takes its image token from a tokenizer; pass one")
        image_token_id = tokenizer.convert_tokens_to_ids(IMG_CONTEXT)
    tie = text.get("tie_word_embeddings", False)
    config = InternVLConfig(
        vision_config=InternVLVisionConfig(**preset.vision),
        text_config=AutoConfig.for_model(model_type, **text),
        image_token_id=image_token_id,
        image_seq_length=preset.tokens_per_tile,
        downsample_ratio=preset.downsample_ratio,
        vision_feature_layer=preset.vision_feature_layer,
        vision_feature_select_strategy="default",  # drop the CLS token
        projector_hidden_act="gelu",
        tie_word_embeddings=tie,
    )
    processor = ImageProcessor.from_dict({"image_processor": preset.image_processor}, preset.vision["image_size"])
    save_settings(config, preset.chat, processor)
    return config


def build_model(preset: Preset | str, tokenizer=None, seed: int = 0) -> InternVLForConditionalGeneration:
    """A randomly initialised model (deterministic for a seed)."""
    config = build_config(preset, tokenizer)
    torch.manual_seed(seed)
    return InternVLForConditionalGeneration(config).eval()


def parameter_counts(config: InternVLConfig) -> dict[str, int]:
    """Parameters per part, computed on the meta device: nothing is allocated, so 26B costs nothing."""
    with torch.device("meta"):
        model = InternVLForConditionalGeneration(config)
    parts = {
        "vision tower": model.model.vision_tower,
        "projector": model.model.multi_modal_projector,
        "language model": model.model.language_model,
        "output layer": model.lm_head,
    }
    counts = {name: sum(p.numel() for p in part.parameters()) for name, part in parts.items()}
    if config.tie_word_embeddings:
        counts["output layer"] = 0  # shared with the input embeddings
    counts["total"] = sum(counts.values())
    return counts
