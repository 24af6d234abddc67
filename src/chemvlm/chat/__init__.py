"""Prompting (internlm2-chat, image placeholders) and ChemVLM, a model with its tokenizer and image processor."""

from chemvlm.chat.template import (
    build_messages,
    expand_image_placeholders,
    place_images,
)

__all__ = ["build_messages", "expand_image_placeholders", "place_images"]
