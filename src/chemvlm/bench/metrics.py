"""Chemistry-correct metrics. ChemOCR exactly as the paper scores it, plus what OCSR papers report.

Paper: SMILES from the answer (`chem.smiles.extract_smiles`), RDKit topological fingerprint (`RDKFingerprint`) Tanimoto against the truth,
an invalid prediction scores 0, an invalid truth is skipped; average similarity and Tanimoto@1.0 (the share
with similarity 1.0). Added: exact canonical SMILES (with stereo), stereo-agnostic match, Standard InChI
match and validity, all over the scored items.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

from rdkit import Chem, DataStructs

from chemvlm.chem.smiles import extract_smiles, parse_smiles



@lru_cache(maxsize=4096)
def _facts(smiles: str):
    """(canonical, canonical without stereo, Standard InChI, RDKit fingerprint), or None when invalid."""
    mol = parse_smiles(smiles)
    if mol is None:
        return None
    try:
        inchi = Chem.MolToInchi(mol) or None
    except Exception:  # the InChI library rejects a few exotic structures; the other metrics still apply
        inchi = None
    return Chem.MolToSmiles(mol), Chem.MolToSmiles(mol, isomericSmiles=False), inchi, Chem.RDKFingerprint(mol)


@dataclass
class SmilesScore:
    """One item. `scored` is False when the truth is invalid (the item is skipped, as in the paper)."""

    scored: bool
    valid: bool = False
    tanimoto: float = 0.0
    exact: bool = False
    exact_nostereo: bool = False
    inchi: bool = False
    markush: bool = False  # the truth has `*` atoms (R-groups): RDKit parses it, so it is scored

    def to_dict(self) -> dict:
        return asdict(self)


def score_smiles(truth: str, predicted: str | None) -> SmilesScore:
    want = _facts(truth) if truth else None
    if want is None:
        return SmilesScore(scored=False)
    markush = "*" in want[0]
    got = _facts(predicted) if predicted else None
    if got is None:
        return SmilesScore(scored=True, markush=markush)
    return SmilesScore(
        scored=True,
        valid=True,
        tanimoto=DataStructs.TanimotoSimilarity(want[3], got[3]),
        exact=want[0] == got[0],
        exact_nostereo=want[1] == got[1],
        inchi=want[2] is not None and want[2] == got[2],
        markush=markush,
    )


def summarize_smiles(scores: list[SmilesScore]) -> dict:
    """Percentages over the scored items; `n` scored, `skipped` invalid truths."""
    scored = [s for s in scores if s.scored]
    n = len(scored)

    def pct(values) -> float:
        return round(100.0 * sum(values) / n, 2) if n else 0.0

    return {
        "n": n,
        "skipped": len(scores) - n,
        "avg_similarity": pct(s.tanimoto for s in scored),
        "tanimoto@1.0": pct(s.tanimoto == 1.0 for s in scored),
        "exact": pct(s.exact for s in scored),
        "exact_nostereo": pct(s.exact_nostereo for s in scored),
        "inchi": pct(s.inchi for s in scored),
        "validity": pct(s.valid for s in scored),
        "markush": sum(s.markush for s in scored),
    }


def summarize_choice(truths: list[str], chosen: list[str | None]) -> dict:
    """Accuracy (%) over all items; an unparseable answer counts as wrong and is counted."""
    n = len(truths)
    correct = sum(c is not None and c == t for t, c in zip(truths, chosen))
    return {
        "n": n,
        "accuracy": round(100.0 * correct / n, 2) if n else 0.0,
        "unparseable": sum(c is None for c in chosen),
    }


def summarize_verdicts(verdicts: list[bool | None]) -> dict:
    """Free-form answers judged correct (%); `unjudged` items had no usable verdict and count as wrong."""
    n = len(verdicts)
    return {
        "n": n,
        "accuracy": round(100.0 * sum(v is True for v in verdicts) / n, 2) if n else 0.0,
        "unjudged": sum(v is None for v in verdicts),
    }
