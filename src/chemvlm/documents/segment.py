"""Where the structures are on a page: one box per structure drawing, apart from text, tables and arrows.

A structure drawing is a large, sparse web of thin strokes: its bonds join most of its atoms into one
connected piece of ink that is tall and wide at once, where text is rows of small separate glyphs and tables
and arrows are long straight lines. So:
1. ink is thresholded (nearer the paper on a faded page), and long horizontal and vertical lines (rules,
   table borders, arrow shafts) removed;
2. the glyph height of the page's text is estimated from its small connected pieces;
3. pieces at least a few glyphs tall and wide, and sparse, are the cores of structures;
4. each core takes in the pieces near it (atom labels, charges, a ring drawn apart) until nothing is within
   a small gap, which stops at the space that separates a drawing from its label or the text around it;
5. what is left must pass the drawing check every engine uses (vision.content.missing_drawing), shown the
   crop with its strokes darkened to black.
Words of a PDF's text layer that sit apart from every core are text for certain and never join a structure.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from chemvlm.documents.layout import Box, Region, Word
from chemvlm.vision.content import missing_drawing

def _ink(image: Image.Image) -> np.ndarray:
    """Pixels clearly darker than the paper: coloured atoms and light strokes count (yellow S, grey bonds)."""
    grey = np.asarray(image.convert("L"))
    paper = float(np.median(grey))
    # on a faded page (its darkest ink far from black) a light stroke or a coloured atom sits nearer the paper:
    # the margin shrinks with the contrast, yet stays well above the paper's own grain
    contrast = paper - float(np.percentile(grey, 0.5))
    grain = 1.4826 * float(np.median(np.abs(grey - paper)))
    return grey < paper - min(max(40.0, 0.18 * paper), max(0.25 * contrast, 5 * grain))


def _as_print(crop: Image.Image, ink: np.ndarray) -> Image.Image:
    """The crop in grey with its levels stretched so that its paper is white and its strokes black. The
    drawing check sees ink as darker than mid-grey, where the strokes of a faded or light-toned scan are
    lighter than that and would read as a blank picture or specks; print (black strokes) is left as it is."""
    if not ink.any():
        return crop
    grey = np.asarray(crop.convert("L"), float)
    paper, stroke = float(np.median(grey)), float(np.percentile(grey[ink], 10))  # the strokes' darker tenth
    if paper - stroke < 1:
        return crop
    return Image.fromarray(np.clip(255 * (grey - stroke) / (paper - stroke), 0, 255).astype(np.uint8))


def _without_long_lines(ink: np.ndarray, length: int) -> np.ndarray:
    """Ink minus horizontal and vertical runs longer than `length` (longer than any bond). The ink is smeared
    a pixel across first, so that a rule a scan tilted by a degree still makes one run."""
    rows = ndimage.binary_opening(ndimage.binary_dilation(ink, np.ones((3, 1), bool)), np.ones((1, length), bool))
    cols = ndimage.binary_opening(ndimage.binary_dilation(ink, np.ones((1, 3), bool)), np.ones((length, 1), bool))
    return ink & ~(rows | cols)


def _glyph_height(heights: np.ndarray, widths: np.ndarray) -> float:
    """The median height of glyph-like pieces (small, not lines), with a floor for pages of pure drawing."""
    glyphs = heights[(heights >= 6) & (heights <= 60) & (widths <= 2 * heights) & (widths >= heights / 6)]
    return float(np.median(glyphs)) if len(glyphs) >= 5 else 20.0


def _zigzag(piece: np.ndarray) -> bool:
    """Whether a flat piece is a chain of slanted strokes: hardly any slice across its length holds ink
    over more than half its thickness."""
    piece = piece if piece.shape[1] >= piece.shape[0] else piece.T
    rows = np.arange(piece.shape[0])[:, None]
    filled = piece.any(axis=0)
    spans = np.where(piece, rows, -1).max(axis=0) - np.where(piece, rows, piece.shape[0]).min(axis=0) + 1
    return bool(filled.any() and (spans[filled] > piece.shape[0] / 2).mean() < 0.1)


def _gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between box `a` and each box of `b` (0 when they overlap), boxes as x0, y0, x1, y1."""
    dx = np.maximum(0, np.maximum(b[:, 0] - a[2], a[0] - b[:, 2]))
    dy = np.maximum(0, np.maximum(b[:, 1] - a[3], a[1] - b[:, 3]))
    return np.hypot(dx, dy)


def find_structures(image: Image.Image, words: list[Word] | None = None) -> list[Region]:
    """One Region per structure drawing on the page, in reading order (top to bottom, left to right)."""
    ink = _ink(image)
    longest_bond = max(90, image.width // 14)  # bonds drawn at up to ~1.5 cm survive
    lines_gone = _without_long_lines(ink, longest_bond)
    labels, count = ndimage.label(lines_gone, structure=np.ones((3, 3), bool))
    if count == 0:
        return []
    slices = ndimage.find_objects(labels)
    boxes = np.array([[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in slices], float)
    areas = ndimage.sum_labels(lines_gone, labels, index=np.arange(1, count + 1))
    widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    glyph = _glyph_height(heights, widths)
    fill = areas / np.maximum(widths * heights, 1)
    # a word whose bold letters touch is as wide, but not as tall: a drawing spans two lines of text or more
    core = (np.maximum(widths, heights) >= 2.3 * glyph) & (np.minimum(widths, heights) >= 1.8 * glyph) & (fill < 0.3)
    # a chain drawn flat (a zigzag under two lines tall) is still far sparser than any word
    flat = (np.maximum(widths, heights) >= 4 * glyph) & (np.minimum(widths, heights) >= 0.7 * glyph)
    core |= flat & (fill < 0.12)
    # ... and so is a zigzag of bolder strokes: every slice across it is a short stroke, where letters that touch
    # have stems and bowls as tall as the line
    for k in np.flatnonzero(flat & ~core & (fill < 0.3)):
        core[k] = _zigzag(labels[slices[k]] == k + 1)
    text = np.zeros(count, bool)  # pieces inside words of the text layer that no core touches
    for word in words or []:
        inside = (boxes[:, 0] >= word.bbox[0] - 1) & (boxes[:, 1] >= word.bbox[1] - 1) & \
                 (boxes[:, 2] <= word.bbox[2] + 1) & (boxes[:, 3] <= word.bbox[3] + 1)
        text |= inside
    core &= ~text
    # scan noise: specks join nothing (a chain of them would join a whole page); on a clean page only single
    # pixels go, since the dashes of a hashed wedge are specks too
    noisy = (areas <= 4).sum() > 500
    text |= areas < (max(4.0, (glyph / 5) ** 2) if noisy else 2)
    # long thin pieces are rules and arrows, even when a scan tilts them off the axes
    text |= (np.maximum(widths, heights) >= longest_bond) & (np.minimum(widths, heights) <= np.maximum(widths, heights) / 11) \
        & (np.minimum(widths, heights) <= 0.8 * glyph)
    # scan edges and shadows: long pieces along the border of the page are no drawing
    edge = (boxes[:, 0] <= 2) | (boxes[:, 1] <= 2) | (boxes[:, 2] >= image.width - 2) | (boxes[:, 3] >= image.height - 2)
    text |= edge & ((widths > image.width / 4) | (heights > image.height / 4))
    core &= ~text
    gap, core_gap = max(4.0, 0.6 * glyph), 1.5 * glyph  # glyphs join bonds closely; parts of one drawing, less so
    owner = np.full(count, -1)
    regions: list[np.ndarray] = []
    for seed in np.argsort(-(widths * heights) * core):
        if not core[seed] or owner[seed] >= 0:
            continue
        box = boxes[seed].copy()
        owner[seed] = len(regions)
        while True:  # take in every free piece within the gap, until none is left
            apart = _gap(box, boxes)
            near = (owner < 0) & ~text & ((apart <= gap) | (core & (apart <= core_gap)))
            if not near.any():
                break
            owner[near] = len(regions)
            box = np.array([min(box[0], boxes[near, 0].min()), min(box[1], boxes[near, 1].min()),
                            max(box[2], boxes[near, 2].max()), max(box[3], boxes[near, 3].max())])
        regions.append(box)
    found = []
    for index, box in enumerate(regions):
        members = owner == index
        x0, y0, x1, y1 = (int(v) for v in box)
        mask = np.isin(labels[y0:y1, x0:x1], np.flatnonzero(members) + 1)
        x0, y0, x1, y1 = _trim_text(mask, glyph, (x0, y0))
        if missing_drawing(_as_print(image.crop((x0, y0, x1, y1)), ink[y0:y1, x0:x1])) is not None:
            continue
        strokes = areas[members].sum() / max(1.0, (x1 - x0) * (y1 - y0))
        found.append(Region((x0, y0, x1, y1), _score(members.sum(), strokes, (x1 - x0) / glyph, (y1 - y0) / glyph)))
    return reading_order(found)


def _blank_runs(profile: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) runs of False in `profile`."""
    runs, start = [], None
    for i, filled in enumerate(profile):
        if not filled and start is None:
            start = i
        elif filled and start is not None:
            runs.append((start, i))
            start = None
    return runs


def _only_glyphs(strip: np.ndarray, glyph: float) -> bool:
    """Whether every piece of ink in `strip` could be letters: no taller than a line, and no flat stroke (a
    bond). Bold letters may touch, so a piece may be a whole word wide."""
    pieces, count = ndimage.label(strip, structure=np.ones((3, 3), bool))
    sizes = [(r.stop - r.start, c.stop - c.start) for r, c in ndimage.find_objects(pieces)]
    return count > 0 and all(h <= 1.6 * glyph and not (w > 1.2 * glyph and h < 0.35 * glyph) for h, w in sizes)


def _trim_text(mask: np.ndarray, glyph: float, origin: tuple[int, int]) -> tuple[int, int, int, int]:
    """The region's box without a line of text that the gap rule let in below, above or beside the drawing
    (an identifier or a yield set close to it): a strip beyond a blank band, one or two lines tall and wider
    than an atom label, or a single short line beyond a wide band."""
    top, bottom, left, right = 0, mask.shape[0], 0, mask.shape[1]
    for _ in range(3):
        rows = mask[top:bottom, left:right].any(axis=1)
        blanks = [run for run in _blank_runs(rows) if run[0] > 0]
        cut = False
        if blanks:  # the lowest blank band: is what lies under it a line of text?
            start, stop = blanks[-1]
            strip = mask[top + stop:bottom, left:right]
            width = np.flatnonzero(strip.any(axis=0))
            span = width[-1] - width[0] + 1 if len(width) else 0
            if strip.shape[0] <= 2.6 * glyph and (span >= 2.5 * glyph or stop - start >= 0.6 * glyph) \
                    and stop - start >= 0.3 * glyph and _only_glyphs(strip, glyph):
                bottom, cut = top + start, True
        if blanks and not cut:
            start, stop = blanks[0]
            strip = mask[top:top + start, left:right]
            width = np.flatnonzero(strip.any(axis=0))
            span = width[-1] - width[0] + 1 if len(width) else 0
            if start <= 2.6 * glyph and (span >= 2.5 * glyph or stop - start >= 0.6 * glyph) \
                    and stop - start >= 0.3 * glyph and _only_glyphs(strip, glyph):
                top, cut = top + stop, True
        cols = mask[top:bottom, left:right].any(axis=0)
        side = [run for run in _blank_runs(cols) if run[0] > 0 and run[1] - run[0] >= 0.6 * glyph]
        if side:  # a label beside the drawing: one line, beyond a wide gap
            start, stop = side[-1]
            strip = mask[top:bottom, left + stop:right]
            height = np.flatnonzero(strip.any(axis=1))
            if len(height) and height[-1] - height[0] + 1 <= 1.6 * glyph and right - (left + stop) <= 5 * glyph \
                    and _only_glyphs(strip, glyph):
                right, cut = left + start, True
        if not cut:
            break
        rows, cols = mask[top:bottom, left:right].any(axis=1), mask[top:bottom, left:right].any(axis=0)
        if not rows.any():
            break
        ys, xs = np.flatnonzero(rows), np.flatnonzero(cols)  # shrink to the ink that is left
        top, bottom, left, right = top + ys[0], top + ys[-1] + 1, left + xs[0], left + xs[-1] + 1
    return origin[0] + left, origin[1] + top, origin[0] + right, origin[1] + bottom


def reading_order(regions: list[Region]) -> list[Region]:
    """Rows top to bottom (a region whose middle lies within a row's height joins it), each left to right."""
    rows: list[list[Region]] = []
    for region in sorted(regions, key=lambda r: r.bbox[1]):
        middle = (region.bbox[1] + region.bbox[3]) / 2
        if rows and min(r.bbox[1] for r in rows[-1]) <= middle <= max(r.bbox[3] for r in rows[-1]):
            rows[-1].append(region)
        else:
            rows.append([region])
    return [region for row in rows for region in sorted(row, key=lambda r: r.bbox[0])]


def _score(pieces: int, strokes: float, width: float, height: float) -> float:
    """How much a region looks like a structure drawing: several glyphs in size both ways, sparse ink, a
    few pieces (atom labels) around its bonds. A rough prior for the record's confidence, not a classifier."""
    size = min(1.0, min(width, height) / 4)
    sparse = 1.0 if 0.02 <= strokes <= 0.2 else 0.6
    return round(0.5 + 0.5 * size * sparse * min(1.0, pieces / 2), 3)


def crop_box(bbox: Box, size: tuple[int, int], margin: int = 6) -> tuple[int, int, int, int]:
    """The box widened by a few pixels of white, within the page (engines read edge strokes badly)."""
    x0, y0, x1, y1 = bbox
    return max(0, int(x0) - margin), max(0, int(y0) - margin), min(size[0], int(x1) + margin), min(size[1], int(y1) + margin)


def find_arrows(image: Image.Image) -> list[Box]:
    """Reaction arrows pointing right: a straight horizontal shaft longer than any bond but shorter than a
    table rule (under 45 % of the page's width), whose right end alone has a head (ink well above and below
    the shaft)."""
    ink = _ink(image)
    length = max(90, image.width // 14)
    shafts = ndimage.binary_opening(ndimage.binary_dilation(ink, np.ones((3, 1), bool)), np.ones((1, length), bool)) & ink
    pieces, _ = ndimage.label(shafts, structure=np.ones((3, 3), bool))
    arrows = []
    for rows, cols in ndimage.find_objects(pieces):
        if cols.stop - cols.start > 0.45 * image.width or rows.stop - rows.start > 12:
            continue
        middle = (rows.start + rows.stop) // 2

        def spread(x0: int, x1: int) -> int:  # how tall the ink is around the shaft between x0 and x1
            window = ink[max(0, middle - 20) : middle + 21, max(0, x0) : x1]
            filled = np.flatnonzero(window.any(axis=1))
            return int(filled[-1] - filled[0] + 1) if len(filled) else 0

        if spread(cols.stop - 20, cols.stop + 2) >= 9 and spread(cols.start, cols.start + 12) <= 6:
            arrows.append((cols.start, rows.start, cols.stop, rows.stop))
    return arrows


def reactions(regions: list[Region], arrows: list[Box]) -> list[tuple[list[int], list[int], Box]]:
    """(reactant region indices, product region indices, arrow) per arrow with structures on both sides in
    its row: the structures between it and the previous arrow (or the row's start), and up to the next."""
    found = []
    for arrow in arrows:
        y = (arrow[1] + arrow[3]) / 2
        row = sorted((i for i, r in enumerate(regions) if r.bbox[1] <= y <= r.bbox[3]), key=lambda i: regions[i].bbox[0])
        others = [a for a in arrows if a is not arrow and a[1] <= y + 20 and a[3] >= y - 20]
        before = max((a[2] for a in others if a[2] <= arrow[0]), default=-1)
        after = min((a[0] for a in others if a[0] >= arrow[2]), default=float("inf"))
        left = [i for i in row if before <= regions[i].bbox[0] and regions[i].bbox[2] <= arrow[0] + 5]
        right = [i for i in row if arrow[2] - 5 <= regions[i].bbox[0] and regions[i].bbox[2] <= after]
        if left and right:
            found.append((left, right, arrow))
    return found
