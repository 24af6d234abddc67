"""Draw a molecule with RDKit: the one drawing function the API, re-ranking and the data engine share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rdkit import Chem
from rdkit.Chem import rdDepictor
from rdkit.Chem.Draw import rdMolDraw2D

from chemvlm.chem.smiles import parse_smiles

DrawOptions = Callable[[rdMolDraw2D.MolDrawOptions], None]


def draw_molecule(
    smiles: str | Chem.Mol,
    size: tuple[int, int] = (448, 448),
    fmt: str = "png",
    style: DrawOptions | None = None,
    kekulize: bool = True,
) -> bytes:
    return draw_molecule_with_coordinates(smiles, size, fmt, style, kekulize).data


@dataclass(frozen=True)
class Drawing:
    data: bytes  # PNG bytes, or SVG text encoded as UTF-8
    points: list[tuple[float, float]]  # where each atom landed in the picture, in pixels
    mol: Chem.Mol  # the molecule as drawn: with kekulize, the double bonds exactly as drawn


def draw_molecule_with_coordinates(
    smiles: str | Chem.Mol,
    size: tuple[int, int] = (448, 448),
    fmt: str = "png",
    style: DrawOptions | None = None,
    kekulize: bool = True,
) -> Drawing:
    """The drawing of `smiles` with its atoms' positions; `style` may change the draw options.

    `smiles` may also be an RDKit molecule (e.g. one with abbreviation superatoms or explicit hydrogens);
    `kekulize=False` draws aromatic bonds dashed instead of as alternating single and double bonds.
    """
    mol = Chem.Mol(smiles) if isinstance(smiles, Chem.Mol) else parse_smiles(smiles)
    if mol is None:
        raise ValueError(f"invalid SMILES, cannot draw: {smiles!r}")
    rdDepictor.SetPreferCoordGen(True)
    rdDepictor.Compute2DCoords(mol)
    if kekulize:  # after the layout, which RDKit computes on the aromatic form, as its drawer would
        Chem.Kekulize(mol, clearAromaticFlags=False)
    width, height = size
    if fmt == "png":
        drawer = rdMolDraw2D.MolDraw2DCairo(width, height)
    elif fmt == "svg":
        drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    else:
        raise ValueError(f"unknown drawing format {fmt!r}: use 'png' or 'svg'")
    if style is not None:
        style(drawer.drawOptions())
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol, kekulize=False)
    drawer.FinishDrawing()
    data = drawer.GetDrawingText()
    points = [(p.x, p.y) for p in map(drawer.GetDrawCoords, range(mol.GetNumAtoms()))]
    return Drawing(data.encode() if isinstance(data, str) else data, points, mol)
