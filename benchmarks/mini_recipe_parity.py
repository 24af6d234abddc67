"""The small-model recipe of the main trainer against the trainer it replaced, on the same batches.

    git show ba1c7fc:src/chemvlm/data/corpus/molecules.csv > /tmp/corpus-ba1c7fc.csv
    python benchmarks/mini_recipe_parity.py --molecules /tmp/corpus-ba1c7fc.csv [--steps 60] [--batch 16]

Trains the mini preset from scratch with configs/train/mini.yaml's stage, losses and drawn rows (warm-up 10
steps, seed 0, the bundled molecule corpus) and compares its per-step answer and patch-class losses with
benchmarks/results/mini-trainer-before.json: the same run of the former `chemvlm.mini.train` loop (commit
ba1c7fc), which drew the same molecules, drawing seeds and questions per step from the bundled corpus as it
was then (give that file: the corpus has since lost 13 molecules to the wider decontamination). Writes
benchmarks/results/mini-recipe-parity.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from chemvlm.train.config import load_config
from chemvlm.train.trainer import build_trainer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CORPUS = ROOT / "src" / "chemvlm" / "data" / "corpus" / "molecules.csv"


def recipe_curve(steps: int, batch: int, out: Path, molecules: str) -> list[dict]:
    recipe = {"model": "mini", "vocab_size": 1200, "output_dir": str(out), "bf16": False, "threads": 1,
              "stage": {"base": "mini", "optimizer": {"warmup_ratio": 10}},
              "data": {"drawn": {"molecules": [molecules], "max_heavy": 20, "holdout": 0.02},
                       "packing": False, "group_by_length": False},
              "losses": {"answer": 1.0, "patch_classes": 1.0}, "per_device_batch": batch, "grad_accum": 1,
              "max_steps": steps, "save_steps": 10**6, "logging_steps": 1, "eval": {"every_steps": 0}}
    path = out.parent / "recipe.yaml"
    path.write_text(json.dumps(recipe))
    trainer = build_trainer(load_config(path), eval_hook=lambda model, tokenizer, step: {})
    trainer.train()
    return [r for r in map(json.loads, open(out / "log.jsonl")) if "answer" in r]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--molecules", default=str(CORPUS), help="the molecule file the recorded run drew from")
    args = parser.parse_args()
    torch.set_num_threads(1)
    before = json.loads((RESULTS / "mini-trainer-before.json").read_text())
    if (before["steps"], before["batch"]) != (args.steps, args.batch):
        raise SystemExit(f"the recorded run has {before['steps']} steps of {before['batch']}; use those")
    with tempfile.TemporaryDirectory() as tmp:
        after = recipe_curve(args.steps, args.batch, Path(tmp) / "run", args.molecules)
    rows, gaps = [], {"answer": [], "patch_classes": []}
    for old, new in zip(before["curve"], after):
        for key in gaps:
            gaps[key].append(abs(new[key] - old[key]) / old[key])
        if old["step"] in (1, 2, 3, 5, 10) or old["step"] % 10 == 0:
            rows.append(f"| {old['step']} | {old['answer']:.4f} | {new['answer']:.4f} | {old['patch_classes']:.4f} |"
                        f" {new['patch_classes']:.4f} |")
    mean = {k: 100 * sum(v) / len(v) for k, v in gaps.items()}
    worst = {k: 100 * max(v) for k, v in gaps.items()}
    lines = [
        "# The small-model recipe against the trainer it replaced",
        "",
        f"`python benchmarks/mini_recipe_parity.py --molecules CORPUS --steps {args.steps} --batch {args.batch}`, CORPUS "
        "being the bundled molecule corpus of commit ba1c7fc: the mini preset from scratch, seed 0, warm-up 10 steps, "
        "float32 on the CPU. Both runs draw the same "
        "molecules, drawing seeds and questions at every step. Before: the former `chemvlm.mini.train` loop (commit "
        "ba1c7fc, recorded in mini-trainer-before.json); after: `chemvlm train` with configs/train/mini.yaml's stage "
        "and losses.",
        "",
        "| step | answer loss before | after | patch-class loss before | after |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Relative difference per step, mean / largest: answer {mean['answer']:.2f} % / {worst['answer']:.2f} %, "
        f"patch classes {mean['patch_classes']:.2f} % / {worst['patch_classes']:.2f} %.",
        "",
        "Where they differ, and why: the main trainer's labels also cover the line break the chat template puts "
        "after `<|im_end|>` (one more, easy, supervised token per answer), and the data engine lays a molecule out "
        "before kekulizing it, as RDKit's drawer does, where the former trainer laid out the Kekulé form, so some "
        "drawings differ by their layout. Everything else (initial weights, tokenizer, optimiser groups, schedule, "
        "clipping per side) is the same.",
        "",
    ]
    (RESULTS / "mini-recipe-parity.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
