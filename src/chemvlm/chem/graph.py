"""A structure drawing as a graph: atoms where they are drawn, bonds between them as drawn, and back to a molecule.

This is what a graph recogniser reads (model.graph_head) and what it is trained on (data.graphs): each atom is
a node at its drawn position with a class (an element, `*` for an R group, or a superatom label such as OMe or
CO2Et, which stands for its whole group), a formal charge, and each bond an order or a wedge/hash pointing
from its narrow end. `to_molecule` builds the RDKit molecule: superatoms expanded, chirality from the wedges
and the 2-D positions, double-bond geometry from the positions, then sanitised, so that every SMILES it gives
is one RDKit accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from rdkit import Chem
from rdkit.Geometry import Point3D

from chemvlm.chem.abbreviations import GROUPS, expand

ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B", "Si", "Se", "H")
# index 0 is "no atom here"; "other" is a label the recogniser sees but cannot expand (it then gives no answer)
ATOM_CLASSES = ("none", *ELEMENTS, "*", *GROUPS, "other")
ATOM_INDEX = {name: i for i, name in enumerate(ATOM_CLASSES)}
CHARGES = (-1, 0, 1)
# a wedge or hash points from atom i (its narrow end, the stereocentre) to atom j; "_back" from j to i
# "wavy": a single bond drawn as a wave, which leaves the stereo it touches open (a centre or a double bond)
BOND_CLASSES = ("none", "single", "double", "triple", "aromatic", "wedge", "hash", "wedge_back", "hash_back", "wavy")
BOND_INDEX = {name: i for i, name in enumerate(BOND_CLASSES)}
_ORDER = {"single": Chem.BondType.SINGLE, "double": Chem.BondType.DOUBLE, "triple": Chem.BondType.TRIPLE,
          "aromatic": Chem.BondType.AROMATIC}

_DIRECTION = {"wedge": Chem.BondDir.BEGINWEDGE, "hash": Chem.BondDir.BEGINDASH, "wavy": Chem.BondDir.UNKNOWN}

# How real drawings write the groups of GROUPS (either reading direction, condensed formulas).
ALIASES = {
    "MeO": "OMe", "H3CO": "OMe", "OCH3": "OMe", "CH3O": "OMe", "COOH": "CO2H", "HO2C": "CO2H", "HOOC": "CO2H",
    "F3C": "CF3", "O2N": "NO2", "NC": "CN", "CH2CH3": "Et", "H3CH2C": "Et", "C2H5": "Et", "CH3CH2": "Et",
    "COOMe": "CO2Me", "CO2CH3": "CO2Me", "MeO2C": "CO2Me", "MeOOC": "CO2Me", "H3CO2C": "CO2Me",
    "COOEt": "CO2Et", "EtO2C": "CO2Et", "EtOOC": "CO2Et", "CO2C2H5": "CO2Et", "AcO": "OAc", "t-Bu": "tBu",
    "EtO": "OEt", "OC2H5": "OEt", "C2H5O": "OEt", "CH3": "Me", "H3C": "Me", "F3CO": "OCF3", "MeS": "SMe",
    "CH3S": "SMe", "SCH3": "SMe", "Me2N": "NMe2", "N(CH3)2": "NMe2", "(CH3)2N": "NMe2", "AcHN": "NHAc",
    "AcNH": "NHAc", "i-Pr": "iPr", "n-Bu": "nBu", "n-Pr": "nPr", "OHC": "CHO", "HO3S": "SO3H", "Cl3C": "CCl3",
    "C6H5": "Ph", "BnO": None, "Tos": "Ts", "tosyl": "Ts", "Z": "Cbz",
}


def atom_class(label: str) -> str:
    """The class of a drawn atom label: an element, a group of GROUPS (through ALIASES) or "other"."""
    if label in ELEMENTS or label in GROUPS or label == "*":
        return label
    return ALIASES.get(label) or "other"


@dataclass
class Graph:
    points: np.ndarray  # (n, 2) float: x, y in pixels of the picture the graph was read from (y down)
    atoms: list[str]  # n classes of ATOM_CLASSES
    charges: list[int] = field(default_factory=list)  # n formal charges (0 when empty)
    bonds: list[tuple[int, int, str]] = field(default_factory=list)  # (i, j, class of BOND_CLASSES)

    def __post_init__(self):
        if not self.charges:
            self.charges = [0] * len(self.atoms)


def graph_of(mol: Chem.Mol, points) -> Graph:
    """The drawn graph of an RDKit molecule whose atom i is drawn at points[i]: superatoms (dummies with an
    `atomLabel`) become group nodes, wedges come from the molecule's bond directions (set them with
    Chem.WedgeMolBonds), bonds are Kekulé unless the drawing shows them aromatic."""
    atoms = []
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() == 0:
            atoms.append(atom_class(atom.GetProp("atomLabel")) if atom.HasProp("atomLabel") else "*")
        else:
            atoms.append(atom.GetSymbol() if atom.GetSymbol() in ELEMENTS else "other")
    bonds = []
    for bond in mol.GetBonds():
        i, j, direction = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), bond.GetBondDir()
        if direction == Chem.BondDir.BEGINWEDGE:
            kind = "wedge"
        elif direction == Chem.BondDir.BEGINDASH:
            kind = "hash"
        elif direction == Chem.BondDir.UNKNOWN:
            kind = "wavy"
        elif bond.GetIsAromatic() and bond.GetBondType() == Chem.BondType.AROMATIC:
            kind = "aromatic"
        else:
            kind = {1.0: "single", 2.0: "double", 3.0: "triple"}.get(bond.GetBondTypeAsDouble(), "single")
        bonds.append((i, j, kind))
    return Graph(np.asarray(points, np.float32).reshape(-1, 2), atoms,
                 [a.GetFormalCharge() for a in mol.GetAtoms()], bonds)


class GraphError(ValueError):
    """A graph that makes no molecule (an unknown label, a valence RDKit rejects, no atoms)."""


def to_molecule(graph: Graph) -> Chem.Mol:
    """The sanitised molecule a drawn graph shows; GraphError when it shows none."""
    if not graph.atoms:
        raise GraphError("no atoms")
    mol = Chem.RWMol()
    for n, (name, charge) in enumerate(zip(graph.atoms, graph.charges), start=1):
        if name == "other" or name == "none":
            raise GraphError(f"atom {n - 1}: a label that cannot be expanded")
        if name in GROUPS:
            atom = Chem.Atom(0)
            atom.SetProp("atomLabel", name)
        else:
            atom = Chem.Atom(0 if name == "*" else Chem.GetPeriodicTable().GetAtomicNumber(name))
            atom.SetFormalCharge(int(charge))
        mol.AddAtom(atom)
    conformer = Chem.Conformer(len(graph.atoms))
    for n, (x, y) in enumerate(graph.points):
        conformer.SetAtomPosition(n, Point3D(float(x), -float(y), 0.0))  # molecule y points up, pixels down
    wedges = []
    for i, j, kind in graph.bonds:
        if i == j or mol.GetBondBetweenAtoms(int(i), int(j)) is not None:
            continue
        if kind.endswith("_back"):
            i, j, kind = j, i, kind[: -len("_back")]
        mol.AddBond(int(i), int(j), _ORDER.get(kind, Chem.BondType.SINGLE))
        if kind in _DIRECTION:
            wedges.append((int(i), int(j), kind))
    for i, j, kind in wedges:
        mol.GetBondBetweenAtoms(i, j).SetBondDir(_DIRECTION[kind])  # AddBond keeps the order: i begins
    mol.AddConformer(conformer, assignId=True)
    try:
        mol = mol.GetMol()
        _stereo_from_drawing(mol)  # on the drawn graph, where the positions are; expanding keeps the tags
        mol = expand(mol)
        Chem.SanitizeMol(mol)
        Chem.AssignStereochemistry(mol, cleanIt=True, force=True)
        mol = Chem.RemoveHs(mol)  # hydrogens drawn as atoms are implicit in the answer
    except (ValueError, RuntimeError, Chem.rdchem.MolSanitizeException) as err:
        raise GraphError(str(err).splitlines()[0] if str(err) else type(err).__name__) from None
    return mol


def _stereo_from_drawing(mol: Chem.Mol) -> None:
    """Tetrahedral stereo from the wedges and double-bond geometry from the 2-D positions."""
    Chem.SanitizeMol(mol)
    Chem.AssignChiralTypesFromBondDirs(mol)
    Chem.DetectBondStereochemistry(mol)
    # not cleaned here: two superatoms are both dummies, which would make a true stereocentre look symmetric
    Chem.AssignStereochemistry(mol, cleanIt=False, force=True)


def graph_smiles(graph: Graph) -> str:
    """Canonical isomeric SMILES of the molecule a graph shows (GraphError when none)."""
    return Chem.MolToSmiles(to_molecule(graph))
