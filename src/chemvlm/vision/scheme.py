"""Reaction schemes in one picture: find the arrow, drop the plus signs, cut out each molecule.

Engines that read one structure per picture (osra, chemvlm-mini) read a scheme molecule by molecule
(`chemvlm.engines.schemes`). Schemes are read left to right, as RDKit and most documents lay them out:
molecules left of the arrow are reactants, right of it products; drawings above or below the arrow
(reagents, conditions) are counted but not read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage


@dataclass
class Scheme:
    reactants: list[Image.Image]
    products: list[Image.Image]
    agents: int  # separate drawings above or below the arrow


def _is_arrow(mask: np.ndarray, image_width: int) -> bool:
    """A long horizontal shaft of even thickness ending in a clearly thicker head (a plain bond is not, nor
    a wedge, whose thickness grows steadily)."""
    height, width = mask.shape
    if width < 3 * height or width < 0.03 * image_width or width < 24:
        return False
    thickness = mask.sum(axis=0)
    shaft = slice(width // 10, width * 6 // 10)
    tops = mask[:, shaft].argmax(axis=0)  # a straight shaft, not a zigzag chain of bonds
    head = thickness[width * 8 // 10 :]
    middle = max(1.0, float(np.median(thickness[shaft])))
    return (np.ptp(thickness[shaft]) <= 2 and np.ptp(tops) <= 2
            and head.max() >= max(1.5 * middle, middle + 3) and thickness[-1] < head.max())


def _is_plus(mask: np.ndarray) -> bool:
    """A cross: the middle row and column inked end to end, the four corners blank."""
    height, width = mask.shape
    if not (0.6 <= width / height <= 1.6) or min(height, width) < 5:
        return False
    middle_row = mask[height // 2 - 1 : height // 2 + 2].any(axis=0).mean()
    middle_column = mask[:, width // 2 - 1 : width // 2 + 2].any(axis=1).mean()
    corners = [mask[: height // 3, : width // 3], mask[: height // 3, -(width // 3) :],
               mask[-(height // 3) :, : width // 3], mask[-(height // 3) :, -(width // 3) :]]
    return middle_row > 0.85 and middle_column > 0.85 and all(c.mean() < 0.05 for c in corners)


def _runs(columns: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], columns.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def _on_canvas(crop: Image.Image, min_side: int) -> Image.Image:
    """The crop centred on a white square with a margin of a tenth of its larger side, and at least
    `min_side` wide, so that a small molecule keeps the pixel size of its strokes and labels (readers are
    trained on structures drawn at that scale, not enlarged)."""
    side = max(max(crop.size) * 6 // 5 + 8, min_side)
    canvas = Image.new("RGB", (side, side), "white")
    canvas.paste(crop, ((side - crop.width) // 2, (side - crop.height) // 2))
    return canvas


def split_scheme(image: Image.Image, min_side: int = 224) -> Scheme | None:
    """The molecules of a one-arrow reaction scheme, each on a white square of at least `min_side` px, or
    None when the picture shows no arrow."""
    pixels = np.asarray(image.convert("RGB"))
    ink = pixels.min(axis=2) < 160  # dark or coloured (a yellow S is light in grey)
    labels, _ = ndimage.label(ink, structure=np.ones((3, 3), bool))
    boxes = ndimage.find_objects(labels)
    arrows = [i for i, box in enumerate(boxes) if _is_arrow(labels[box] == i + 1, ink.shape[1])]
    if len(arrows) != 1:
        return None
    arrow = boxes[arrows[0]]
    left, right = arrow[1].start, arrow[1].stop
    pluses = [i for i, box in enumerate(boxes) if _is_plus(labels[box] == i + 1)]
    drop = np.isin(labels, [i + 1 for i in arrows + pluses])
    kept = ink & ~drop
    occupied = kept.any(axis=0)
    between = np.zeros_like(occupied)
    between[left:right] = occupied[left:right]
    occupied[left:right] = False
    # a molecule's atom labels sit a stroke width or so from its bonds; molecules are further apart than that
    reach = max(4, round(2 * np.median((labels[arrow] == arrows[0] + 1).sum(axis=0))))
    agents = len(_runs(ndimage.binary_dilation(between, iterations=reach))) if between.any() else 0
    clean = pixels.copy()
    clean[ndimage.binary_dilation(drop, iterations=2)] = 255  # arrow and plus signs (and their grey edges) out of the crops
    clean = Image.fromarray(clean)
    sides = ([], [])  # reactants, products
    for molecules, (first, last) in zip(sides, ((0, left), (right, ink.shape[1]))):
        side = occupied[first:last]
        for start, end in _runs(ndimage.binary_dilation(side, iterations=reach)):
            inked = np.flatnonzero(side[start:end]) + start + first
            start, end = inked[0], inked[-1] + 1
            if kept[:, start:end].sum() < 20:  # a speck or the overhang of a reagent's text
                continue
            rows = np.flatnonzero(kept[:, start:end].any(axis=1))
            box = (max(0, start - 2), max(0, rows[0] - 2), min(ink.shape[1], end + 2), min(ink.shape[0], rows[-1] + 3))
            molecules.append(_on_canvas(clean.crop(box), min_side))
    reactants, products = sides
    if not reactants or not products:
        return None
    return Scheme(reactants, products, agents)
