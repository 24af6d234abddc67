"""What counts as a checkpoint directory, checked the same way everywhere before anything heavy loads."""

import subprocess
import sys

import pytest

from chemvlm.chat.vlm import ChemVLM
from chemvlm.errors import InputError
from chemvlm.model.checkpoint import CheckpointError, is_checkpoint, require_checkpoint
from chemvlm.spec import ModelSpec, ModelSpecError


def test_a_directory_with_a_config_is_a_checkpoint(tmp_path):
    assert not is_checkpoint(tmp_path) and not is_checkpoint(tmp_path / "missing")
    with pytest.raises(CheckpointError, match=r"^.*: not a checkpoint directory \(no config.json\)$"):
        require_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    assert require_checkpoint(str(tmp_path)) == tmp_path and is_checkpoint(tmp_path)


def test_loading_and_converting_refuse_a_directory_without_config(tmp_path):
    from chemvlm.convert import convert_internvl_chat

    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        ChemVLM.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        convert_internvl_chat(tmp_path, tmp_path / "out")
    with pytest.raises(ModelSpecError, match=r"model spec '.*': not a checkpoint directory \(no config.json\)"):
        ModelSpec.parse(str(tmp_path))
    assert issubclass(CheckpointError, InputError)  # the command line prints it as one line


def test_the_check_loads_neither_torch_nor_transformers():
    code = ("import sys, chemvlm.spec, chemvlm.model.checkpoint; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr
