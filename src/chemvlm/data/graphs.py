"""Drawings with their drawn graphs (chem.graph), for training a graph recogniser densely: every atom at its
position, every bond as drawn.

Two sources:
- `draw_graph`: the data engine's RDKit renderer in random styles, patent looks among them (thin 1-bit lines,
  superatom labels, wedges), with scan degradations that keep the geometry within a few pixels;
- `molfile_graph`: a real drawing with its reference MOL file (../shared/data/real/uspto). Such files hold the
  drawing's own coordinates up to scale, shift and a flipped y axis: the fit that puts most bonds on ink
  gives every atom's pixel position. Superatoms (SUP groups) become one node, at the atom their bond meets.
Graphs are in pixels of the picture as given; `placed` maps them into the square tile of the ink view.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from rdkit import Chem
from scipy import ndimage, signal

from chemvlm.chem.graph import Graph, GraphError, atom_class, graph_of, graph_smiles
from chemvlm.data.degrade import degrade
from chemvlm.data.render import Style, render, sample_style
from chemvlm.vision.ink import square_placement


def placed(graph: Graph, width: int, height: int, size: int) -> Graph:
    """The graph of a width x height picture in the size x size tile the ink view makes of it."""
    scale, dx, dy = square_placement(width, height, size)
    points = graph.points * scale + np.array([dx, dy], np.float32)
    return replace(graph, points=points.astype(np.float32))


def graph_look(rng: random.Random, size: int = 448) -> tuple[Style, bool]:
    """(drawing style, whether it has the patent look) of draw_graph's next picture for this generator state."""
    family = rng.choice(["rdkit", "rdkit-abbrev", "rdkit", "rdkit-abbrev", "rdkit-hand"])
    style = sample_style(rng, family, rng.randint(size * 3 // 4, size * 3 // 2))
    patent = rng.random() < 0.4
    if patent:
        style = replace(style, colour=False, line_width=rng.uniform(0.8, 1.6), font_scale=rng.uniform(0.7, 1.0))
    return replace(style, kekule=True), patent


def draw_graph(smiles: str, rng: random.Random, size: int = 448, degrade_strength: float = 0.5) -> tuple[Image.Image, Graph, str]:
    """(picture, its graph in picture pixels, SMILES of what is drawn) in a random style: a third plain,
    a third with superatom labels, the rest hand-drawn; a share patent-like (black, thin, 1-bit). The SMILES
    is the graph's own, so double bonds have the geometry they are drawn with, as a reader of the drawing
    (or RDKit reading a MOL file of it) gives them."""
    style, patent = graph_look(rng, size)
    drawn = render(smiles, style)
    mol = Chem.Mol(drawn.drawn)
    if style.stereo and mol.GetNumConformers():
        Chem.WedgeMolBonds(mol, mol.GetConformer())  # the wedges RDKit's drawer draws for this layout
    graph = graph_of(mol, drawn.points)
    image = drawn.image.convert("L")
    if patent:
        image = image.point(lambda v: 0 if v < rng.randint(150, 220) else 255)
    if degrade_strength:
        image, _ = degrade(image, rng, degrade_strength)
    try:
        label = graph_smiles(graph)
    except GraphError:
        label = drawn.label  # a drawing RDKit cannot rebuild from its graph still trains atoms and bonds
    return image, graph, label


_STEREO_FIELD = {1: Chem.BondDir.BEGINWEDGE, 6: Chem.BondDir.BEGINDASH, 4: Chem.BondDir.UNKNOWN}  # MOL V2000


def read_molfile(path: str | Path) -> Chem.Mol:
    """A reference MOL file as written (no sanitising: ChemDraw files carry odd valences and SUP groups)."""
    mol = Chem.MolFromMolFile(str(path), sanitize=False, removeHs=False, strictParsing=False)
    if mol is None:
        raise GraphError(f"{path}: not a MOL file RDKit can read")
    for bond in mol.GetBonds():  # unsanitised, RDKit keeps the file's bond stereo field only as a property
        stereo = bond.GetIntProp("_MolFileBondStereo") if bond.HasProp("_MolFileBondStereo") else 0
        if bond.GetBondType() == Chem.BondType.SINGLE and stereo in _STEREO_FIELD:
            bond.SetBondDir(_STEREO_FIELD[stereo])
    return mol


def contracted(mol: Chem.Mol) -> tuple[Chem.Mol, np.ndarray]:
    """(the molecule with every SUP group as one labelled dummy atom, its atoms' MOL-file x, y)."""
    conformer = mol.GetConformer()
    xy = np.array([[conformer.GetAtomPosition(i).x, conformer.GetAtomPosition(i).y] for i in range(mol.GetNumAtoms())],
                  np.float32).reshape(-1, 2)
    groups = [g for g in Chem.GetMolSubstanceGroups(mol) if g.HasProp("TYPE") and g.GetProp("TYPE") == "SUP"]
    edit = Chem.RWMol(mol)
    remove = []
    for group in groups:
        members = set(group.GetAtoms())
        crossing = list(group.GetBonds())
        anchors = [mol.GetBondWithIdx(b).GetBeginAtomIdx() if mol.GetBondWithIdx(b).GetBeginAtomIdx() in members
                   else mol.GetBondWithIdx(b).GetEndAtomIdx() for b in crossing]
        keep = anchors[0] if anchors else min(members)
        atom = Chem.Atom(0)
        atom.SetProp("atomLabel", _label(group))
        edit.ReplaceAtom(keep, atom)
        remove += [a for a in members if a != keep]
    Chem.ClearMolSubstanceGroups(edit)
    for index in sorted(set(remove), reverse=True):
        edit.RemoveAtom(index)
    kept = [i for i in range(mol.GetNumAtoms()) if i not in set(remove)]
    return edit.GetMol(), xy[kept]


def _label(group) -> str:
    """A SUP group's label; "?" (an unknown label) when there is none or it is not UTF-8 (old ChemDraw files)."""
    try:
        return group.GetProp("LABEL") if group.HasProp("LABEL") else "?"
    except UnicodeDecodeError:
        return "?"


def fit_to_ink(xy: np.ndarray, bonds: list[tuple[int, int]], image: Image.Image) -> tuple[np.ndarray, float]:
    """MOL-file coordinates -> pixels (y flipped, scaled, shifted), and the share of bond points on ink at the
    best fit. Every scale from 12 to 120 px a bond is tried on the ink shrunk 4 times; for each, the shift
    that puts most bond points on ink comes from one cross-correlation of their template with the ink (atom
    numbers, captions and other furniture around the drawing do not move it). The best is then refined at
    full size by a local search."""
    ink = np.asarray(image.convert("L")) < 128
    near = ndimage.binary_dilation(ink, iterations=2)
    flipped = xy * np.array([1, -1], np.float32)
    if not bonds or not ink.any():
        return flipped, 0.0
    ends = np.array(bonds)
    t = np.array([0.25, 0.5, 0.75], np.float32)[:, None, None]
    samples = (flipped[ends[:, 0]] * (1 - t) + flipped[ends[:, 1]] * t).reshape(-1, 2) - flipped.min(0)
    length = float(np.median(np.linalg.norm(flipped[ends[:, 0]] - flipped[ends[:, 1]], axis=1))) or 1.0
    h4, w4 = -(-ink.shape[0] // 4), -(-ink.shape[1] // 4)
    small = np.zeros((h4 * 4, w4 * 4), bool)
    small[: ink.shape[0], : ink.shape[1]] = near
    small = small.reshape(h4, 4, w4, 4).any(axis=(1, 3)).astype(np.float32)

    def coarse(scale: float) -> tuple[float, float, np.ndarray]:
        p = np.round(samples * scale / 4).astype(int)
        h, w = p[:, 1].max() + 1, p[:, 0].max() + 1
        if h > h4 + 2 or w > w4 + 2:
            return -1.0, scale, np.zeros(2)
        template = np.zeros((h, w), np.float32)
        np.add.at(template, (p[:, 1], p[:, 0]), 1.0)
        scores = signal.fftconvolve(np.pad(small, ((h, h), (w, w))), template[::-1, ::-1], mode="valid")
        row, col = np.unravel_index(int(np.argmax(scores)), scores.shape)
        return float(scores[row, col]) / len(p), scale, np.array([col - w, row - h], np.float32) * 4

    def on_ink(scale: float, shift: np.ndarray) -> float:
        p = np.round(samples * scale + shift).astype(int)
        inside = (p[:, 0] >= 0) & (p[:, 1] >= 0) & (p[:, 0] < ink.shape[1]) & (p[:, 1] < ink.shape[0])
        return float(near[p[inside, 1], p[inside, 0]].sum()) / len(p)

    tried = [coarse(scale) for scale in np.geomspace(12, 120, 40) / length]
    top = max(hits for hits, _, _ in tried)
    _, scale, shift = max((r for r in tried if r[0] >= top - 0.05), key=lambda r: r[1])  # the largest that fits
    best = (-1.0, scale, shift)
    for s in scale * np.linspace(0.9, 1.1, 11):
        for dx in range(-6, 7, 2):
            for dy in range(-6, 7, 2):
                hits = on_ink(s, shift + [dx, dy])
                if hits > best[0]:
                    best = (hits, s, shift + np.array([dx, dy], np.float32))
    hits, scale, shift = best
    return ((flipped - flipped.min(0)) * scale + shift).astype(np.float32), hits


def ink_explained(image: Image.Image, points: np.ndarray, bonds: list[tuple[int, int]]) -> float:
    """Share of the picture's ink near the fitted bonds and atoms (within ~a third of a bond of a bond's line,
    half a bond of an atom, where its label is): low when the fit found the molecule as a part of a larger
    drawing, which the bond-point test alone cannot tell."""
    ink = np.asarray(image.convert("L")) < 128
    lengths = [np.linalg.norm(points[i] - points[j]) for i, j in bonds]
    bond = float(np.median(lengths)) if lengths else 20.0
    canvas = Image.new("1", image.size, 0)
    pen = ImageDraw.Draw(canvas)
    for i, j in bonds:
        pen.line([tuple(points[i]), tuple(points[j])], fill=1, width=max(3, int(0.7 * bond)))
    for x, y in points:
        pen.ellipse([x - bond / 2, y - bond / 2, x + bond / 2, y + bond / 2], fill=1)
    return float((ink & np.asarray(canvas)).sum() / max(1, ink.sum()))


def molfile_graph(image: Image.Image, molfile: str | Path, min_fit: float = 0.9,
                  min_explained: float = 0.6) -> tuple[Graph, str | None]:
    """(the drawn graph of a real drawing in its pixels, SMILES of the graph or None when a superatom label
    is not one chem.graph can expand); GraphError when the file's coordinates do not fit the ink (share of
    bond points on ink below `min_fit`) or the graph makes no molecule. A fit must also explain
    `min_explained` of the ink (ink_explained; measured on 91 USPTO drawings: the right fit explains
    64-100 %, median 90 %)."""
    mol, xy = contracted(read_molfile(molfile))
    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    points, fit = fit_to_ink(xy, bonds, image)
    if fit < min_fit:
        raise GraphError(f"{molfile}: its coordinates do not fit the drawing ({fit:.0%} of bond points on ink)")
    explained = ink_explained(image, points, bonds)
    if explained < min_explained:
        raise GraphError(f"{molfile}: its coordinates do not fit the drawing (they explain {explained:.0%} of the ink)")
    graph = _drawn_graph(mol, points)
    return graph, (None if "other" in graph.atoms else graph_smiles(graph))


def fitted_graph(molfile: str | Path, points) -> Graph:
    """The drawn graph of a real drawing whose atom positions an earlier fit (molfile_graph) found: no fitting
    and no molecule built, for training pictures."""
    mol, _ = contracted(read_molfile(molfile))
    return _drawn_graph(mol, points)


def _drawn_graph(mol: Chem.Mol, points) -> Graph:
    mol.UpdatePropertyCache(strict=False)
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() == 0 and atom.HasProp("atomLabel"):
            atom.SetProp("atomLabel", atom_class(atom.GetProp("atomLabel")))
    return graph_of(mol, np.asarray(points, np.float32))
