"""How likely an ensemble's answer is right: a logistic model of what its readers said and what the answer is,
fitted on ocsr-dev (benchmarks/confidence.py writes `confidence.json`).

The signals (`signals`), fitted on ocsr-dev (its answers never had several pieces: that weight is 0):
- per member, how much of it agrees: how many of osra's variant runs gave the molecule (plain osra and
  `osra -j` agreeing is evidence), 1 or 0 for a model (its beams count once); and whether it gave nothing;
- whether any member proposed another molecule;
- what the molecule is: an R group (`*`), a charge, stereo, more than one piece, an element outside the
  common organic ones, and its size. (A benzene read with a bond missing was a strong signal until the
  ensemble's osra completed such rings, chem.benzene: then it never occurred on ocsr-dev, so it went.)
The confidence is the model's probability; an ensemble that was never fitted gets none (not a made-up one).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources

import numpy as np
from rdkit import Chem

from chemvlm.chem import canonical_smiles

TABLE = "confidence.json"
ORGANIC = {"C", "N", "O", "S", "F", "Cl", "Br", "I", "P"}


def signals(candidates: dict[str, list[str]], chosen: str, counts_variants: set[str]) -> dict[str, float]:
    """The model's inputs for the answer `chosen` (canonical SMILES) from {member: [SMILES, ...]}; members in
    `counts_variants` give one candidate per run (osra's variants), the others' candidates are one reader's."""
    out: dict[str, float] = {}
    rival = False
    for member, found in candidates.items():
        valid = [c for c in (canonical_smiles(s) for s in found) if c]
        same = sum(c == chosen for c in valid)
        rival |= any(c != chosen for c in valid)
        out[f"agree:{member}"] = float(same if member in counts_variants else same > 0)
        out[f"silent:{member}"] = float(not valid)
    mol = Chem.MolFromSmiles(chosen)
    atoms = list(mol.GetAtoms()) if mol is not None else []
    out.update({
        "rival": float(rival),
        "r_group": float(any(a.GetAtomicNum() == 0 for a in atoms)),
        "charged": float(any(a.GetFormalCharge() for a in atoms)),
        "stereo": float(any(mark in chosen for mark in "@/\\")),
        "pieces": float("." in chosen),
        "rare_element": float(any(a.GetSymbol() not in ORGANIC and a.GetAtomicNum() for a in atoms)),
        "heavy_atoms": len(atoms) / 40,
    })
    return out


def probability(model: dict, values: dict[str, float]) -> float:
    z = model["bias"] + sum(w * values.get(name, 0.0) for name, w in model["weights"].items())
    return round(1 / (1 + math.exp(-z)), 3)


def fit(rows: list[tuple[dict[str, float], bool]], l2: float = 1.0, steps: int = 50) -> dict:
    """A logistic model of (signals, right) rows by Newton's method, with an L2 penalty (not on the bias)
    so that a signal seen on a few answers only cannot make them certain."""
    names = sorted({name for values, _ in rows for name in values})
    x = np.array([[values.get(n, 0.0) for n in names] + [1.0] for values, _ in rows])
    y = np.array([float(right) for _, right in rows])
    penalty = np.diag([l2] * len(names) + [0.0])
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-x @ w))
        gradient = x.T @ (p - y) + penalty @ w
        hessian = x.T @ (x * (p * (1 - p))[:, None]) + penalty + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return {"weights": {n: round(float(v), 4) for n, v in zip(names, w[:-1])}, "bias": round(float(w[-1]), 4),
            "answers": len(rows), "right": int(y.sum())}


@lru_cache(maxsize=1)
def _table() -> dict:
    text = resources.files("chemvlm.engines").joinpath(TABLE)
    return json.loads(text.read_text(encoding="utf-8")) if text.is_file() else {}


def confidence(spec: str, values: dict[str, float], table: dict | None = None) -> float | None:
    """The fitted chance that an answer of ensemble `spec` with these signals is right; None when this
    ensemble was never fitted."""
    model = (table if table is not None else _table()).get(spec)
    return probability(model, values) if model else None
