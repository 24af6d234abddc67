"""Training speed of a stage-2 step on this CPU: packed + length-grouped batches against a plain padded baseline.

Data follows the mix of the paper's Table 5 (share of samples; lengths drawn per kind), so most samples are
text of very different lengths and a few carry molecule images. Each mode trains the same samples in the same
number of optimizer steps (8 samples per step); only the batch layout differs. Real tokens per second counts
tokens of samples, not padding.

    python benchmarks/train_speed.py            # writes benchmarks/results/train-speed.md
"""

from __future__ import annotations

import dataclasses
import platform
import random
import sys
import time
from pathlib import Path

import torch

from chemvlm.chat.vlm import ChemVLM
from chemvlm.chem import draw_molecule
from chemvlm.model.build import build_model
from chemvlm.model.presets import load_preset
from chemvlm.model.tokenizer import STARTER_CORPUS, build_tokenizer
from chemvlm.train.collate import Collator
from chemvlm.train.config import load_stage
from chemvlm.train.dataset import LengthGroupedSampler
from chemvlm.train.encode import Encoder, SkipSample
from chemvlm.train.lora import apply_policy

CONTEXT = 2048
BATCH = 8
# kind: (share of samples, with image, (min, max) words of question text, (min, max) words of answer)
MIX = {
    "chemistry OCR": (0.051, True, (4, 12), (3, 12)),
    "multimodal exam": (0.035, True, (30, 120), (10, 80)),
    "text exam": (0.187, False, (40, 300), (10, 150)),
    "web chemistry text": (0.352, False, (20, 60), (150, 1200)),
    "general English": (0.178, False, (10, 200), (20, 500)),
    "general Chinese": (0.202, False, (10, 150), (20, 400)),
}


def small_20m():
    """A ~20M-parameter model: the tiny preset's architecture, wider and deeper, 112-px tiles (16 tokens each)."""
    tiny = load_preset("tiny")
    vision = dict(tiny.vision, hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4, image_size=112)
    text = dict(tiny.text, hidden_size=512, intermediate_size=1408, num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=4)
    return dataclasses.replace(tiny, name="small-20m", vision=vision, text=text)


def make_samples(encoder: Encoder, n: int, seed: int = 0):
    rng = random.Random(seed)
    words = " ".join(STARTER_CORPUS).split()
    images = [draw_molecule(s, size=size) for s, size in [("CCO", (300, 200)), ("CC(=O)Oc1ccccc1C(=O)O", (500, 300)),
                                                          ("c1ccc2ccccc2c1", (448, 448)), ("CN1C=NC2=C1C(=O)N(C)C(=O)N2C", (800, 300))]]
    kinds, weights = list(MIX), [m[0] for m in MIX.values()]
    samples, skipped = [], 0
    while len(samples) < n:
        kind = rng.choices(kinds, weights)[0]
        _, with_image, q, a = MIX[kind]
        question = " ".join(rng.choices(words, k=rng.randint(*q)))
        answer = " ".join(rng.choices(words, k=rng.randint(*a)))
        turns = [{"from": "human", "value": ("<image>\n" if with_image else "") + question}, {"from": "gpt", "value": answer}]
        try:
            samples.append(encoder.encode(f"{kind}-{len(samples)}", turns, [rng.choice(images)] if with_image else [], 12))
        except SkipSample:
            skipped += 1
    return samples, skipped


def batches(samples, packed: bool, seed: int = 0):
    if packed:
        order = list(LengthGroupedSampler([len(s) for s in samples], BATCH, seed))
    else:
        order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed)).tolist()
    return [[samples[i] for i in order[k : k + BATCH]] for k in range(0, len(order) - BATCH + 1, BATCH)]


def measure(preset, samples, packed: bool, pad_id: int, tokenizer, steps: int) -> dict:
    model = apply_policy(build_model(preset, tokenizer, seed=0), load_stage("stage2"))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-5)
    collate = Collator(pad_id, CONTEXT, packing=packed)
    plan = batches(samples, packed)[: steps + 1]
    tokens = rows = images = 0
    for k, group in enumerate(plan):
        batch = collate([{"sample": s, "skipped": []} for s in group])
        stats = batch.pop("stats")
        if k == 1:  # the first step warms up; time the rest
            start = time.perf_counter()
        count = (batch["labels"][:, 1:] != -100).sum()
        loss = model(**batch, num_items_in_batch=count).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if k >= 1:
            tokens += stats["real_tokens"]
            rows += stats["row_tokens"]
            images += stats["images"]
    seconds = time.perf_counter() - start
    return {"tokens/s": tokens / seconds, "images/s": images / seconds, "real share": tokens / rows, "seconds": seconds}


def main(out: Path = Path(__file__).parent / "results" / "train-speed.md") -> None:
    torch.set_num_threads(1)
    tokenizer = build_tokenizer(STARTER_CORPUS, vocab_size=600)
    lines = [
        "# Training speed: packed vs padded (stage 2, CPU)",
        "",
        f"`python benchmarks/train_speed.py` on {platform.processor() or platform.machine()}, 1 torch thread, "
        f"torch {torch.__version__}. Stage-2 policy (ViT LoRA r=32, LLM LoRA r=16, projector trained), AdamW, "
        f"{BATCH} samples per step, context {CONTEXT}, data drawn with the paper's Table-5 mix. "
        "Baseline: random order, one sample per row, padded to the longest. Packed: length-grouped order, "
        "samples packed into rows of up to the context with per-sample position ids (block-diagonal attention).",
        "",
        "| model | parameters | layout | real tokens/s | images/s | real-token share | speed-up |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for preset, steps in [(load_preset("tiny"), 12), (small_20m(), 6)]:
        model = build_model(preset, tokenizer)
        params = sum(p.numel() for p in model.parameters())
        encoder = Encoder.for_vlm(ChemVLM(model, tokenizer), CONTEXT)
        samples, skipped = make_samples(encoder, BATCH * (steps + 1) * 2)
        base = measure(preset, samples, False, tokenizer.pad_token_id, tokenizer, steps)
        packed = measure(preset, samples, True, tokenizer.pad_token_id, tokenizer, steps)
        for name, r in [("padded (baseline)", base), ("packed + grouped", packed)]:
            lines.append(f"| {preset.name} | {params / 1e6:.1f} M | {name} | {r['tokens/s']:,.0f} | {r['images/s']:.2f} | "
                         f"{r['real share']:.2f} | {r['tokens/s'] / base['tokens/s']:.2f}x |")
            print(lines[-1], flush=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:2]))
