"""How well a candidate SMILES matches an image: draw the candidate with RDKit and compare the drawings.

A real drawing and RDKit's depiction of the same molecule rarely share a layout, so pixel overlap says
little. Two layout-free comparisons do better (measured in benchmarks/results/ensemble-ocsr.md):

* the Euler number of the ink (connected pieces minus enclosed holes, from 2x2 pixel patterns): every ring
  closes a hole and every free-standing atom label adds pieces, so a candidate with a ring, a label or a
  bond too many or too few usually differs from the image;
* a chamfer distance between the ink of both pictures, each cropped to its ink and fitted into the same
  square, as a weak tie-breaker on overall shape.

`match_score` is higher for a better match; it is meant to compare candidates for one image, not images.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from chemvlm.chem.draw import draw_molecule
from chemvlm.chem.smiles import parse_smiles

SIDE = 96  # pixels of the square both inks are fitted into for the chamfer distance
MAX_POINTS = 600  # ink points kept per picture for the chamfer distance (evenly subsampled)
EULER_WEIGHT = 1.0  # one unit of Euler difference outweighs any chamfer difference (below 1 after scaling)


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


def _fit(mask: np.ndarray, side: int = SIDE) -> np.ndarray:
    """Ink points (row, col) of the mask scaled, aspect kept, into a side x side square, as floats."""
    height, width = mask.shape
    scale = (side - 1) / max(height, width, 1)
    points = np.argwhere(mask).astype(np.float32) * scale
    if len(points) > MAX_POINTS:
        points = points[np.linspace(0, len(points) - 1, MAX_POINTS).astype(int)]
    return points


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance from each ink point to the other picture's nearest ink point, both ways, in units of
    the square's side (0 identical, about 1 when one picture has no ink)."""
    pa, pb = _fit(a), _fit(b)
    if len(pa) == 0 or len(pb) == 0:
        return 1.0
    distances = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1))
    return float((distances.min(1).mean() + distances.min(0).mean()) / 2 / SIDE)


def render(smiles: str, size: tuple[int, int]) -> np.ndarray:
    """The ink mask of RDKit's drawing of `smiles` at about the image's size."""
    from io import BytesIO

    def style(options):
        options.bondLineWidth = 2  # close to the stroke of a printed structure at this size

    png = draw_molecule(smiles, size=size, style=style)
    return ink_mask(Image.open(BytesIO(png)))


def match_score(image: Image.Image, smiles: str) -> float:
    """Higher is better: minus (Euler difference x EULER_WEIGHT + chamfer distance). -inf when invalid."""
    if parse_smiles(smiles) is None:
        return float("-inf")
    target = ink_mask(image)
    if target.size == 0:
        return float("-inf")
    # Render at the image's own size (at least 300 px a side) so strokes and labels are comparable.
    width, height = image.size
    scale = max(1.0, 300 / max(width, height))
    drawn = render(smiles, (int(width * scale), int(height * scale)))
    difference = abs(euler_number(target) - euler_number(drawn))
    return -(EULER_WEIGHT * difference + chamfer(target, drawn))


def rank(image: Image.Image, candidates: list[str]) -> list[tuple[str, float]]:
    """(candidate, score) best first; invalid candidates are left out."""
    scored = [(smiles, match_score(image, smiles)) for smiles in dict.fromkeys(candidates)]
    return sorted([s for s in scored if s[1] != float("-inf")], key=lambda s: -s[1])
