"""Members of the data engine's tar shards, read without unpacking.

An image inside a shard is named by a path through the tar: "DIR/shards/NAME-00000.tar/00000042.png".
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

# Open shards, per process (a forked worker opens its own) and per file version (a rebuilt shard is a new
# file): a shard's member index is read once, not once per image.
_OPEN: dict[tuple, tarfile.TarFile] = {}
_MAX_OPEN = 64


def in_shard(path: str | Path) -> bool:
    """Whether `path` names a member of a tar shard ("X.tar/member")."""
    return ".tar/" in str(path)


def read_member(path: str | Path) -> bytes:
    """The bytes of "X.tar/member"; FileNotFoundError when the shard or the member is not there."""
    archive, member = str(path).split(".tar/", 1)
    archive += ".tar"
    stat = os.stat(archive)
    key = (os.getpid(), archive, stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if key not in _OPEN:
        if len(_OPEN) >= _MAX_OPEN:
            _OPEN.pop(next(iter(_OPEN))).close()
        _OPEN[key] = tarfile.open(archive)
    try:
        handle = _OPEN[key].extractfile(member)
    except KeyError:
        handle = None
    if handle is None:
        raise FileNotFoundError(f"{archive}: no member {member}")
    return handle.read()
