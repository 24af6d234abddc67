"""Reading images out of the data engine's tar shards."""

import io
import os
import tarfile

import pytest

from chemvlm.data.shards import in_shard, read_member


def write_shard(path, members: dict) -> None:
    """As the builder does: a temporary file renamed over the shard."""
    with tarfile.open(f"{path}.tmp", "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    os.replace(f"{path}.tmp", path)


def test_reads_a_member_and_names_what_is_missing(tmp_path):
    shard = tmp_path / "shards" / "set-00000.tar"
    shard.parent.mkdir()
    write_shard(shard, {"00000000.png": b"first", "00000001.png": b"second"})
    assert read_member(f"{shard}/00000001.png") == b"second"
    assert read_member(tmp_path / "shards" / "set-00000.tar" / "00000000.png") == b"first"
    with pytest.raises(FileNotFoundError, match=r"set-00000.tar: no member 00000009.png"):
        read_member(f"{shard}/00000009.png")
    with pytest.raises(FileNotFoundError):
        read_member(tmp_path / "shards" / "set-00001.tar" / "00000000.png")


def test_a_rebuilt_shard_is_read_anew(tmp_path):
    shard = tmp_path / "set-00000.tar"
    write_shard(shard, {"a.png": b"old"})
    assert read_member(f"{shard}/a.png") == b"old"
    write_shard(shard, {"a.png": b"new bytes"})
    assert read_member(f"{shard}/a.png") == b"new bytes"


def test_only_paths_through_a_tar_are_in_a_shard():
    assert in_shard("shards/set-00000.tar/00000042.png")
    assert not in_shard("images/set-00000.tar.png") and not in_shard("images/a.png")
