"""A small InternVL-format data set made with RDKit renders, for trying the recipe without the data engine
(tests, the tiny CPU config, the speed benchmark)."""

from __future__ import annotations

import random
from pathlib import Path

from chemvlm.chem import describe, draw_molecule
from chemvlm.train.data import write_jsonl, write_meta

SMILES = [
    "CCO", "c1ccccc1", "CC(=O)O", "CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C)C(=O)N2C", "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "O=C(O)c1ccccc1O", "c1ccc2ccccc2c1", "CCN(CC)CC", "C1CCCCC1", "OCC(O)CO", "NC(=O)N", "CC(N)C(=O)O", "ClCCl",
    "CC#N", "C=CC=C", "O=C1CCCCC1", "c1ccncc1", "Cc1ccccc1", "OC1CCCCC1",
]


def make_toy_data(folder: str | Path, n: int = 16, seed: int = 0, text_share: float = 0.25) -> Path:
    """`n` rows: image→SMILES questions (some two-turn) and text-only formula questions. Returns the meta JSON."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        smiles = SMILES[i % len(SMILES)]
        facts = describe(smiles)
        canonical, formula = facts.canonical, facts.formula
        if rng.random() < text_share:
            rows.append({"id": f"text-{i}", "conversations": [
                {"from": "human", "value": f"What is the molecular formula of {canonical}?"},
                {"from": "gpt", "value": f"Formula {formula}."},
            ]})
            continue
        name = f"images/mol-{i}.png"
        size = (rng.choice([200, 300, 500]), rng.choice([150, 200, 400]))
        (folder / name).write_bytes(draw_molecule(smiles, size=size))
        turns = [{"from": "human", "value": "<image>\nWhat is the SMILES of this molecule?"}, {"from": "gpt", "value": canonical}]
        if i % 3 == 0:
            turns += [{"from": "human", "value": "分子式是什么？"}, {"from": "gpt", "value": f"分子式 {formula}。"}]
        rows.append({"id": f"ocr-{i}", "image": name, "conversations": turns})
    write_jsonl(folder / "toy.jsonl", rows)
    return write_meta(folder / "meta.json", {"toy": {"root": str(folder), "annotation": str(folder / "toy.jsonl"), "repeat_time": 1, "length": n}})


if __name__ == "__main__":  # python -m chemvlm.train.toy FOLDER [N]
    import sys

    print(make_toy_data(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 64))
