"""Synthetic document pages with exact ground truth, for training and measuring page segmentation.

`compose_page(seed, molecules, scanned)` lays out a US-Letter page at 200 dpi (1700 x 2200 px): header and
page number, paragraphs of chemistry-like prose, reaction schemes (structures, arrows, conditions above
them), rows of structures with captions, scope tables with structures in their cells and ruled tables of
numbers. Structures are drawn by the data engine's renderer (`data.render`) with bonds of about 20-30 px, as in
papers and patents, and each gets its compound identifier below or beside it. The ground truth gives, per
structure, its box tight around the ink (atom labels included), the SMILES of what is drawn, the identifier
and the identifier's box; and every text line with its words' boxes.

A born-digital page (`scanned=False`) is also written as a PDF with a real text layer (`data.page_canvas`);
a scanned one goes through a slight rotation (its boxes rotated with it) and gentle scan degradations.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from chemvlm.data import page_text
from chemvlm.data.decontam import Decontaminator, read_keys
from chemvlm.data.degrade import _gaussian, binarise, ink, noise
from chemvlm.data.filters import MoleculeFilter
from chemvlm.data.page_blocks import (BOTTOM, LEADING, MARGIN, TOP, WIDTH, Structure, figure, numeric_table, prose,
                                      scheme, scope_table)
from chemvlm.data.page_canvas import DPI, PAGE, Canvas, TextLine, text_width, write_pdf
from chemvlm.data.split import skeleton_key, split_of
from chemvlm.documents.layout import Box, Word



def _blur(image, rng):  # gentler than data.degrade's (sigma 0.4-1.3): bonds here are 20-30 px, not 60
    return Image.fromarray(_gaussian(np.asarray(image), rng.uniform(0.3, 0.7)))


def _jpeg(image, rng):  # a scanner's JPEG, not data.degrade's quality 15-75
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=rng.randint(60, 90))
    return Image.open(io.BytesIO(buffer.getvalue())).convert(image.mode)


# (step, probability), in the order applied; none of them moves a pixel, so the boxes stay exact
SCAN_STEPS = {"ink": (ink, 0.3), "blur": (_blur, 0.6), "binarise": (binarise, 0.4), "noise": (noise, 0.5),
              "jpeg": (_jpeg, 0.4)}


@dataclass
class SyntheticPage:
    seed: int
    scanned: bool
    image: Image.Image
    structures: list[Structure]
    lines: list[TextLine]
    ops: list  # drawing operations, replayed into the PDF
    degradations: tuple[str, ...] = ()  # the scan steps applied, in order

    @property
    def words(self) -> list[Word]:
        return [w for line in self.lines for w in line.words]

    def truth(self) -> dict:
        return {"seed": self.seed, "scanned": self.scanned, "size": list(self.image.size), "dpi": DPI,
                "degradations": list(self.degradations),
                "structures": [{**s.__dict__, "bbox": list(s.bbox), "label_bbox": list(s.label_bbox)}
                               for s in self.structures],
                "lines": [{"kind": line.kind, "text": line.text, "bbox": list(line.bbox)} for line in self.lines]}

    def write(self, directory: str | Path, stem: str) -> dict[str, Path]:
        """STEM.png, STEM.json (the ground truth) and, for a born-digital page, STEM.pdf."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {"png": directory / f"{stem}.png", "json": directory / f"{stem}.json"}
        self.image.save(paths["png"], compress_level=3)
        paths["json"].write_text(json.dumps(self.truth(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        if not self.scanned:
            paths["pdf"] = directory / f"{stem}.pdf"
            write_pdf(self.image.size, self.ops, paths["pdf"])
        return paths


# ---- the page ----------------------------------------------------------------------------------------------

BLOCKS = {"scheme": (scheme, 2, 3, 3), "figure": (figure, 1, 4, 3), "table": (scope_table, 3, 6, 2)}


def compose_page(seed: int, molecules: list[str], scanned: bool, bond: tuple[float, float] = (20, 30),
                 number: int | None = None) -> SyntheticPage:
    """A page holding the structures of `molecules` (those that fit: usually all of up to ~10), seeded.
    `bond` is the range of bond lengths in px; `number` the printed page number."""
    rng = random.Random(seed)
    kind = rng.choice(["paper", "patent"])
    ids = page_text.Identifiers(rng, kind)
    canvas = Canvas()
    left, right = page_text.header(rng, kind, number or rng.randint(2, 40))
    canvas.line(left.split(), MARGIN, 80, "sans", 22, "header")
    canvas.line(right.split(), round(MARGIN + WIDTH - text_width(right, "sans", 22)), 80, "sans", 22, "header")
    canvas.rule(MARGIN, 122, MARGIN + WIDTH, 122, 1)
    canvas.centred(str(number or rng.randint(2, 40)), PAGE[0] / 2, PAGE[1] - 110, "sans", 22, "footer")

    plan, queue = [], list(molecules)
    while queue:
        name = rng.choices(list(BLOCKS), [b[3] for b in BLOCKS.values()])[0]
        size = rng.randint(*BLOCKS[name][1:3])
        plan.append((name, [(s, ids.next()) for s in queue[:size]]))
        queue = queue[size:]
    names = [label for _, items in plan for _, label in items]
    if rng.random() < 0.35:
        plan.insert(rng.randint(0, len(plan)), ("numbers", [("", "")]))
    bond_px = rng.uniform(*bond)
    pending = []  # structures a block had no room for
    y, structures = prose(canvas, rng, ids, names, rng.randint(2, 4), TOP, BOTTOM)[0], []
    pending = []  # structures a block had no room for: they go into rows of their own at the end
    for name, items in plan:
        if name == "numbers":
            done = numeric_table(canvas, rng, y, BOTTOM)
        else:
            done = BLOCKS[name][0](canvas, rng, items, y, BOTTOM, bond_px)
        y, placed = done or (y, [])
        structures += placed
        pending += [item for item in items if name != "numbers" and item[1] not in {s.label for s in placed}]
        if rng.random() < 0.5 and y + 3 * LEADING < BOTTOM:
            y = prose(canvas, rng, ids, names, rng.randint(1, 3), y, BOTTOM)[0]
    while pending:  # what a block had no room for, in rows of its own, while the page has room
        done = figure(canvas, rng, pending[:3], y, BOTTOM, bond_px)
        pending = pending[3:]
        if not done:
            break
        y, placed = done
        structures += placed
    if y + 3 * LEADING < BOTTOM:
        prose(canvas, rng, ids, names, 12, y, BOTTOM)
    page = SyntheticPage(seed, False, canvas.image, structures, canvas.lines, canvas.ops)
    return scan(page, rng) if scanned else page


def _rotation(angle: float, size: tuple[int, int]):
    """The map of boxes under PIL's `rotate(angle)` about the centre: the box around the rotated corners."""
    cx, cy = size[0] / 2, size[1] / 2
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def move(box: Box) -> Box:
        corners = [(x, y) for x in (box[0], box[2]) for y in (box[1], box[3])]
        xs = [cx + (x - cx) * cos + (y - cy) * sin for x, y in corners]
        ys = [cy - (x - cx) * sin + (y - cy) * cos for x, y in corners]
        return (math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)), math.ceil(max(ys)))

    return move


def scan(page: SyntheticPage, rng: random.Random) -> SyntheticPage:
    """The page as a gentle greyscale scan: rotated by under a degree (boxes rotated too), then some of ink
    fading or thickening, blur, binarisation, noise and JPEG, none of which moves a pixel."""
    angle = rng.uniform(-0.8, 0.8)
    image = page.image.convert("L").rotate(angle, resample=Image.BICUBIC, fillcolor=255)
    move = _rotation(angle, image.size)
    steps = tuple(name for name, (_, p) in SCAN_STEPS.items() if rng.random() < p)
    for name in steps:
        image = SCAN_STEPS[name][0](image, rng)
    structures = [replace(s, bbox=move(s.bbox), label_bbox=move(s.label_bbox)) for s in page.structures]
    lines = [TextLine(line.kind, [Word(w.text, move(w.bbox)) for w in line.words]) for line in page.lines]
    return SyntheticPage(page.seed, True, image.convert("RGB"), structures, lines, [], steps)


def holdout_molecules(max_heavy: int = 40, share: float = 0.02) -> list[str]:
    """The package corpus's molecules in the data engine's hold-out split (InChIKey skeleton, the share the
    bundled model was trained with), decontaminated, one fragment of 6..max_heavy heavy atoms, in file order."""
    keep, clean = MoleculeFilter(min_heavy=6, max_heavy=max_heavy, max_fragments=1), Decontaminator(read_keys())
    seen = set()
    found = []
    with resources.files("chemvlm.data.corpus").joinpath("molecules.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            smiles, _ = keep.apply(row["smiles"])
            if smiles and smiles not in seen and clean.is_clean(smiles) \
                    and split_of(skeleton_key(smiles), share) == "holdout":
                seen.add(smiles)
                found.append(smiles)
    return found
