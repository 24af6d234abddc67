"""Seeded drawing styles and the two renderers (RDKit via `chem.draw`, and EPAM Indigo).

A `Style` is a plain record sampled from a seed, so a lazy row (molecule, task, style seed) always gives the
same picture. `render` returns the image together with its label: the SMILES of exactly what is drawn —
stereo only when the style draws it, abbreviations expanded.
"""

from __future__ import annotations

import ctypes
import io
import math
import random
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from rdkit import Chem, RDConfig

from chemvlm.chem.abbreviations import GROUPS, condense, used_labels
from chemvlm.chem.draw import draw_molecule_with_coordinates
from chemvlm.chem.smiles import parse_smiles

FAMILIES = ("rdkit", "rdkit-abbrev", "rdkit-hand", "indigo")
# Plain methyls stay bonds: "Me" on every chain end is not how chemists draw.
_ABBREVIATED = [label for label in GROUPS if label != "Me"]
_FONTS = [None, None, "Telex-Regular.ttf"]  # None: RDKit's built-in Roboto (Amadeus is too ornate to read)


@dataclass(frozen=True)
class Style:
    family: str  # one of FAMILIES; reports and the osra check group by it
    width: int = 448
    height: int = 448
    line_width: float = 2.0  # bond width in pixels at 448 px
    font: str | None = None  # a font file shipped with RDKit (Data/Fonts), None for the default
    font_scale: float = 1.0
    colour: bool = True  # heteroatoms coloured, or all black (most patents and scans)
    kekule: bool = True  # alternating double bonds; False: dashed (RDKit) or circles (Indigo)
    explicit_h: bool = False  # every hydrogen drawn as an atom
    methyl_labels: bool = False  # terminal carbons written as CH3
    rotation: float = 0.0  # degrees
    padding: float = 0.05  # share of the image left blank around the structure
    stereo: bool = True  # wedges/hashes drawn (and then in the label)
    abbreviate: bool = False  # superatom labels (Ph, OMe, CO2Et, …)
    wobble: float = 0.0  # amplitude (px) of the hand-drawn wave; 0 for machine drawings
    wobble_seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def sample_style(rng: random.Random, family: str, size: int = 448, aspect: tuple[float, float] = (0.8, 1.25)) -> Style:
    """A random style of `family`; the longer side is `size` pixels."""
    if family not in FAMILIES:
        raise ValueError(f"unknown style family {family!r}: use one of {', '.join(FAMILIES)}")
    ratio = rng.uniform(*aspect)
    width, height = (size, round(size / ratio)) if ratio >= 1 else (round(size * ratio), size)
    hand = family == "rdkit-hand"
    return Style(
        family=family,
        width=width,
        height=height,
        line_width=rng.uniform(1.0, 3.5) if not hand else rng.uniform(2.0, 3.5),
        font="ComicNeue-Regular.ttf" if hand else rng.choice(_FONTS),
        font_scale=rng.uniform(0.8, 1.3),
        colour=rng.random() < 0.4,
        # RDKit's non-Kekulé picture (dashed aromatic bonds) is rare in documents and osra reads 1 in 20 of them
        # (benchmarks/results/osra_agreement.md); Indigo's non-Kekulé picture is the common circle
        kekule=rng.random() < (0.7 if family == "indigo" else 0.97),
        explicit_h=rng.random() < 0.05,
        methyl_labels=rng.random() < 0.1,
        rotation=rng.choice([0.0, 0.0, rng.uniform(0, 360)]),
        padding=rng.uniform(0.03, 0.15),
        stereo=rng.random() < 0.9,
        abbreviate=family == "rdkit-abbrev",
        wobble=rng.uniform(1.0, 2.5) if hand else 0.0,
        wobble_seed=rng.getrandbits(31),
    )


@dataclass(frozen=True)
class Rendered:
    image: Image.Image
    label: str  # canonical SMILES of what is drawn (expanded, stereo only when drawn)
    abbreviations: tuple[str, ...] = ()
    # RDKit families: the molecule as drawn (Kekulé bonds as drawn, superatoms, added hydrogens) and where
    # each of its atoms landed in the picture, in pixels; None for Indigo
    drawn: Chem.Mol | None = None
    points: tuple[tuple[float, float], ...] | None = None


def label_mol(smiles: str, style: Style) -> Chem.Mol:
    mol = parse_smiles(smiles)
    if mol is None:
        raise ValueError(f"invalid SMILES, cannot render: {smiles!r}")
    if not style.stereo:
        Chem.RemoveStereochemistry(mol)
    return mol


def render(smiles: str, style: Style) -> Rendered:
    """`smiles` drawn in `style`, with its label (and, for RDKit families, the drawn atoms' positions)."""
    mol = label_mol(smiles, style)
    label = Chem.MolToSmiles(mol)
    if style.family == "indigo":
        return Rendered(_indigo(mol, style), label)
    drawn, labels = mol, ()
    if style.abbreviate:
        drawn = condense(mol, labels=_ABBREVIATED, max_coverage=0.5)
        labels = tuple(used_labels(drawn))
    if style.explicit_h and not labels:
        drawn = Chem.AddHs(drawn)
    drawing = draw_molecule_with_coordinates(drawn, (style.width, style.height),
                                             style=lambda o: rdkit_options(o, style), kekulize=style.kekule)
    image = Image.open(io.BytesIO(drawing.data)).convert("RGB")
    return Rendered(hand_wobble(image, style) if style.wobble else image, label, labels, drawing.mol, tuple(drawing.points))


def hand_wobble(image: Image.Image, style: Style) -> Image.Image:
    """Hand-drawn look: smooth seeded waves bend every stroke a pixel or two (RDKit's own comic mode
    is not seedable, so it would break determinism)."""
    rng = np.random.default_rng(style.wobble_seed)
    w, h = image.size
    period, phase = rng.uniform(40, 90, 2), rng.uniform(0, 2 * np.pi, 2)
    # rows move with x and columns with y: two 1-D offset tables, one flat gather (no float grids)
    dy = np.rint(style.wobble * np.sin(2 * np.pi * np.arange(w) / period[0] + phase[0])).astype(np.int32)
    dx = np.rint(style.wobble * np.sin(2 * np.pi * np.arange(h) / period[1] + phase[1])).astype(np.int32)
    index = np.arange(h, dtype=np.int32)[:, None] + dy
    np.clip(index, 0, h - 1, out=index)
    index *= w
    xs = np.arange(w, dtype=np.int32) + dx[:, None]
    np.clip(xs, 0, w - 1, out=xs)
    index += xs
    if image.mode == "RGB":  # gather whole pixels as 32-bit words: ~2x faster than rows of 3 bytes
        pixels = np.asarray(image.convert("RGBX")).view(np.uint32).reshape(-1)
        return Image.fromarray(pixels.take(index).view(np.uint8).reshape(h, w, 4), "RGBX").convert("RGB")
    return Image.fromarray(np.asarray(image).reshape(-1).take(index))


def rdkit_options(options, style: Style) -> None:
    # no SMILES/molblock/pickle chunks in the PNG: ~2.5 ms of each 448-px drawing, and we decode the pixels only
    options.includeMetadata = False
    options.bondLineWidth = style.line_width
    options.scaleBondWidth = False
    if style.font:
        options.fontFile = str(Path(RDConfig.RDDataDir) / "Fonts" / style.font)
    options.baseFontSize = 0.6 * style.font_scale
    options.minFontSize = 10
    options.rotate = style.rotation
    options.padding = style.padding
    options.explicitMethyl = style.methyl_labels
    if not style.colour:
        options.useBWAtomPalette()


@lru_cache(maxsize=1)
def _indigo_session():
    """One Indigo instance per process (Indigo objects cannot cross processes)."""
    from indigo import Indigo
    from indigo.renderer import IndigoRenderer

    indigo = Indigo()
    renderer = IndigoRenderer(indigo)  # registers the render-* options
    indigo.setOption("render-output-format", "png")
    indigo.setOption("render-background-color", "1,1,1")
    indigo.setOption("render-stereo-style", "old")  # wedges without "abs"/"or" labels
    indigo.setOption("ignore-stereochemistry-errors", True)
    return indigo, renderer


def indigo_molecule(mol: Chem.Mol, style: Style):
    """The Indigo molecule that `render` draws, laid out. Loaded from a molfile without the chiral flag:
    from SMILES, Indigo writes "Chiral" next to every drawing with a stereocentre."""
    indigo, _ = _indigo_session()
    molecule = indigo.loadMolecule(Chem.MolToMolBlock(mol))
    if style.kekule:
        molecule.dearomatize()
    else:
        molecule.aromatize()  # Indigo draws aromatic rings with circles
    if style.explicit_h:
        molecule.unfoldHydrogens()
    molecule.layout()
    if style.rotation:  # rotate the coordinates, not the picture: a rotated picture loses its corners
        angle = math.radians(style.rotation)
        cos, sin = math.cos(angle), math.sin(angle)
        for atom in molecule.iterateAtoms():
            x, y, z = atom.xyz()
            atom.setXYZ(x * cos - y * sin, x * sin + y * cos, z)
    return molecule


def _indigo(mol: Chem.Mol, style: Style) -> Image.Image:
    indigo, renderer = _indigo_session()
    molecule = indigo_molecule(mol, style)
    indigo.setOption("render-bond-length", 100.0)  # larger than fits: Indigo then scales to the image
    indigo.setOption("render-image-width", style.width)
    indigo.setOption("render-image-height", style.height)
    margin = int(style.padding * min(style.width, style.height))
    indigo.setOption("render-margins", f"{margin},{margin}")
    indigo.setOption("render-relative-thickness", max(0.8, style.line_width / 2.0))
    indigo.setOption("render-coloring", style.colour)
    indigo.setOption("render-label-mode", "terminal-hetero" if style.methyl_labels else "hetero")
    indigo.setOption("render-implicit-hydrogens-visible", True)
    return Image.open(io.BytesIO(_indigo_png(indigo, renderer, molecule))).convert("RGB")


def _indigo_png(indigo, renderer, molecule) -> bytes:
    """PNG bytes of `molecule`. Indigo's own `renderToBuffer` copies the buffer out one byte at a time in
    Python (~5 ms for a 448-px PNG); this reads it with one memcpy."""
    from indigo.indigo.indigo_lib import IndigoLib

    try:
        lib = renderer._lib()
    except AttributeError:  # another binding layout: take the slow, public way
        return bytes(renderer.renderToBuffer(molecule))
    buffer = indigo.writeBuffer()
    IndigoLib.checkResult(lib.indigoRender(molecule.id, buffer.id))
    size, data = ctypes.c_int(), ctypes.POINTER(ctypes.c_ubyte)()
    IndigoLib.checkResult(buffer._lib().indigoToBuffer(buffer.id, ctypes.byref(data), ctypes.byref(size)))
    return ctypes.string_at(data, size.value)
