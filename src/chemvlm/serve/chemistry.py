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


def why_invalid(smiles: str) -> str:
    """Why RDKit refuses a SMILES, in a few words: its own sanitisation message (valence, aromaticity),
    or the syntax problem found (unclosed branch or ring, stray character)."""
    from rdkit import Chem

    text = smiles.strip()
    if not text:
        return "empty"
    if any(ch.isspace() for ch in text):
        return "a SMILES has no spaces"
    mol = Chem.MolFromSmiles(text, sanitize=False)
    if mol is None:
        depth, rings = 0, set()
        for ch in text:
            depth += (ch == "(") - (ch == ")")
            if depth < 0:
                return "a ')' closes a branch that was not opened"
        if depth:
            return "a branch '(' is not closed"
        if text.count("[") != text.count("]"):
            return "a bracket atom '[' is not closed"
        for digit in (ch for i, ch in enumerate(text) if ch.isdigit() and "[" not in text[max(0, i - 4):i]):
            rings ^= {digit}
        if rings:
            return f"ring bond {min(rings)} is not closed"
        return "RDKit cannot parse it (a syntax error)"
    problems = Chem.DetectChemistryProblems(mol)
    if problems:
        return problems[0].Message()
    try:
        Chem.SanitizeMol(mol)
    except Exception as err:  # RDKit's own reason
        return str(err).strip().splitlines()[0]
    return "no atoms" if mol.GetNumAtoms() == 0 else "RDKit cannot read it"


def molecule(smiles: str) -> dict:
    """What /v1/molecules answers for a valid SMILES (the same fields as a completion's `chemistry`)."""
    info = describe(smiles)
    return {"smiles": smiles, "canonical_smiles": info.canonical, "valid": True, "formula": info.formula,
            "molecular_weight": info.weight, "inchikey": info.inchikey,
            "svg": draw_molecule(info.canonical, size=DRAWING_SIZE, fmt="svg").decode()}
