"""Batches of encoded samples: padded (one sample per row) or packed (several samples per row).

Packed rows carry `position_ids` that restart at 0 for each sample and no attention mask: transformers then
builds a block-diagonal causal mask from the position resets, so no token attends across samples (sdpa and
eager on CPU, flash-attention's varlen path on GPU). Labels of each sample start with -100 (the system
prompt), so the one-token label shift never crosses a sample boundary. The loss is the mean over supervised
tokens of the whole optimizer step (the Trainer passes their count), so a packed and a padded batch of the
same samples give the same loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from chemvlm.train.encode import IGNORE, Sample


def pack_rows(lengths: list[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing: sample indices per row, each row's total length <= capacity."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        for r, free in enumerate(room):
            if lengths[i] <= free:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(capacity - lengths[i])
    return rows


@dataclass
class Collator:
    pad_token_id: int
    context_length: int
    packing: bool = True
    dummy_image: Sample | None = None  # added when no sample has an image (see Encoder.dummy_image)

    def __call__(self, items: list[dict]) -> dict:
        samples: list[Sample] = [item["sample"] for item in items]
        skipped = [s for item in items for s in item["skipped"]]
        stats = {
            "samples": len(samples),
            "real_tokens": sum(len(s) for s in samples),
            "images": sum(1 for s in samples if s.pixel_values is not None),
            "tiles_reduced": sum(s.tiles_reduced for s in samples),
            "skipped": skipped,
        }
        if self.dummy_image is not None and not stats["images"]:
            samples = samples + [self.dummy_image]
        if self.packing:
            groups = pack_rows([len(s) for s in samples], self.context_length)
        else:
            groups = [[i] for i in range(len(samples))]
        width = max(sum(len(samples[i]) for i in g) for g in groups)
        input_ids = torch.full((len(groups), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(groups), width), IGNORE, dtype=torch.long)
        positions = torch.zeros((len(groups), width), dtype=torch.long)
        mask = torch.zeros((len(groups), width), dtype=torch.long)
        tiles, patch_classes, graphs = [], [], []
        for r, group in enumerate(groups):
            at = 0
            for i in group:
                s, n = samples[i], len(samples[i])
                input_ids[r, at : at + n] = torch.tensor(s.input_ids)
                labels[r, at : at + n] = torch.tensor(s.labels)
                positions[r, at : at + n] = torch.arange(n)
                mask[r, at : at + n] = 1
                if s.pixel_values is not None:
                    tiles.append(s.pixel_values)  # in row-major token order, as the model fills image tokens
                if s.patch_classes is not None:
                    patch_classes.append(s.patch_classes)  # in the order of the tiles
                if s.graph is not None:
                    graphs.append(s.graph)
                at += n
            positions[r, at:] = torch.arange(width - at)  # padding is its own "sample", fully masked in labels
        batch = {"input_ids": input_ids, "labels": labels, "use_cache": False}
        if self.packing:
            batch["position_ids"] = positions
        else:
            batch["attention_mask"] = mask
        if tiles:
            batch["pixel_values"] = torch.cat(tiles)
        if patch_classes:
            batch["patch_classes"] = torch.stack(patch_classes)
        if graphs:
            batch["graph_pixels"] = torch.stack([g["pixels"] for g in graphs])
            batch["graph"] = [{k: v for k, v in g.items() if k != "pixels"} for g in graphs]
        batch["stats"] = dict(stats, row_tokens=int(mask.numel()))
        return batch
