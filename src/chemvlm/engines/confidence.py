"""How likely an ensemble's answer is right, from how its readers agree, calibrated on ocsr-dev.

An answer's agreement is, per member, how many of its candidates are that molecule: osra's variants count
one each (plain osra and `osra -j` agreeing is evidence), a model's beams count once. The calibration table
(`confidence.json`, written by benchmarks/confidence.py) holds, per ensemble spec and agreement, how many
ocsr-dev answers had that agreement and how many of them were right; the confidence is that share, smoothed
((right + 1) / (n + 2)) so a rare agreement is not called certain. An agreement the table never saw gets the
share of answers that as many members proposed.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from chemvlm.chem import canonical_smiles

TABLE = "confidence.json"


def agreement(candidates: dict[str, list[str]], chosen: str, counts_variants: set[str]) -> str:
    """"member:n,member:n": for each member, its candidates that are `chosen` (members in
    `counts_variants` count each candidate, the others at most one)."""
    parts = []
    for member, found in candidates.items():
        same = sum(canonical_smiles(s) == chosen for s in found)
        parts.append(f"{member}:{same if member in counts_variants else min(same, 1)}")
    return ",".join(parts)


def members_agreeing(key: str) -> int:
    return sum(int(part.rpartition(":")[2]) > 0 for part in key.split(","))


@lru_cache(maxsize=1)
def _table() -> dict:
    text = resources.files("chemvlm.engines").joinpath(TABLE)
    return json.loads(text.read_text(encoding="utf-8")) if text.is_file() else {}


def smoothed(right: int, n: int) -> float:
    return round((right + 1) / (n + 2), 3)


def confidence(spec: str, key: str, table: dict | None = None) -> float | None:
    """The calibrated chance that an answer of ensemble `spec` with agreement `key` is right; None when
    this ensemble was never calibrated."""
    cells = (table if table is not None else _table()).get(spec)
    if not cells:
        return None
    if key in cells:
        return smoothed(*cells[key])
    votes = members_agreeing(key)
    alike = [cell for other, cell in cells.items() if members_agreeing(other) == votes]
    return smoothed(sum(c[0] for c in alike), sum(c[1] for c in alike))
