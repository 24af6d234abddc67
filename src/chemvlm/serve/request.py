"""The chat-completions request: its schema, and the question and images the engine gets from it.

The engines answer one question about the image(s) of one turn: the question is the last user message,
the images are those of the latest user message that has any (so "and its weight?" after a picture still
refers to that picture). Earlier user/assistant text turns go to the engine as the conversation's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chemvlm.serve.config import ServeConfig
from chemvlm.serve.errors import APIError


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, top_p, user…: accepted; decoding is greedy
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: int = 1


@dataclass
class ImageRef:
    field: str  # where it was in the request, for error messages
    url: str


@dataclass
class Turn:
    question: str
    images: list[ImageRef]
    max_tokens: int
    history: list[tuple[str, str]]  # earlier (question, answer) pairs


def _parts(message: Message, index: int) -> tuple[list[str], list[ImageRef]]:
    if message.content is None:
        return [], []
    if isinstance(message.content, str):
        return [message.content], []
    texts, images = [], []
    for j, part in enumerate(message.content):
        field = f"messages[{index}].content[{j}]"
        kind = part.get("type")
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise APIError(400, f"{field}.text: a text part needs a string 'text'", f"{field}.text")
            texts.append(part["text"])
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise APIError(400, f"{field}.image_url.url: an image part needs a URL string", f"{field}.image_url")
            images.append(ImageRef(f"{field}.image_url", url))
        else:
            raise APIError(400, f"{field}.type: {kind!r} is not supported (use 'text' or 'image_url')", f"{field}.type")
    return texts, images


def read_turn(request: ChatRequest, config: ServeConfig) -> Turn:
    """The question, the images and the answer budget of a request, or a 400 naming the bad field."""
    if request.model != config.model_name:
        raise APIError(404, f"model {request.model!r} is not served here; this server serves {config.model_name!r}", "model")
    if request.n != 1:
        raise APIError(400, f"n: only n=1 is supported, got {request.n}", "n")
    asked = request.max_completion_tokens if request.max_completion_tokens is not None else request.max_tokens
    field = "max_completion_tokens" if request.max_completion_tokens is not None else "max_tokens"
    if asked is not None and not 1 <= asked <= config.max_tokens:
        raise APIError(400, f"{field}: {asked} is outside 1..{config.max_tokens}", field)
    if request.messages[-1].role != "user":
        raise APIError(400, f"messages[{len(request.messages) - 1}].role: the last message must be the user's question", "messages")

    chars, all_images, latest_images, question, history = 0, [], [], "", []
    for i, message in enumerate(request.messages):
        texts, images = _parts(message, i)
        chars += sum(len(t) for t in texts)
        all_images += images
        text = "\n".join(texts).strip()
        if message.role == "user":
            question = text
            latest_images = images or latest_images
        elif message.role == "assistant" and question:
            history.append((question, text))  # a question with its answer becomes history
            question = ""
    if chars > config.max_prompt_chars:
        raise APIError(400, f"messages: {chars} characters of text is over the limit of {config.max_prompt_chars}", "messages")
    if len(all_images) > config.max_images:
        raise APIError(400, f"messages: {len(all_images)} images is over the limit of {config.max_images} per request", "messages")
    if not question:
        raise APIError(400, f"messages[{len(request.messages) - 1}].content: the question is empty", "messages")
    for image in all_images:  # refuse paths anywhere in the conversation, not only in the images used
        check_url(image, config)
    return Turn(question, latest_images, asked or min(config.default_tokens, config.max_tokens), history)


def check_url(image: ImageRef, config: ServeConfig) -> None:
    url = image.url
    if url.startswith("data:"):
        return
    if url.startswith(("http://", "https://")):
        if not config.allow_remote_images:
            raise APIError(400, f"{image.field}: remote image URLs are disabled on this server; send the image "
                                "as a base64 data URL (data:image/png;base64,…)", image.field)
        return
    raise APIError(400, f"{image.field}: file paths and other URL schemes are not accepted; send the image as a "
                        "base64 data URL (data:image/png;base64,…)", image.field)
