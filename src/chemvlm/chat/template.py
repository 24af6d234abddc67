"""Conversations into prompt text: the internlm2-chat layout comes from the tokenizer's chat template;
here each `<image>` placeholder is expanded into `<img>` + `<IMG_CONTEXT>`×(tokens per tile × tiles) + `</img>`."""

from __future__ import annotations

from chemvlm.model.tokenizer import IMAGE_PLACEHOLDER, IMG_CONTEXT, IMG_END, IMG_START


def place_images(question: str, n_images: int) -> str:
    """InternVL's convention: images the question does not place go in front, one per line
    ("<image>\\n" for one image, "Image-1: <image>\\nImage-2: <image>\\n…" for several)."""
    missing = n_images - question.count(IMAGE_PLACEHOLDER)
    if missing < 0:
        raise ValueError(f"the question has {question.count(IMAGE_PLACEHOLDER)} <image> placeholders but only {n_images} images")
    if missing == 0:
        return question
    if n_images == 1:
        return f"{IMAGE_PLACEHOLDER}\n{question}"
    first = n_images - missing + 1
    lines = "".join(f"Image-{k}: {IMAGE_PLACEHOLDER}\n" for k in range(first, n_images + 1))
    return lines + question


def build_messages(question: str, n_images: int, history=None, system: str | None = None) -> list[dict]:
    """Chat messages for one more turn. `history` holds earlier turns as (question, answer) pairs or
    {"role", "content"} dicts; their `<image>` placeholders refer to the first images, in order, and the
    images left over belong to this question."""
    messages = [{"role": "system", "content": system}] if system is not None else []
    used = 0
    for turn in history or []:
        if isinstance(turn, dict):
            messages.append({"role": turn["role"], "content": turn["content"]})
            used += turn["content"].count(IMAGE_PLACEHOLDER) if turn["role"] == "user" else 0
        else:
            past_question, past_answer = turn
            messages += [{"role": "user", "content": past_question}, {"role": "assistant", "content": past_answer}]
            used += past_question.count(IMAGE_PLACEHOLDER)
    if used > n_images:
        raise ValueError(f"the history places {used} images but only {n_images} were given")
    messages.append({"role": "user", "content": place_images(question, n_images - used)})
    return messages


def expand_image_placeholders(prompt: str, tiles_per_image: list[int], tokens_per_tile: int) -> str:
    """Replace the k-th `<image>` with the image-token block for image k (its tiles × tokens per tile)."""
    pieces = prompt.split(IMAGE_PLACEHOLDER)
    if len(pieces) - 1 != len(tiles_per_image):
        raise ValueError(f"prompt has {len(pieces) - 1} <image> placeholders for {len(tiles_per_image)} images")
    out = [pieces[0]]
    for tiles, rest in zip(tiles_per_image, pieces[1:]):
        out.append(IMG_START + IMG_CONTEXT * (tiles * tokens_per_tile) + IMG_END + rest)
    return "".join(out)
