"""Prompting (internlm2-chat, image placeholders) and the inference engine."""

from chemvlm.chat.template import (
    build_messages,
    expand_image_placeholders,
    place_images,
)

__all__ = ["build_messages", "expand_image_placeholders", "place_images"]
