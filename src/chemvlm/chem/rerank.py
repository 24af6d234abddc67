"""How well a candidate SMILES matches an image: draw the candidate with RDKit and compare the drawings.

A real drawing and RDKit's depiction of the same molecule rarely share a layout, so pixel overlap says
little. The comparison used is layout-free: the Euler number of the ink (connected pieces minus enclosed
holes, counted from 2x2 pixel patterns). Every ring closes a hole, and every atom label and every bond a
label cuts adds pieces, so a candidate with a ring, a label or a bond too many or too few usually differs
from the image. A chamfer distance between the inks, cropped and fitted into one square, was measured as
well and picked the right candidate less often than chance, so it is not used
(benchmarks/results/ensemble-ocsr.md).

`match_score` is higher for a better match; it compares candidates for one image, not images.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from chemvlm.chem.draw import draw_molecule
from chemvlm.chem.smiles import parse_smiles

MIN_SIDE = 300  # small images are drawn larger, so that RDKit's labels and rings do not close up


def ink_mask(image: Image.Image) -> np.ndarray:
    """Dark pixels as a boolean array, cropped to the ink's bounding box (empty when there is no ink)."""
    grey = np.asarray(image.convert("L"), dtype=np.uint8)
    mask = grey < 128
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return np.zeros((0, 0), dtype=bool)
    return mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def euler_number(mask: np.ndarray) -> int:
    """Pieces minus holes of the ink, 8-connected ink (Gray's bit-quad counts)."""
    padded = np.pad(mask, 1).astype(np.int8)
    a, b, c, d = padded[:-1, :-1], padded[:-1, 1:], padded[1:, :-1], padded[1:, 1:]
    total = a + b + c + d
    q1 = np.count_nonzero(total == 1)
    q3 = np.count_nonzero(total == 3)
    qd = np.count_nonzero((total == 2) & (a == d))  # the two diagonal patterns
    return int(q1 - q3 - 2 * qd) // 4


def count_pieces(mask: np.ndarray) -> int:
    """Connected pieces of 8-connected ink, by joining runs of ink row by row (union-find on runs)."""
    parent: list[int] = []

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    previous: list[tuple[int, int, int]] = []  # (start, end exclusive, run id) of the row above
    for row in mask:
        edges = np.diff(np.concatenate(([0], row.astype(np.int8), [0])))
        current = []
        j = 0
        for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            run = len(parent)
            parent.append(run)
            while j < len(previous) and previous[j][1] < start:  # ends before this run's diagonal
                j += 1
            k = j
            while k < len(previous) and previous[k][0] <= end:  # starts at most one pixel after this run
                parent[root(previous[k][2])] = root(run)
                k += 1
            j = max(j, k - 1)
            current.append((start, end, run))
        previous = current
    return sum(1 for x in range(len(parent)) if parent[x] == x)


def shape_counts(mask: np.ndarray) -> tuple[int, int]:
    """(pieces, holes) of the ink."""
    pieces = count_pieces(mask)
    return pieces, pieces - euler_number(mask)


def render(smiles: str, size: tuple[int, int]) -> np.ndarray:
    """The ink mask of RDKit's drawing of `smiles` at about the image's size."""
    from io import BytesIO

    def style(options):
        options.bondLineWidth = 2  # close to the stroke of a printed structure at this size

    png = draw_molecule(smiles, size=size, style=style)
    return ink_mask(Image.open(BytesIO(png)))


def match_score(image: Image.Image, smiles: str) -> float:
    """Higher is better: minus the differences in pieces and in holes (0 is a match). -inf when invalid."""
    if parse_smiles(smiles) is None:
        return float("-inf")
    target = ink_mask(image)
    if target.size == 0:
        return float("-inf")
    width, height = image.size  # drawn at about the image's size, so strokes and labels are comparable
    scale = max(1.0, MIN_SIDE / max(width, height))
    drawn = render(smiles, (int(width * scale), int(height * scale)))
    (pieces, holes), (drawn_pieces, drawn_holes) = shape_counts(target), shape_counts(drawn)
    return -float(abs(pieces - drawn_pieces) + abs(holes - drawn_holes))


def rank(image: Image.Image, candidates: list[str]) -> list[tuple[str, float]]:
    """(candidate, score) best first; invalid candidates are left out."""
    scored = [(smiles, match_score(image, smiles)) for smiles in dict.fromkeys(candidates)]
    return sorted([s for s in scored if s[1] != float("-inf")], key=lambda s: -s[1])
