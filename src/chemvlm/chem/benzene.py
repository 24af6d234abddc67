"""Benzene rings a recogniser read with one bond missing: find them, and complete them.

A drawn benzene read with one double bond not seen comes out as a cyclohexadiene: a six-membered carbon ring,
not aromatic, with two double bonds in it and none leaving it. That is rare in real compounds and common in
osra's answers. Where the two ring atoms that lost the bond are next to each other and both still carry a
hydrogen, the missing double bond has one place only, and adding it gives the benzene back.
"""

from __future__ import annotations

from rdkit import Chem

from chemvlm.chem.smiles import parse_smiles

SINGLE, DOUBLE = Chem.BondType.SINGLE, Chem.BondType.DOUBLE


def broken_benzenes(mol: Chem.Mol) -> list[list[int]]:
    """The bond indices of each broken benzene ring of a sanitised molecule."""
    found = []
    for ring in mol.GetRingInfo().BondRings():
        bonds = [mol.GetBondWithIdx(b) for b in ring]
        atoms = {a.GetIdx(): a for b in bonds for a in (b.GetBeginAtom(), b.GetEndAtom())}
        if len(ring) != 6 or any(b.GetIsAromatic() for b in bonds) or any(a.GetSymbol() != "C" for a in atoms.values()):
            continue
        doubles = sum(b.GetBondType() == DOUBLE for b in bonds)
        leaving = any(b.GetIdx() not in ring and b.GetBondType() == DOUBLE for a in atoms.values() for b in a.GetBonds())
        if doubles == 2 and not leaving:
            found.append(list(ring))
    return found


def _saturated(atom: Chem.Atom) -> bool:
    return atom.GetTotalNumHs() >= 1 and all(b.GetBondType() == SINGLE for b in atom.GetBonds())


def complete_benzenes(smiles: str) -> str:
    """`smiles` with every broken benzene whose missing bond has one place completed (canonical SMILES);
    unchanged when it has none, when RDKit cannot read it, or when the completed molecule is not valid."""
    mol = parse_smiles(smiles)
    if mol is None:
        return smiles
    fixes = []
    for ring in broken_benzenes(mol):
        bonds = [mol.GetBondWithIdx(b) for b in ring]  # a bond between two saturated atoms is single
        open_bonds = [b.GetIdx() for b in bonds if _saturated(b.GetBeginAtom()) and _saturated(b.GetEndAtom())]
        if len(open_bonds) == 1:
            fixes.append(open_bonds[0])
    if not fixes:
        return smiles
    completed = Chem.RWMol(mol)
    for index in fixes:
        bond = completed.GetBondWithIdx(index)
        bond.SetBondType(DOUBLE)
        for atom in (bond.GetBeginAtom(), bond.GetEndAtom()):
            atom.SetNumExplicitHs(0)
            atom.SetNoImplicit(False)
            atom.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)  # an sp2 atom has no tetrahedral centre
    try:
        Chem.SanitizeMol(completed)
    except Exception:  # RDKit raises its own sanitisation errors
        return smiles
    return Chem.MolToSmiles(completed)
