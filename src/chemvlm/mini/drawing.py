"""Training pictures for the mini model: a drawing, the SMILES of what is drawn, and per-patch labels.

Two choices make a model trained from scratch learn faster (measured in docs/mini.md):
- the target SMILES traces the drawing: Kekulé form with the double bonds exactly as drawn, atoms numbered
  left to right so the string starts at the leftmost atom and branches visit the nearer-left atom first;
- every vision patch gets a label (empty, single/double/triple bond, or the element drawn there) from the
  atom coordinates RDKit reports after drawing, for a dense auxiliary loss on the vision tower.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image
from rdkit import Chem

from chemvlm.chem.draw import draw_molecule_with_coordinates
from chemvlm.chem.smiles import parse_smiles
from chemvlm.data.degrade import degrade
from chemvlm.data.render import hand_wobble, rdkit_options, sample_style
from chemvlm.vision import ink_tile, square_placement

EMPTY, SINGLE, DOUBLE, TRIPLE = 0, 1, 2, 3
ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P")
PATCH_CLASSES = ("empty", "single", "double", "triple", *ELEMENTS, "other")
_ELEMENT_CLASS = {symbol: 4 + i for i, symbol in enumerate(ELEMENTS)}
_OTHER = len(PATCH_CLASSES) - 1


@dataclass
class Drawing:
    image: Image.Image  # the drawing as rendered
    tile: Image.Image  # the ink-view tile the model sees (before inversion)
    target: str  # SMILES that traces the drawing
    patches: np.ndarray  # (grid * grid,) int64 patch classes, row-major


def traced_smiles(mol: Chem.Mol, xy: np.ndarray) -> str:
    """Kekulé SMILES of `mol` (already kekulized, as drawn) rooted at the leftmost atom, atoms in x order."""
    order = sorted(range(mol.GetNumAtoms()), key=lambda i: (round(float(xy[i, 0]), 1), float(xy[i, 1])))
    return Chem.MolToSmiles(Chem.RenumberAtoms(mol, order), canonical=False, kekuleSmiles=True)


def patch_labels(mol: Chem.Mol, xy: np.ndarray, grid: int, patch: int) -> np.ndarray:
    """Class of each patch: the nearest atom within 0.75 patch of its centre, else a bond within 0.6 patch."""
    centres = (np.arange(grid) + 0.5) * patch
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    points = np.stack([cx.ravel(), cy.ravel()], 1)
    labels = np.zeros(grid * grid, np.int64)
    for bond in mol.GetBonds():
        a, b = xy[bond.GetBeginAtomIdx()], xy[bond.GetEndAtomIdx()]
        v = b - a
        t = np.clip(((points - a) @ v) / max(float(v @ v), 1e-6), 0, 1)
        near = np.linalg.norm(points - (a + t[:, None] * v), axis=1) < 0.6 * patch
        order = bond.GetBondTypeAsDouble()
        labels[near] = np.maximum(labels[near], TRIPLE if order == 3 else DOUBLE if order == 2 else SINGLE)
    if mol.GetNumAtoms():
        dist = np.linalg.norm(points[:, None, :] - xy[None], axis=2)
        nearest, ok = dist.argmin(1), dist.min(1) < max(0.75 * patch, 8)
        classes = np.array([_ELEMENT_CLASS.get(a.GetSymbol(), _OTHER) for a in mol.GetAtoms()])
        labels[ok] = classes[nearest[ok]]
    return labels


def draw_training_sample(smiles: str, rng: random.Random, tile: int = 224, patch: int = 14, thicken: int = 3,
                         plain: bool = False, hand: float = 0.0, degrade_strength: float = 0.0) -> Drawing:
    """Draw `smiles` in a random RDKit style (`plain`: one clean style, for hold-out sets). A share `hand` of
    the drawings take the data engine's hand-drawn look (comic font, strokes bent by 1-2.5 px), and
    `degrade_strength` > 0 passes them through its scan degradations (data.degrade); both keep the drawn
    geometry within a few pixels, so the patch labels still hold."""
    mol = parse_smiles(smiles)
    if mol is None:
        raise ValueError(f"invalid SMILES, cannot draw: {smiles!r}")
    mol = Chem.Mol(mol)
    Chem.Kekulize(mol, clearAromaticFlags=True)  # the drawing and the target share these double bonds
    size = tile if plain else rng.randint(tile, tile * 3 // 2)
    family = "rdkit-hand" if not plain and hand and rng.random() < hand else "rdkit"
    style = sample_style(rng, family, size)
    if plain:
        style = type(style)(family="rdkit", width=size, height=size, line_width=1.5, rotation=0.0, padding=0.05)

    def options(o):
        rdkit_options(o, style)
        o.explicitMethyl = False  # terminal CH3 labels would move the atoms' label boxes

    png, points = draw_molecule_with_coordinates(mol, (style.width, style.height), style=options, kekulize=False)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    if style.wobble:
        image = hand_wobble(image, style)
    if not plain and degrade_strength:
        image, _ = degrade(image, rng, degrade_strength)
    scale, dx, dy = square_placement(style.width, style.height, tile)
    xy = np.array([[x * scale + dx, y * scale + dy] for x, y in points], np.float32)
    return Drawing(image, ink_tile(image, tile, thicken), traced_smiles(mol, xy), patch_labels(mol, xy, tile // patch, patch))
