"""The multi-process path on CPU: 2 processes (gloo) under torchrun, plain DDP and DeepSpeed ZeRO-3, give the
same weights as one process with the same global batch."""

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import InternVLForConditionalGeneration

from chemvlm.train.toy import make_toy_data

ROOT = Path(__file__).parent.parent
CONFIG = """model: tiny
output_dir: {out}
stage: {{base: stage2, vision: {{mode: lora, r: 32, dropout: 0.0}}, llm: {{mode: lora, r: 16, dropout: 0.0}}, optimizer: {{lr: 5.0e-3}}}}
data: {{meta: {meta}, context_length: 256, max_dynamic_patch: 4}}
max_steps: 3
per_device_batch: {batch}
grad_accum: 2
save_steps: 2
logging_steps: 1
"""


@pytest.fixture(scope="module")
def meta(tmp_path_factory):
    return make_toy_data(tmp_path_factory.mktemp("toy"), n=16, seed=0)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(tmp_path, meta, name, processes, batch, extra="") -> Path:
    out = tmp_path / name
    config = tmp_path / f"{name}.yaml"
    config.write_text(CONFIG.format(out=out, meta=meta, batch=batch) + extra)
    launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", f"--master_port={_port()}"]
    command = (launcher if processes > 1 else [sys.executable]) + ["-m", "chemvlm.train", str(config)]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _weights(path: Path) -> dict:
    return InternVLForConditionalGeneration.from_pretrained(path).state_dict()


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


@pytest.fixture(scope="module")
def single(tmp_path_factory, meta):
    return _weights(_train(tmp_path_factory.mktemp("one"), meta, "one", processes=1, batch=4) / "merged")


def test_two_processes_equal_one_with_the_same_global_batch(tmp_path, meta, single):
    out = _train(tmp_path, meta, "ddp", processes=2, batch=2)
    assert _same(_weights(out / "merged"), single)
    assert (out / "checkpoint-2").is_dir() and (out / "log.jsonl").read_text().count('"loss"') == 3


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="deepspeed is not installed")
def test_deepspeed_zero3_on_cpu(tmp_path, meta, single):
    # ZeRO-3 shards the weights, so the run leaves the adapter; `merge` gathers it into a plain checkpoint.
    out = _train(tmp_path, meta, "zero3", processes=2, batch=2, extra=f"deepspeed: {ROOT / 'configs/train/zero3.json'}\n")
    assert not (out / "merged").exists()
    merged = subprocess.run(
        [sys.executable, "-m", "chemvlm", "merge", str(out / "adapter"), "-o", str(out / "merged")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert merged.returncode == 0, merged.stderr[-2000:]
    assert _same(_weights(out / "merged"), single)
