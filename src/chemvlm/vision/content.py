"""Whether a picture can hold a structure drawing at all, decided before any engine reads it.

Recognisers answer something for every picture (a blank page becomes a long carbon chain), so pictures
that cannot hold a drawing are turned away first, with the reason: too small, a strip, blank, specks only,
shades of a photograph, ruled lines or solid filled shapes instead of lines of ink. The thresholds are loose
on purpose: every image of ocsr-real and ocsr-dev passes (docs/ensemble.md); what they catch is the obvious.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

MIN_SIDE = 16  # pixels: a bond and an atom label need more
MAX_ASPECT = 12.0  # the longest side over the shortest; patent drawings stay within 1:6
MIN_INK_PIXELS = 40
MIN_PIECE = 10  # pixels across the largest connected piece of ink: a bond, a ring, a label
MAX_INK = 0.4  # share of dark pixels; line drawings are mostly paper
MAX_SHADES = 0.3  # share of mid-grey pixels; anti-aliased lines have few, photographs many
RULE = 0.7  # a straight line of ink across this share of the picture is a table rule or a plot axis
SOLID = 21  # pixels: a solid square of ink this wide is a filled shape (a logo), wider than any bond or wedge
_WORK_SIDE = 1024  # larger pictures are judged on a reduced copy (the same decision, much faster)


def missing_drawing(image: Image.Image) -> str | None:
    """Why `image` cannot hold a structure drawing, or None when it may."""
    w, h = image.size
    if min(w, h) < MIN_SIDE:
        return f"too small to hold a structure drawing ({w}x{h} pixels)"
    if max(w, h) / min(w, h) > MAX_ASPECT:
        return f"a {w}x{h} strip, not a structure drawing"
    grey = image.convert("L")
    if max(w, h) > _WORK_SIDE:
        grey = grey.reduce(-(-max(w, h) // _WORK_SIDE))
    pixels = np.asarray(grey)
    ink = pixels < 128
    if ink.sum() < MIN_INK_PIXELS:
        return "blank: no drawing on it"
    if ink.mean() > MAX_INK:
        return "mostly dark: not a line drawing on paper"
    if ((pixels >= 64) & (pixels < 192)).mean() > MAX_SHADES:
        return "shades of a photograph or a texture, not a line drawing"
    if _longest_runs(ink) >= RULE * ink.shape[1] and _longest_runs(ink.T) >= RULE * ink.shape[0]:
        return "ruled lines across it (a table or a plot), not a structure drawing"
    if ndimage.minimum_filter(ink, size=SOLID, mode="constant", cval=0).any():
        return "solid filled shapes (a logo or a picture), not a line drawing"
    pieces, _ = ndimage.label(ink, structure=np.ones((3, 3)))
    spans = ndimage.find_objects(pieces)
    if max(max(s[0].stop - s[0].start, s[1].stop - s[1].start) for s in spans) < MIN_PIECE:
        return "specks only: no line of ink long enough for a bond"
    return None


def _longest_runs(ink: np.ndarray) -> int:
    """The longest unbroken run of ink along any row."""
    padded = np.pad(ink, ((0, 0), (1, 1))).astype(np.int8)
    edges = np.diff(padded, axis=1)
    _, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # row-major order pairs every start with its end
    return int((ends - starts).max()) if starts.size else 0
