"""Hold-out split by InChIKey skeleton: a test molecule never appears in training data.

The split key is the InChIKey's first block (the connectivity hash), so stereoisomers, tautomer-neutral
duplicates and differently written SMILES of one skeleton always land on the same side. The side is
a hash of that key, so it needs no state: any machine, any order, any subset gives the same answer.
"""

from __future__ import annotations

import hashlib

from rdkit import Chem

from chemvlm.chem.smiles import parse_smiles


def skeleton_key(smiles: str) -> str | None:
    """InChIKey first block (14 letters) of a molecule or of every molecule in a reaction, or None."""
    if smiles.count(">") == 2:
        keys = sorted(filter(None, (skeleton_key(part) for part in smiles.replace(">", ".").split(".") if part)))
        return "-".join(keys) or None
    mol = parse_smiles(smiles)
    if mol is None:
        return None
    key = Chem.MolToInchiKey(mol)
    return key.split("-")[0] if key else None


def split_of(key: str, holdout: float, salt: str = "chemvlm") -> str:
    """"holdout" for a fixed share `holdout` of keys, "train" for the rest."""
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout share must be in [0, 1), not {holdout}")
    digest = hashlib.sha1(f"{salt}:{key}".encode()).digest()
    return "holdout" if int.from_bytes(digest[:8], "big") / 2**64 < holdout else "train"
