"""Molecule facts that question-answer tasks ask about, all computed by RDKit.

Values are what a chemist would read off the structure: formula, average molecular weight, ring count,
hydrogen-bond donors and acceptors, named functional groups (en/zh), and Lipinski's rule of five.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors, Lipinski, rdMolDescriptors

# (English name, Chinese name, SMARTS). Checked in this order; a molecule may have several.
FUNCTIONAL_GROUPS: list[tuple[str, str, str]] = [
    ("carboxylic acid", "羧基", "[CX3](=O)[OX2H1]"),
    ("ester", "酯基", "[#6][CX3](=O)[OX2H0][#6]"),
    ("amide", "酰胺基", "[NX3][CX3](=[OX1])[#6]"),
    ("aldehyde", "醛基", "[CX3H1](=O)[#6]"),
    ("ketone", "羰基（酮）", "[#6][CX3](=O)[#6]"),
    ("alcohol", "醇羟基", "[CX4][OX2H]"),
    ("phenol", "酚羟基", "c[OX2H]"),
    ("ether", "醚键", "[OD2;!$(OC=O)]([#6])[#6]"),
    ("primary amine", "伯胺基", "[NX3;H2;!$(NC=O)][#6]"),
    ("secondary amine", "仲胺基", "[NX3;H1;!$(NC=O)]([#6])[#6]"),
    ("tertiary amine", "叔胺基", "[NX3;H0;!$(NC=O);!$(N-a)]([#6])([#6])[#6]"),
    ("nitrile", "氰基", "[NX1]#[CX2]"),
    ("nitro", "硝基", "[$([NX3](=O)=O),$([NX3+](=O)[O-])][!#8]"),
    ("halide", "卤素原子", "[#6][F,Cl,Br,I]"),
    ("sulfonamide", "磺酰胺基", "[SX4](=O)(=O)[NX3]"),
    ("thiol", "巯基", "[#16X2H]"),
    ("alkene", "碳碳双键", "[CX3]=[CX3]"),
    ("alkyne", "碳碳三键", "[CX2]#[CX2]"),
    ("aromatic ring", "芳香环", "a1aaaaa1"),
]
_PATTERNS = [(en, zh, Chem.MolFromSmarts(s)) for en, zh, s in FUNCTIONAL_GROUPS]


@dataclass(frozen=True)
class Properties:
    formula: str
    weight: float  # average molecular weight, g/mol, 2 decimals
    rings: int  # SSSR ring count
    aromatic_rings: int
    hbd: int  # Lipinski H-bond donors (NH + OH)
    hba: int  # Lipinski H-bond acceptors (N + O)
    logp: float  # Crippen logP, 2 decimals
    heavy_atoms: int
    groups_en: tuple[str, ...]
    groups_zh: tuple[str, ...]
    lipinski_violations: int

    @property
    def lipinski_pass(self) -> bool:
        """Rule of five as Lipinski stated it: at most one violation."""
        return self.lipinski_violations <= 1

    def to_dict(self) -> dict:
        return asdict(self) | {"lipinski_pass": self.lipinski_pass}


def functional_groups(mol: Chem.Mol) -> list[tuple[str, str]]:
    return [(en, zh) for en, zh, pattern in _PATTERNS if mol.HasSubstructMatch(pattern)]


def properties(mol: Chem.Mol) -> Properties:
    weight = Descriptors.MolWt(mol)
    logp = Crippen.MolLogP(mol)
    hbd, hba = Lipinski.NumHDonors(mol), Lipinski.NumHAcceptors(mol)
    violations = sum([weight > 500, logp > 5, hbd > 5, hba > 10])
    groups = functional_groups(mol)
    return Properties(
        formula=rdMolDescriptors.CalcMolFormula(mol),
        weight=round(weight, 2),
        rings=rdMolDescriptors.CalcNumRings(mol),
        aromatic_rings=rdMolDescriptors.CalcNumAromaticRings(mol),
        hbd=hbd,
        hba=hba,
        logp=round(logp, 2),
        heavy_atoms=mol.GetNumHeavyAtoms(),
        groups_en=tuple(en for en, _ in groups),
        groups_zh=tuple(zh for _, zh in groups),
        lipinski_violations=violations,
    )
