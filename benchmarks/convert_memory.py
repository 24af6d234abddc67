"""Peak memory of `chemvlm convert` on a multi-shard fake InternVL-Chat checkpoint.

Each conversion runs in its own process and reports its peak RSS; the same process doing only the
imports and the config is the baseline, and loading every tensor at once (what a converter that
builds the whole state dict does) is the comparison. Writes benchmarks/results/convert-memory.md.

    .venv/bin/python benchmarks/convert_memory.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

VISION = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024, image_size=448,
              patch_size=14, norm_type="rms_norm", qk_normalization=True, qkv_bias=False, layer_norm_eps=1e-6,
              initializer_factor=0.1, hidden_act="gelu")
LLM_WIDTHS = dict(hidden_size=2048, num_hidden_layers=8, num_attention_heads=16, num_key_value_heads=4, intermediate_size=5632)

CHILD = """
import json, sys, torch
from pathlib import Path
mode, src, dst, shard = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
from chemvlm.convert.internvl_chat import native_config, convert_internvl_chat
from chemvlm.convert.checkpoint import iter_tensors
native_config(src)
if mode == "convert":
    convert_internvl_chat(src, dst, max_shard_bytes=shard)
elif mode == "load-all":
    state = dict(iter_tensors(src))
    checksum = sum(float(t.float().sum()) for t in state.values())  # touch every page, as a conversion must
# VmHWM is this address space's peak (ru_maxrss would carry the parent's peak across fork and exec)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"peak_mib": int(hwm.split()[1]) / 1024}))
"""


def run(mode: str, src: Path, dst: Path, shard: int) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(src), str(dst), str(shard)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]


def main() -> None:
    from internvl_chat_fake import LLM, fake_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        fake_checkpoint(src, ps_version="v1", vision=VISION, llm={**LLM, **LLM_WIDTHS}, shards=8)  # returned weights freed at once
        shards = sorted(src.glob("model-*.safetensors"))
        total = sum(p.stat().st_size for p in shards) / 2**20
        largest = max(p.stat().st_size for p in shards) / 2**20
        baseline = run("baseline", src, Path(tmp) / "none", 0)
        rows = [("imports + config only (baseline)", "-", baseline)]
        rows.append(("load every tensor at once", "-", run("load-all", src, Path(tmp) / "none", 0)))
        for shard_mib in (64, 256):
            peak = run("convert", src, Path(tmp) / f"dst{shard_mib}", shard_mib * 2**20)
            rows.append((f"chemvlm convert, {shard_mib} MiB output shards", f"{shard_mib}", peak))
    lines = [
        "# Peak memory of checkpoint conversion",
        "",
        f"Fake InternVL-Chat checkpoint (ViT 256x4, InternLM2-layout LLM 2048x8 with grouped wqkv, pixel-shuffle v1), "
        f"bf16, {len(shards)} safetensors shards, {total:.0f} MiB in all, largest shard {largest:.0f} MiB. "
        "Measured by `benchmarks/convert_memory.py` on 2 CPU cores; each row is a fresh process, peak RSS.",
        "",
        "| run | output shard (MiB) | peak RSS (MiB) | over baseline (MiB) |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {name} | {shard} | {peak:.0f} | {peak - baseline:.0f} |" for name, shard, peak in rows]
    lines += [
        "",
        "Bound: conversion holds the source shard being read (memory-mapped, so its pages count while they",
        "are resident but can be reclaimed), the output shard being filled and the tensor in flight; peak",
        "memory over the baseline is about largest source shard + output shard size + largest tensor,",
        "independent of the model's size (64 MiB shards: 194 + 64 + 23 MiB predicted; see the table).",
        "For ChemVLM-26B (~51 GB in bf16, ~5 GB source shards) with the default 5 GiB output shards that is",
        "about 11 GB, against more than 51 GB for a converter that holds the whole state dict.",
    ]
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "results" / "convert-memory.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
