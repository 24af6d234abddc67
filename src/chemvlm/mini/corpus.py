"""The molecules the mini model trains and is checked on: filtered, decontaminated, split by skeleton.

Preparing a large source takes minutes (an InChIKey per molecule), so the lists are cached as JSON in the
run folder and reused when the run resumes.
"""

from __future__ import annotations

import json
from pathlib import Path

from chemvlm.data.decontam import Decontaminator, read_keys
from chemvlm.data.filters import Deduplicator, MoleculeFilter
from chemvlm.data.sources import SourceReport, read_file
from chemvlm.data.split import skeleton_key, split_of


def prepare_molecules(sources: list[str], max_heavy: int, holdout: float, cache: Path | None = None) -> dict:
    """{"train": [...], "holdout": [...], "report": {...}} of canonical SMILES with <= `max_heavy` heavy atoms."""
    settings = {"sources": [Path(s).name for s in sources], "max_heavy": max_heavy, "holdout": holdout}
    if cache is not None and cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("settings", settings) == settings:  # lists made by other settings are made again
            return cached
    keep = MoleculeFilter(min_heavy=2, max_heavy=max_heavy, max_fragments=1)
    clean, seen = Decontaminator(read_keys()), Deduplicator()
    sides: dict[str, list[str]] = {"train": [], "holdout": []}
    report, rejected = SourceReport(), 0
    for source in sources:
        for entry in read_file(source, report):
            if entry.smiles.count(">") == 2:
                continue  # reactions are not molecules
            smiles, _ = keep.apply(entry.smiles)
            if smiles is None:
                rejected += 1
                continue
            if seen.first(smiles) and clean.is_clean(smiles):
                sides[split_of(skeleton_key(smiles), holdout)].append(smiles)
    result = {**sides, "settings": settings, "report": {"read": report.read, "bad_rows": report.bad_count, "filtered_out": rejected,
                                  "decontaminated": clean.removed, "train": len(sides["train"]),
                                  "holdout": len(sides["holdout"])}}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(result))
    return result
