"""Molecule filters and canonical de-duplication: which molecules are worth drawing."""

from __future__ import annotations

from dataclasses import dataclass, field

from rdkit import Chem

from chemvlm.chem.smiles import parse_smiles

ORGANIC = ("H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Se", "Br", "I")


@dataclass(frozen=True)
class MoleculeFilter:
    min_heavy: int = 3  # smaller "molecules" (water, HCl) teach nothing about structure images
    max_heavy: int = 60  # larger ones do not fit legibly into a 448-px tile
    elements: tuple[str, ...] = ORGANIC  # patent/paper structures are organic; metals draw poorly
    allow_charges: bool = True  # zwitterions and nitro groups are normal; set False for neutral-only
    allow_isotopes: bool = False  # isotope labels are rare in drawings and easy to miss
    max_fragments: int = 1  # salts and mixtures: keep the largest fragment when 1
    stereo: str = "keep"  # "keep" or "drop": drop gives stereo-free labels for every image

    def __post_init__(self):
        if self.stereo not in ("keep", "drop"):
            raise ValueError(f"stereo must be 'keep' or 'drop', not {self.stereo!r}")
        if self.min_heavy > self.max_heavy:
            raise ValueError(f"min_heavy {self.min_heavy} > max_heavy {self.max_heavy}")

    def apply(self, smiles: str) -> tuple[str | None, str]:
        """(canonical SMILES, "") when the molecule passes, else (None, reason)."""
        mol = parse_smiles(smiles)
        if mol is None:
            return None, "invalid SMILES"
        fragments = Chem.GetMolFrags(mol, asMols=True)
        if len(fragments) > self.max_fragments:
            if self.max_fragments != 1:
                return None, f"{len(fragments)} fragments"
            mol = max(fragments, key=lambda m: m.GetNumHeavyAtoms())
        heavy = mol.GetNumHeavyAtoms()
        if not self.min_heavy <= heavy <= self.max_heavy:
            return None, f"{heavy} heavy atoms"
        allowed = set(self.elements)
        for atom in mol.GetAtoms():
            if atom.GetSymbol() not in allowed:
                return None, f"element {atom.GetSymbol()}"
            if not self.allow_charges and atom.GetFormalCharge():
                return None, "charged"
            if not self.allow_isotopes and atom.GetIsotope():
                return None, "isotope"
        if self.stereo == "drop":
            Chem.RemoveStereochemistry(mol)
        return Chem.MolToSmiles(mol), ""


@dataclass
class Deduplicator:
    """Keeps the first of each canonical SMILES."""

    seen: set[str] = field(default_factory=set)

    def first(self, canonical: str) -> bool:
        if canonical in self.seen:
            return False
        self.seen.add(canonical)
        return True
