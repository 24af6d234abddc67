"""One conversation into model inputs: image tiles, token ids, and labels on the assistant's tokens only.

The prompt text is the tokenizer's chat template (internlm2-chat), rendered turn by turn so that each piece is
known to be a prompt or an answer; labels are -100 everywhere except each assistant answer and the
`<|im_end|>` that closes it (what the model must learn to say, including when to stop).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from chemvlm.chat.template import expand_image_placeholders, place_images
from chemvlm.model.tokenizer import IMAGE_PLACEHOLDER
from chemvlm.vision import load_image
from chemvlm.vision.processor import ImageProcessor

IGNORE = -100
ROLES = {"human": "user", "gpt": "assistant", "system": "system"}


class SkipSample(Exception):
    """A sample that cannot be used; the message is the reason (first word: the kind)."""


@dataclass
class Sample:
    id: str
    input_ids: list[int]
    labels: list[int]
    pixel_values: torch.Tensor | None  # (tiles, 3, S, S), all images' tiles in prompt order
    tiles_reduced: bool = False  # fewer tiles than allowed, so that the sample fits the context
    patch_classes: torch.Tensor | None = None  # (patches,) classes of its one tile's patches (train.patch_loss)
    graph: dict | None = None  # the graph head's targets (model.graph_head.targets) and its tile, `pixels`

    def __len__(self) -> int:
        return len(self.input_ids)


class Encoder:
    """Training samples in exactly the form inference builds them: the model's own image processor and
    tokens per tile (see `for_vlm`)."""

    def __init__(self, tokenizer, processor: ImageProcessor, tokens_per_tile: int, context_length: int):
        self.tokenizer = tokenizer
        self.processor = processor
        self.tokens_per_tile = tokens_per_tile
        self.context_length = context_length
        self.prefix = tokenizer("").input_ids  # what the tokenizer puts in front of every text (BOS or nothing)

    @classmethod
    def for_vlm(cls, vlm, context_length: int) -> "Encoder":
        """The encoder of a ChemVLM (its tokenizer, processor and tokens per tile)."""
        return cls(vlm.tokenizer, vlm.processor, vlm.tokens_per_tile, context_length)

    # ---- text -----------------------------------------------------------------------------------------
    def messages(self, conversations: list[dict], n_images: int) -> list[dict]:
        messages = [{"role": ROLES[t["from"]], "content": t["value"]} for t in conversations]
        placed = sum(m["content"].count(IMAGE_PLACEHOLDER) for m in messages if m["role"] == "user")
        if placed == 0 and n_images:  # InternVL's convention: unplaced images go before the first question
            first = next(i for i, m in enumerate(messages) if m["role"] == "user")
            messages[first]["content"] = place_images(messages[first]["content"], n_images)
        elif placed != n_images:
            raise SkipSample(f"placeholders: {placed} <image> placeholders for {n_images} images")
        return messages

    def tokenize(self, messages: list[dict]) -> tuple[list[int], list[int]]:
        """Token ids and labels; each turn is the difference between the template rendered up to it and
        up to the turn before, so the split follows the template whatever it is."""
        render = lambda upto, gen=False: self.tokenizer.apply_chat_template(  # noqa: E731
            messages[:upto], tokenize=False, add_generation_prompt=gen
        )
        if messages[0]["role"] == "assistant":
            raise SkipSample("bad row: the conversation starts with a gpt turn")
        ids, labels = list(self.prefix), [IGNORE] * len(self.prefix)
        done = ""
        for k, message in enumerate(messages, 1):
            text = render(k)
            if message["role"] == "assistant":
                head = render(k - 1, gen=True)[len(done):]  # "<|im_start|>assistant\n"
                head_ids, body_ids = self._ids(head), self._ids(text[len(done) + len(head):])
                ids += head_ids + body_ids
                labels += [IGNORE] * len(head_ids) + body_ids
            else:
                piece = self._ids(text[len(done):])
                ids += piece
                labels += [IGNORE] * len(piece)
            done = text
        return ids, labels

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    # ---- images ---------------------------------------------------------------------------------------
    def _tiles(self, image, max_tiles: int) -> int:
        return self.processor.tile_count(image.width, image.height, max_tiles)

    def encode(self, sample_id: str, conversations: list[dict], images: list, max_tiles: int) -> Sample:
        """Raises SkipSample (missing or unreadable image, bad placeholders, too long)."""
        loaded = []
        for image in images:
            try:
                loaded.append(load_image(image))
            except (OSError, ValueError) as err:  # ImageLoadError is a ValueError; a missing file an OSError
                raise SkipSample(f"image: {err}".splitlines()[0]) from None
        messages = self.messages(conversations, len(loaded))
        # Text tokens with empty image blocks; each tile then adds exactly tokens_per_tile image tokens.
        text_ids, _ = self.tokenize(self._expand(messages, [0] * len(loaded)))
        budget = self.context_length - len(text_ids)
        chosen = None
        for limit in range(max_tiles, 0, -1):  # fewer tiles per image until the sample fits
            tiles = [self._tiles(image, limit) for image in loaded]
            if sum(tiles) * self.tokens_per_tile <= budget:
                chosen = limit
                break
        if chosen is None:
            need = len(text_ids) + len(loaded) * self.tokens_per_tile
            raise SkipSample(f"too long: {need} tokens at 1 tile per image > context {self.context_length}")
        ids, labels = self.tokenize(self._expand(messages, tiles))
        if not any(label != IGNORE for label in labels):
            raise SkipSample("no answer: no supervised token")
        pixel_values = self.processor.preprocess(loaded, chosen)
        # A lower limit only counts as a reduction when an image would really have taken more tiles.
        reduced = any(self._tiles(image, max_tiles) > n for image, n in zip(loaded, tiles))
        return Sample(sample_id, ids, labels, pixel_values, tiles_reduced=reduced)

    def dummy_image(self) -> Sample:
        """One blank tile and its image tokens, with no label: added to a batch without images so that the
        vision tower and projector are in every step's graph (DDP and ZeRO expect every rank to use the same
        parameters); its gradient is exactly zero and it is attended by nothing else."""
        text = expand_image_placeholders(IMAGE_PLACEHOLDER, [1], self.tokens_per_tile)
        ids = self._ids(text)
        tile = torch.zeros(1, 3, self.processor.tile_size, self.processor.tile_size)
        return Sample("<dummy image>", ids, [IGNORE] * len(ids), tile)

    def _expand(self, messages: list[dict], tiles: list[int]) -> list[dict]:
        """User turns with each <image> replaced by its image-token block (images in order of appearance)."""
        queue, out = iter(tiles), []
        for m in messages:
            n = m["content"].count(IMAGE_PLACEHOLDER) if m["role"] == "user" else 0
            if n:
                m = dict(m, content=expand_image_placeholders(m["content"], [next(queue) for _ in range(n)], self.tokens_per_tile))
            out.append(m)
        return out
