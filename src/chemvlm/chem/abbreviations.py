"""Superatom abbreviations (Ph, Me, OMe, CO2Et, Boc, CF3, …): condense a molecule for drawing, expand it back.

A drawing may show "CO2Et" where the molecule has -C(=O)OCC. The label of such an image is always the
expanded molecule; `expand` rebuilds it from the condensed one so that tests can check the round trip.
"""

from __future__ import annotations

from rdkit import Chem
from rdkit.Chem import rdAbbreviations

# label, group SMILES with `*` at the attachment point. RDKit's defaults lack the aryl and protecting groups
# that fill patents and papers; RDKit picks the first match, so larger groups come first.
GROUPS: dict[str, str] = {
    "Boc": "*C(=O)OC(C)(C)C",
    "Cbz": "*C(=O)OCc1ccccc1",
    "Ts": "*S(=O)(=O)c1ccc(C)cc1",
    "Ms": "*S(=O)(=O)C",
    "Bn": "*Cc1ccccc1",
    "Ph": "*c1ccccc1",
    "CO2Et": "*C(=O)OCC",
    "CO2Me": "*C(=O)OC",
    "CO2H": "*C(=O)[OH]",
    "tBu": "*C(C)(C)C",
    "iPr": "*C(C)C",
    "nBu": "*CCCC",
    "nPr": "*CCC",
    "CF3": "*C(F)(F)F",
    "CCl3": "*C(Cl)(Cl)Cl",
    "OCF3": "*OC(F)(F)F",
    "NO2": "*[N+](=O)[O-]",
    "SO3H": "*S(=O)(=O)[OH]",
    "CN": "*C#N",
    "OAc": "*OC(C)=O",
    "NHAc": "*NC(C)=O",
    "Ac": "*C(C)=O",
    "CHO": "*C=O",
    "OEt": "*OCC",
    "OMe": "*OC",
    "SMe": "*SC",
    "NMe2": "*N(C)C",
    "Et": "*CC",
    "Me": "*C",
}


def _table():
    lines = "\n".join(f"{label} {smiles[1:]}" for label, smiles in GROUPS.items())
    return rdAbbreviations.ParseAbbreviations(lines)


_ABBREVIATIONS = _table()


def condense(mol: Chem.Mol, labels: list[str] | None = None, max_coverage: float = 0.4) -> Chem.Mol:
    """A copy of `mol` with matching groups replaced by labelled dummy atoms (`atomLabel` property).

    `labels` restricts which abbreviations may be used (e.g. not Me on every methyl); `max_coverage` is the
    largest share of heavy atoms that may disappear into labels, so the skeleton stays drawn.
    """
    table = _ABBREVIATIONS if labels is None else [a for a in _ABBREVIATIONS if a.label in set(labels)]
    return rdAbbreviations.CondenseMolAbbreviations(mol, table, maxCoverage=max_coverage)


def used_labels(mol: Chem.Mol) -> list[str]:
    """The abbreviation labels present in a condensed molecule."""
    return [a.GetProp("atomLabel") for a in mol.GetAtoms() if a.GetAtomicNum() == 0 and a.HasProp("atomLabel")]


def expand(mol: Chem.Mol) -> Chem.Mol:
    """The full molecule behind a condensed one: every labelled dummy is replaced by its group."""
    parts = Chem.RWMol(mol)
    fragments = []
    for number, atom in enumerate(parts.GetAtoms(), start=1):
        if atom.GetAtomicNum() != 0 or not atom.HasProp("atomLabel"):
            continue
        label = atom.GetProp("atomLabel")
        if label not in GROUPS:
            raise ValueError(f"unknown abbreviation {label!r}")
        atom.SetAtomMapNum(number)
        group = Chem.MolFromSmiles(GROUPS[label].replace("*", f"[*:{number}]", 1))
        fragments.append(group)
    if not fragments:
        return Chem.Mol(mol)
    combined = parts.GetMol()
    for group in fragments:
        combined = Chem.CombineMols(combined, group)
    return Chem.molzip(combined)
