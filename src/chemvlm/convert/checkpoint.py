"""Read checkpoints tensor by tensor and write them shard by shard, so that memory stays bounded by
one output shard plus the tensor in flight, not by the model's size."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from chemvlm.errors import InputError


class CheckpointFormatError(InputError, ValueError):
    """A directory that does not hold a checkpoint this project can read."""


def weight_files(directory: Path) -> list[Path]:
    """The weight shards of a checkpoint, safetensors preferred over PyTorch .bin files."""
    for index_name, single in (("model.safetensors.index.json", "model.safetensors"), ("pytorch_model.bin.index.json", "pytorch_model.bin")):
        index = directory / index_name
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text())["weight_map"]
            except (json.JSONDecodeError, KeyError) as err:
                raise CheckpointFormatError(f"{index}: not a weight index ({err})") from None
            files = [directory / name for name in dict.fromkeys(weight_map.values())]
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                raise CheckpointFormatError(f"{index}: shard {missing[0]} is missing")
            return files
        if (directory / single).is_file():
            return [directory / single]
    raise CheckpointFormatError(f"{directory}: no model.safetensors, pytorch_model.bin or index of either")


def iter_tensors(directory: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) for every weight, one shard open at a time."""
    for path in weight_files(directory):
        if path.suffix == ".safetensors":
            with safe_open(str(path), framework="pt") as handle:
                for name in handle.keys():
                    yield name, handle.get_tensor(name)
        else:
            state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
            for name in list(state):
                yield name, state.pop(name)
            del state


class ShardWriter:
    """Collects tensors into safetensors shards of at most `max_shard_bytes` and writes the index."""

    def __init__(self, directory: Path, max_shard_bytes: int = 5 * 2**30):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_shard_bytes = max_shard_bytes
        self.pending: dict[str, torch.Tensor] = {}
        self.pending_bytes = 0
        self.shards: list[tuple[str, list[str]]] = []
        self.total_bytes = 0

    def add(self, name: str, tensor: torch.Tensor) -> None:
        size = tensor.numel() * tensor.element_size()
        if self.pending and self.pending_bytes + size > self.max_shard_bytes:
            self._flush()
        self.pending[name] = tensor.contiguous()
        self.pending_bytes += size
        self.total_bytes += size

    def _flush(self) -> None:
        name = f"part-{len(self.shards) + 1:05d}.safetensors"
        save_file(self.pending, str(self.directory / name), metadata={"format": "pt"})
        self.shards.append((name, list(self.pending)))
        self.pending, self.pending_bytes = {}, 0

    def close(self) -> None:
        if self.pending or not self.shards:
            self._flush()
        count = len(self.shards)
        if count == 1:
            os.replace(self.directory / self.shards[0][0], self.directory / "model.safetensors")
            return
        weight_map = {}
        for number, (temporary, names) in enumerate(self.shards, 1):
            final = f"model-{number:05d}-of-{count:05d}.safetensors"
            os.replace(self.directory / temporary, self.directory / final)
            weight_map.update({name: final for name in names})
        index = {"metadata": {"total_size": self.total_bytes}, "weight_map": weight_map}
        (self.directory / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
