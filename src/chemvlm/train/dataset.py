"""A map-style dataset over rows: images loaded lazily, encoded on access; a bad sample is replaced by the next
good one (so batches stay full and the order stays deterministic) and reported with the batch."""

from __future__ import annotations

from typing import Sequence

import torch

from chemvlm.train.data import AnnotationRow, ImageSource, file_images
from chemvlm.train.encode import Encoder, Sample, SkipSample


class TrainDataset(torch.utils.data.Dataset):
    def __init__(self, rows: Sequence[AnnotationRow], encoder: Encoder, max_tiles: int = 12, image_source: ImageSource | None = None, tries: int = 16):
        self.rows = rows
        self.encoder = encoder
        self.max_tiles = max_tiles
        self.image_source = image_source or file_images
        self.tries = tries  # give up after this many bad samples in a row (then the data is mostly broken)

    def __len__(self) -> int:
        return len(self.rows)

    def encode(self, row: AnnotationRow) -> Sample:
        try:
            images = list(self.image_source(row))
        except Exception as err:  # a plugged-in source may fail in its own way; the row is skipped, not the run
            raise SkipSample(f"image: {row.id}: {type(err).__name__}: {err}".splitlines()[0]) from None
        sample = self.encoder.encode(row.id, row.data["conversations"], images, row.max_tiles or self.max_tiles)
        if row.data.get("patch_classes") is not None:  # drawn rows (train.drawn) label every patch of their tile
            sample.patch_classes = torch.as_tensor(row.data["patch_classes"])
        sample.graph = row.data.get("graph")  # graph rows (train.drawn.GraphPictures): atoms and bonds as drawn
        return sample

    def __getitem__(self, index: int) -> dict:
        skipped = []
        for k in range(self.tries):
            position = (index + k) % len(self.rows)
            try:
                row = self.rows[position]
            except Exception as err:  # a lazy row that fails to render is skipped like a missing image
                skipped.append((f"row {position}", f"render: {type(err).__name__}: {err}".splitlines()[0]))
                continue
            try:
                return {"sample": self.encode(row), "skipped": skipped}
            except SkipSample as err:
                skipped.append((row.id, str(err)))
        raise RuntimeError(f"{self.tries} bad samples in a row from index {index}, e.g. {skipped[0][0]}: {skipped[0][1]}")

    def estimated_lengths(self) -> list[int]:
        """Cheap token-count guesses (no image is opened) for length grouping: about 3 characters per token
        and a typical tile count per image; a row may carry its own `length`."""
        given = getattr(self.rows, "estimated_lengths", None)  # lazy rows guess without rendering
        if given is not None:
            return list(given)
        tiles = min(self.max_tiles, 6) + 1
        out = []
        for row in self.rows:
            if isinstance(row.data.get("length"), int):
                out.append(row.data["length"])
                continue
            chars = sum(len(t["value"]) for t in row.data["conversations"])
            out.append(chars // 3 + len(row.images) * tiles * self.encoder.tokens_per_tile)
        return out


class LengthGroupedSampler(torch.utils.data.Sampler):
    """Shuffled indices in which each run of `group` consecutive indices has similar length: a random
    permutation is cut into mega-batches of `group * 50`, each sorted by length (longest first), then the
    groups are shuffled. Deterministic for (seed, epoch), so a resumed run sees the same order."""

    def __init__(self, lengths: list[int], group: int, seed: int = 0, mega: int = 50):
        self.lengths = lengths
        self.group = max(1, group)
        self.seed = seed
        self.mega = mega
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        size = self.group * self.mega
        groups = []
        for start in range(0, len(order), size):
            chunk = sorted(order[start : start + size], key=lambda i: -self.lengths[i])
            groups += [chunk[i : i + self.group] for i in range(0, len(chunk), self.group)]
        shuffled = torch.randperm(len(groups), generator=generator).tolist()
        return iter([i for g in shuffled for i in groups[g]])
