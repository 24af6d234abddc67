"""The blocks of a synthetic page (`data.pages`): structures drawn at document scale, rows of them with
identifiers, reaction schemes, scope tables, ruled tables of numbers and prose. Each block lays out its
pictures first and draws only when it fits above `bottom`; it returns the new top and the structures placed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from chemvlm.data import page_text
from chemvlm.data.page_canvas import PAGE, Canvas, text_width, wrap
from chemvlm.data.render import indigo_molecule, label_mol, render, sample_style
from chemvlm.documents.layout import Box

MARGIN, TOP, BOTTOM = 150, 200, PAGE[1] - 170  # the body's left margin, top and bottom
WIDTH = PAGE[0] - 2 * MARGIN
FAMILIES = {"rdkit": 3, "rdkit-abbrev": 2, "indigo": 3}
PROSE, LEADING = 27, 38  # prose font size and line pitch, px


@dataclass
class Structure:
    bbox: Box  # tight around the drawn ink, atom labels included
    smiles: str  # what is drawn (data.render's label)
    label: str  # the compound identifier printed with it
    label_bbox: Box
    family: str
    context: str  # "scheme", "figure" or "table"



# ---- structures -------------------------------------------------------------------------------------------

def ink_crop(picture: Image.Image, threshold: int = 250) -> Image.Image:
    dark = np.asarray(picture.convert("L")) < threshold
    rows, cols = np.flatnonzero(dark.any(1)), np.flatnonzero(dark.any(0))
    if not len(rows):
        raise ValueError("blank drawing")
    return picture.crop((cols[0], rows[0], cols[-1] + 1, rows[-1] + 1))


def _bond_px(smiles: str, style) -> tuple[float, float, float]:
    """(median bond length, width, height) of the layout in units where the canvas is 1 px: RDKit families are
    measured on a 448-px drawing, Indigo's layout in its own coordinates."""
    if style.family == "indigo":
        molecule = indigo_molecule(label_mol(smiles, style), style)
        xyz = [a.xyz() for a in molecule.iterateAtoms()]
        lengths = [math.dist(b.source().xyz()[:2], b.destination().xyz()[:2]) for b in molecule.iterateBonds()]
        xs, ys = [p[0] for p in xyz], [p[1] for p in xyz]
        return float(np.median(lengths or [1.0])), max(xs) - min(xs), max(ys) - min(ys)
    drawn = render(smiles, replace(style, width=448, height=448))
    points = drawn.points
    lengths = [math.dist(points[b.GetBeginAtomIdx()], points[b.GetEndAtomIdx()]) for b in drawn.drawn.GetBonds()]
    return float(np.median(lengths or [60.0])), 448.0, 448.0


def draw_structure(smiles: str, rng: random.Random, bond: float, max_w: int, max_h: int):
    """(picture cropped to its ink, label, family) with bonds of about `bond` px, fitting max_w x max_h; or None."""
    family = rng.choices(list(FAMILIES), list(FAMILIES.values()))[0]
    style = sample_style(rng, family)
    style = replace(style, colour=rng.random() < 0.15, rotation=style.rotation if rng.random() < 0.15 else 0.0,
                    padding=0.02, line_width=rng.uniform(1.5, 2.8), font_scale=rng.uniform(0.9, 1.2))
    unit, span_w, span_h = _bond_px(smiles, style)
    for _ in range(3):
        if family == "indigo":
            scale = bond / unit
            size = (round(span_w * scale + 3 * bond), round(span_h * scale + 3 * bond))
        else:
            size = (round(span_w * bond / unit),) * 2
        drawn = render(smiles, replace(style, width=max(size[0], 40), height=max(size[1], 40)))
        picture = ink_crop(drawn.image)
        if picture.width <= max_w and picture.height <= max_h:
            return picture, drawn.label, family
        bond *= min(max_w / picture.width, max_h / picture.height) * 0.95
        if bond < 16:  # smaller is no longer how documents draw: the caller places it elsewhere or not at all
            break
    return None


# ---- blocks: each lays out its pictures first and draws only when it fits above `bottom` ------------------

LABEL, LABEL_GAP = 28, 12  # identifier font size (bold) and its gap to the structure


def _label(canvas: Canvas, text: str, box: Box, beside: bool) -> Box:
    if beside:
        top = round((box[1] + box[3]) / 2 - LABEL / 2)
        line = canvas.line(text.split(), box[2] + 2 * LABEL_GAP, top, "bold", LABEL, "label")
    else:
        line = canvas.centred(text, (box[0] + box[2]) / 2, box[3] + LABEL_GAP, "bold", LABEL, "label")
    return line.bbox


def _slot(picture: Image.Image, label: str, beside: bool) -> tuple[int, int]:
    """Width and height a structure takes with its identifier."""
    width = text_width(label, "bold", LABEL)
    if beside:
        return round(picture.width + 2 * LABEL_GAP + width), max(picture.height, LABEL + 8)
    return round(max(picture.width, width)), picture.height + LABEL_GAP + LABEL + 8


def _pictures(items, rng, bond, max_w, max_h):
    drawn = [(draw_structure(smiles, rng, bond, max_w, max_h), label) for smiles, label in items]
    return [(d[0], d[1], d[2], label) for d, label in drawn if d is not None]


def _place(canvas, picture, smiles, family, label, x, y, beside, context) -> Structure:
    box = canvas.paste(picture, x, y)
    return Structure(box, smiles, label, _label(canvas, label, box, beside), family, context)


def _caption(canvas, rng, kind, names, y) -> int:
    words = page_text.caption(rng, kind, rng.randint(1, 6), names)
    for line in wrap(words, WIDTH, "bold", 25):
        canvas.line(line, MARGIN, y, "bold", 25, "caption")
        y += 34
    return y + 10


def figure(canvas, rng, items, y, bottom, bond):
    """A row of structures, identifiers below (or beside) each, sometimes a caption below."""
    beside = rng.random() < 0.25
    cell = WIDTH // len(items)
    pictures = _pictures(items, rng, bond, cell - (200 if beside else 40), min(420, bottom - y - 110))
    if not pictures:
        return None
    slots = [_slot(p[0], p[3], beside) for p in pictures]
    height = max(h for _, h in slots)
    if y + height + 90 > bottom:
        return None
    cell = WIDTH // len(pictures)
    placed = []
    for k, ((picture, smiles, family, label), (w, h)) in enumerate(zip(pictures, slots)):
        x = MARGIN + k * cell + (cell - w) // 2 + (0 if beside else (w - picture.width) // 2)
        top = y + (height - h) // 2 + (max(0, (h - picture.height) // 2) if beside else 0)
        placed.append(_place(canvas, picture, smiles, family, label, x, top, beside, "figure"))
    y += height + 16
    if rng.random() < 0.6:
        y = _caption(canvas, rng, "Figure", [s.label for s in placed], y)
    return y + 20, placed


def scheme(canvas, rng, items, y, bottom, bond):
    """Caption, then structures joined by arrows with conditions above and a yield below each arrow."""
    conditions = [page_text.conditions(rng) for _ in items[1:]]
    arrows = [max(160, round(max(text_width(t, "sans", 22) for t in c)) + 40) for c in conditions]
    room = (WIDTH - sum(arrows)) // len(items)
    pictures = _pictures(items, rng, bond, room - 20, min(380, bottom - y - 140))
    if len(pictures) < 2:
        return None
    slots = [_slot(p[0], p[3], False) for p in pictures]
    height = max(max(h for _, h in slots), 160)
    if y + height + 60 > bottom:
        return None
    y = _caption(canvas, rng, "Scheme", [pictures[-1][3]], y)
    total = sum(w for w, _ in slots) + sum(arrows[: len(pictures) - 1])
    x, middle = MARGIN + (WIDTH - total) // 2, y + max(p[0].height for p in pictures) // 2 + 10
    placed = []
    for k, ((picture, smiles, family, label), (w, h)) in enumerate(zip(pictures, slots)):
        top = middle - picture.height // 2
        left = x + (w - picture.width) // 2
        placed.append(_place(canvas, picture, smiles, family, label, left, top, False, "scheme"))
        x += w
        if k < len(pictures) - 1:
            canvas.arrow(x + 15, x + arrows[k] - 15, middle)
            for n, text in enumerate(reversed(conditions[k])):
                canvas.centred(text, x + arrows[k] / 2, middle - 12 - 30 * (n + 1), "sans", 22, "conditions")
            canvas.centred(f"{rng.randint(40, 97)}%", x + arrows[k] / 2, middle + 12, "sans", 22, "conditions")
            x += arrows[k]
    return max(s.label_bbox[3] for s in placed) + 40, placed


def scope_table(canvas, rng, items, y, bottom, bond):
    """A ruled table of products, three to a row, each with its identifier and its yield below it."""
    per_row = 3
    pictures = _pictures(items, rng, bond, WIDTH // per_row - 60, 300)
    rows = [pictures[i : i + per_row] for i in range(0, len(pictures), per_row)]
    heights = [max(p[0].height for p in row) + LABEL_GAP + LABEL + 64 for row in rows]
    if not rows or y + 50 + sum(heights) + 40 > bottom:
        return None
    y = _caption(canvas, rng, "Table", [], y)
    canvas.rule(MARGIN, y, MARGIN + WIDTH, y, 3)
    y += 16
    placed = []
    cell = WIDTH // per_row
    for row, height in zip(rows, heights):
        for k, (picture, smiles, family, label) in enumerate(row):
            x = MARGIN + k * cell + (cell - picture.width) // 2
            structure = _place(canvas, picture, smiles, family, label, x, y, False, "table")
            placed.append(structure)
            # the identifier, then its yield and ee below it: numbers next to the label, as in scope tables
            canvas.centred(f"{rng.randint(20, 99)}% ({rng.randint(50, 99)}% ee)", (x + x + picture.width) / 2,
                           round(structure.label_bbox[3]) + 8, "serif", 24, "table")
        y += height
        canvas.rule(MARGIN, y - 8, MARGIN + WIDTH, y - 8, 3 if row is rows[-1] else 1)
        y += 8
    return y + 24, placed


def numeric_table(canvas, rng, y, bottom):
    head, body = page_text.numeric_table(rng, rng.randint(3, 7))
    if y + 50 + 38 * (len(body) + 1) + 60 > bottom:
        return None
    y = _caption(canvas, rng, "Table", [], y)
    cell = WIDTH // len(head)
    canvas.rule(MARGIN, y, MARGIN + WIDTH, y, 3)
    for n, row in enumerate([head] + body):
        for k, text in enumerate(row):
            canvas.centred(text, MARGIN + cell * k + cell / 2, y + 10, "bold" if n == 0 else "serif", 24, "table")
        y += 38
        if n == 0:
            canvas.rule(MARGIN, y + 2, MARGIN + WIDTH, y + 2, 1)
            y += 6
    canvas.rule(MARGIN, y + 6, MARGIN + WIDTH, y + 6, 3)
    return y + 40, []


def prose(canvas, rng, ids, names, sentences, y, bottom):
    lines = wrap(page_text.paragraph(rng, names, ids, sentences), WIDTH - 40, "serif", PROSE)
    for n, words in enumerate(lines):
        if y + LEADING > bottom:
            break
        indent = 40 if n == 0 else 0
        last = n == len(lines) - 1
        canvas.line(words, MARGIN + indent, y, "serif", PROSE, "prose", None if last else WIDTH - indent)
        y += LEADING
    return y + 18, []
