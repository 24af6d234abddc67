"""Dense labels of a drawing, for training a recogniser from scratch: the SMILES that traces the drawing and
a class for every vision patch.

Two choices make a model trained from scratch learn faster (measured in docs/mini.md):
- the target SMILES traces the drawing: Kekulé form with the double bonds exactly as drawn, atoms numbered
  left to right so the string starts at the leftmost atom and branches visit the nearer-left atom first;
- every vision patch gets a label (empty, single/double/triple bond, or the element drawn there) from the
  atom coordinates the renderer reports, for a dense auxiliary loss on the vision tower.
Pictures come from `data.render` (the data engine's renderer) and are placed in the tile as the ink view
places them (`vision.ink.square_placement`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image
from rdkit import Chem

from chemvlm.data.degrade import degrade
from chemvlm.data.render import Style, render, sample_style
from chemvlm.vision.ink import square_placement

EMPTY, SINGLE, DOUBLE, TRIPLE = 0, 1, 2, 3
ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P")
PATCH_CLASSES = ("empty", "single", "double", "triple", *ELEMENTS, "other")
_ELEMENT_CLASS = {symbol: 4 + i for i, symbol in enumerate(ELEMENTS)}
_OTHER = len(PATCH_CLASSES) - 1


@dataclass
class TracedDrawing:
    image: Image.Image  # the drawing as rendered (and degraded)
    target: str  # SMILES that traces the drawing
    patches: np.ndarray  # (grid * grid,) int64 patch classes of the ink-view tile, row-major


def traced_smiles(mol: Chem.Mol, xy: np.ndarray) -> str:
    """Kekulé SMILES of `mol` (bonds as drawn) rooted at the leftmost atom, atoms in x order."""
    mol = Chem.Mol(mol)
    for item in (*mol.GetAtoms(), *mol.GetBonds()):
        item.SetIsAromatic(False)  # the drawn single/double bonds, not aromatic ones, are written
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


def draw_traced(smiles: str, rng: random.Random, tile: int = 224, patch: int = 14, plain: bool = False,
                hand: float = 0.0, degrade_strength: float = 0.0) -> TracedDrawing:
    """Draw `smiles` in a random RDKit style (`plain`: one clean style, for hold-out sets). A share `hand` of
    the drawings take the hand-drawn look (comic font, strokes bent by 1-2.5 px), and `degrade_strength` > 0
    passes them through the scan degradations (data.degrade); both keep the drawn geometry within a few
    pixels, so the patch labels still hold. Every atom is drawn as itself, in Kekulé form, with stereo."""
    size = tile if plain else rng.randint(tile, tile * 3 // 2)
    family = "rdkit-hand" if not plain and hand and rng.random() < hand else "rdkit"
    style = sample_style(rng, family, size)
    if plain:
        style = Style(family="rdkit", width=size, height=size, line_width=1.5, rotation=0.0, padding=0.05)
    # no CH3 labels, added hydrogens or dropped wedges: the target names every drawn atom and nothing else
    style = replace(style, methyl_labels=False, explicit_h=False, stereo=True, kekule=True, abbreviate=False)
    drawn = render(smiles, style)
    image = drawn.image
    if not plain and degrade_strength:
        image, _ = degrade(image, rng, degrade_strength)
    scale, dx, dy = square_placement(style.width, style.height, tile)
    xy = np.array([[x * scale + dx, y * scale + dy] for x, y in drawn.points], np.float32)
    return TracedDrawing(image, traced_smiles(drawn.drawn, xy), patch_labels(drawn.drawn, xy, tile // patch, patch))
