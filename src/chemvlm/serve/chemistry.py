"""The `chemistry` extension of a completion: what RDKit says about the structure in the answer."""

from __future__ import annotations

from chemvlm.chem import describe, draw_molecule
from chemvlm.record import Prediction

DRAWING_SIZE = (360, 300)


def chemistry(prediction: Prediction) -> dict:
    """SMILES as written, canonical SMILES, formula, weight, InChIKey and an SVG drawing (null when
    the answer holds no valid SMILES)."""
    info = describe(prediction.smiles) if prediction.smiles else None
    valid = bool(info and info.valid)
    return {
        "engine": prediction.engine,
        "smiles": prediction.smiles or None,
        "canonical_smiles": info.canonical if valid else None,
        "valid": valid,
        "formula": info.formula if valid else None,
        "molecular_weight": info.weight if valid else None,
        "inchikey": info.inchikey if valid else None,
        "svg": draw_molecule(info.canonical, size=DRAWING_SIZE, fmt="svg").decode() if valid else None,
    }
