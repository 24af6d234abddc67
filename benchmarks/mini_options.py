"""The options compared when choosing chemvlm-mini's shape, number format and tokenizer.

    python benchmarks/mini_options.py [--molecules FILE] [--threads 2]

1. Target length: tokens per answer for 1,000 molecules (<= 20 heavy atoms) with a plain byte-level BPE and
   with the SMILES-aware one, for canonical aromatic SMILES and for the traced Kekulé SMILES the model learns.
2. Training speed: pictures per second of one optimiser step (forward, backward; batch 32, drawing excluded)
   for several shapes, float32 and bfloat16 autocast. Run it on an otherwise idle machine.
Writes benchmarks/results/mini-options.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import torch

from chemvlm.chat.vlm import ChemVLM
from chemvlm.data.patches import draw_traced
from chemvlm.model.build import build_model
from chemvlm.model.presets import load_preset
from chemvlm.train.collate import Collator
from chemvlm.train.config import DrawnData
from chemvlm.train.drawn import encode_traced, questions, smiles_tokenizer, split_molecules
from chemvlm.train.encode import Encoder
from chemvlm.train.patch_loss import PatchSupervised

ROOT = Path(__file__).resolve().parent.parent
SHAPES = {  # name: (image px, vision width, vision layers, text width, text layers)
    "mini (chosen)": (224, 192, 4, 256, 4),
    "mini, 168 px": (168, 192, 4, 256, 4),
    "mini, 280 px": (280, 192, 4, 256, 4),
    "wider": (224, 256, 6, 384, 6),
}


def token_lengths(smiles: list[str]) -> list[tuple[str, float, float]]:
    from chemvlm.model.tokenizer import build_tokenizer

    rng = random.Random(0)
    traced = [draw_traced(s, rng, plain=True).target for s in smiles]
    aware = smiles_tokenizer(smiles + traced, "", 1200)
    plain = build_tokenizer(smiles + traced, "", vocab_size=1200)
    rows = []
    for name, tok in (("byte-level BPE", plain), ("SMILES-aware BPE", aware)):
        rows.append((name, statistics.mean(len(tok(s)["input_ids"]) for s in smiles),
                     statistics.mean(len(tok(s)["input_ids"]) for s in traced)))
    return rows


def step_speed(shape: tuple, tokenizer, smiles: list[str], bf16: bool) -> tuple[float, int]:
    px, vw, vl, tw, tl = shape
    preset = load_preset("mini")
    preset.vision = dict(preset.vision, image_size=px, hidden_size=vw, num_hidden_layers=vl,
                         num_attention_heads=vw // 64, intermediate_size=4 * vw)
    preset.text = dict(preset.text, hidden_size=tw, num_hidden_layers=tl, num_attention_heads=tw // 64,
                       num_key_value_heads=tw // 64, intermediate_size=3 * tw)
    vlm = ChemVLM(build_model(preset, tokenizer), tokenizer)  # the mini preset's processor is the ink view
    model = PatchSupervised(vlm.model, {"answer": 1.0, "patch_classes": 1.0}).train()
    encoder, rng, ask = Encoder.for_vlm(vlm, 2048), random.Random(0), questions()[0]
    rows = [{"sample": encode_traced(encoder, str(k), ask, draw_traced(s, rng, px, 14)), "skipped": []}
            for k, s in enumerate(smiles[:32])]
    batch = Collator(tokenizer.pad_token_id, 2048, packing=False)(rows)
    batch.pop("stats")
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for _ in range(4):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch)["loss"]
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
        times.append(time.perf_counter() - start)
    return 32 / statistics.median(times[1:]), sum(p.numel() for p in vlm.model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", default=str(ROOT / "src" / "chemvlm" / "data" / "corpus" / "molecules.csv"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    smiles = split_molecules(DrawnData(molecules=[args.molecules]))["train"][:1000]
    lengths = token_lengths(smiles)
    tokenizer = smiles_tokenizer(smiles, "You are ChemVLM. 你是ChemVLM。", 1200)
    speeds = []
    for name, shape in SHAPES.items():
        for bf16 in (False, True):
            rate, params = step_speed(shape, tokenizer, smiles, bf16)
            speeds.append((name, shape, "bf16" if bf16 else "fp32", rate, params))
            print(speeds[-1], flush=True)
    lines = [
        "# chemvlm-mini: options compared",
        "",
        f"Measured with `python benchmarks/mini_options.py` ({args.threads} threads).",
        "",
        "## Answer length in tokens (mean over 1,000 molecules with <= 20 heavy atoms)",
        "",
        "| tokenizer | canonical aromatic SMILES | traced Kekulé SMILES |",
        "|---|---|---|",
        *[f"| {name} | {a:.1f} | {b:.1f} |" for name, a, b in lengths],
        "",
        "## Training speed (batch 32, one optimiser step, drawing excluded)",
        "",
        "| shape | image px | vision width x layers | text width x layers | parameters | number format | pictures/s |",
        "|---|---|---|---|---|---|---|",
        *[f"| {n} | {s[0]} | {s[1]} x {s[2]} | {s[3]} x {s[4]} | {p / 1e6:.1f} M | {fmt} | {r:.1f} |"
          for n, s, fmt, r, p in speeds],
        "",
    ]
    out = ROOT / "benchmarks" / "results" / "mini-options.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
