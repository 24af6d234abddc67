"""RDKit helpers: SMILES extraction and canonicalisation, molecule facts, drawing."""

from chemvlm.chem.draw import draw_molecule
from chemvlm.chem.smiles import (
    MoleculeInfo,
    canonical_smiles,
    describe,
    extract_smiles,
    parse_smiles,
)

__all__ = ["MoleculeInfo", "draw_molecule", "canonical_smiles", "describe", "extract_smiles", "parse_smiles"]
