"""What counts as a checkpoint directory: a directory with a config.json. Imports nothing heavy, so that the
model spec and the command line can check a path before torch or transformers load."""

from __future__ import annotations

from pathlib import Path

from chemvlm.errors import InputError


class CheckpointError(InputError, ValueError):
    """A path that is not a loadable checkpoint."""


def is_checkpoint(path: str | Path) -> bool:
    return (Path(path) / "config.json").is_file()


def require_checkpoint(path: str | Path) -> Path:
    """`path` as a Path, or CheckpointError "PATH: not a checkpoint directory (no config.json)"."""
    if not is_checkpoint(path):
        raise CheckpointError(f"{path}: not a checkpoint directory (no config.json)")
    return Path(path)
