"""The compound identifier printed with a structure ("12a", "(S)-15", "Example 7", "Compound 3", "IV").

Identifiers stand on a line of their own next to the drawing, most often just below it, sometimes above or
beside it. The words come from the PDF's text layer when the page has one, otherwise from OCR of the bands
around the structure (rapidocr, whose wheel ships the PP-OCR models); a line is an identifier when all of it
reads as one, and the nearest such line wins.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
from PIL import ImageOps
from scipy import ndimage

from chemvlm.documents.layout import Box, Page, Region, Word

IDENTIFIER = re.compile(
    r"""^(?:
        (?:compound|cpd\.?|example|ex\.?|intermediate|int\.?|entry)\s*[A-Z]?\d{1,4}[a-z]{0,2}(?:-\d{1,3})?
      | (?:\((?:[RSEZ]|[RS],[RS]|[+-]|±)\)-?)?[A-Z]?\d{1,4}[a-z]{0,2}'{0,2}
      | (?-i:[IVX]{1,6}[a-z]?)
    )$""",
    re.IGNORECASE | re.VERBOSE,
)


def is_identifier(text: str) -> bool:
    return bool(IDENTIFIER.match(text.strip().strip("*").strip()))


_DIGIT_LOOKALIKES = str.maketrans({"l": "1", "|": "1", "O": "0", "o": "0", "S": "5"})


def _as_identifier(text: str) -> str | None:
    """The identifier `text` reads as, allowing OCR's digit look-alikes ("la" for "1a")."""
    text = text.strip().strip("*").strip()
    if is_identifier(text):
        return text
    token = re.fullmatch(r"(\S*?)([a-z]{0,2}'{0,2})", text)  # one token: a number and its letters
    if not token:
        return None
    fixed = token.group(1).translate(_DIGIT_LOOKALIKES) + token.group(2)
    return fixed if fixed != text and re.fullmatch(r"\d{1,4}[a-z]{0,2}'{0,2}", fixed) else None


def lines_of(words: list[Word]) -> list[Word]:
    """Words joined into lines: same baseline band, gaps under about one line height."""
    lines: list[list[Word]] = []
    for word in sorted(words, key=lambda w: (w.bbox[1], w.bbox[0])):
        for line in lines:
            last = line[-1]
            height = max(last.bbox[3] - last.bbox[1], word.bbox[3] - word.bbox[1])
            overlap = min(last.bbox[3], word.bbox[3]) - max(last.bbox[1], word.bbox[1])
            if overlap > 0.5 * height and 0 <= word.bbox[0] - last.bbox[2] < 1.2 * height:
                line.append(word)
                break
        else:
            lines.append([word])
    return [Word(" ".join(w.text for w in line), (min(w.bbox[0] for w in line), min(w.bbox[1] for w in line),
                                                 max(w.bbox[2] for w in line), max(w.bbox[3] for w in line)))
            for line in lines]


def _distance(region: Box, line: Box) -> float | None:
    """How far a line is from the structure, if it sits where an identifier would: below or above it and
    overlapping it across, or beside it and overlapping it down; None elsewhere."""
    x0, y0, x1, y1 = region
    across = min(x1, line[2]) - max(x0, line[0]) > 0
    down = min(y1, line[3]) - max(y0, line[1]) > 0
    if across and line[1] >= y1 - 2:
        return line[1] - y1
    if across and line[3] <= y0 + 2:
        return 1.5 * (y0 - line[3])  # above: less common than below
    if down and (line[0] >= x1 - 2 or line[2] <= x0 + 2):
        return 2.0 * max(line[0] - x1, x0 - line[2])
    return None


def nearest_identifier(region: Box, lines: list[Word], reach: float) -> str | None:
    best = None
    for line in lines:
        distance = _distance(region, line.bbox)
        text = _as_identifier(line.text) if distance is not None and distance <= reach else None
        if text and (best is None or distance < best[0]):
            best = (distance, text)
    return best[1] if best else None


@lru_cache(maxsize=1)
def _ocr():
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def text_boxes(page: Page, box: Box) -> list[Box]:
    """Boxes of the words and short lines inside `box`: ink smeared sideways by about a letter's width
    joins a word's glyphs, and pieces taller than a line (drawings) are left out."""
    x0, y0, x1, y1 = (int(v) for v in box)
    grey = np.asarray(page.image.crop((x0, y0, x1, y1)).convert("L"))
    if grey.size == 0:
        return []
    ink = grey < np.median(grey) - 60
    letter = max(3, int(page.dpi / 25))
    pieces, _ = ndimage.label(ndimage.binary_dilation(ink, structure=np.ones((3, 2 * letter + 1), bool)))
    boxes = []
    for rows, cols in ndimage.find_objects(pieces):
        height = rows.stop - rows.start
        left, right = x0 + cols.start + letter, x0 + cols.stop - letter  # the smear taken off again
        if 6 <= height <= 0.3 * page.dpi and right - left >= 4:  # specks and drawings are not text
            boxes.append((left, y0 + rows.start + 1, right, y0 + rows.stop - 1))
    return boxes


def _read(page: Page, box: Box) -> str:
    """OCR of one piece of a line: recognition only (the piece is already found), on a white margin."""
    x0, y0, x1, y1 = (int(v) for v in box)
    pad = max(4, int((y1 - y0) * 0.3))
    crop = ImageOps.expand(page.image.crop((x0, y0, x1, y1)).convert("RGB"), pad, fill="white")
    found, _ = _ocr()(np.asarray(crop), use_det=False, use_cls=False)
    return found[0][0] if found else ""


def ocr_lines(page: Page, box: Box) -> list[Word]:
    """Text lines inside `box` of the page, read by OCR, in page pixels."""
    return [Word(_read(page, piece), piece) for piece in text_boxes(page, box)]


def label_of(region: Region, page: Page) -> str | None:
    """The identifier printed with the structure in `region`, or None when there is none."""
    reach = 0.6 * page.dpi  # about three lines of text
    if page.words is not None:
        return nearest_identifier(region.bbox, lines_of(page.words), reach)
    x0, y0, x1, y1 = region.bbox
    width, (page_w, page_h) = x1 - x0, page.size
    bands = [(x0 - width / 2, y1, x1 + width / 2, y1 + reach),  # below first: most identifiers are there
             (x0 - width / 2, y0 - reach, x1 + width / 2, y0),
             (x1, y0, x1 + 2 * reach, y1), (x0 - 2 * reach, y0, x0, y1)]
    for band in bands:
        band = (max(0, band[0]), max(0, band[1]), min(page_w, band[2]), min(page_h, band[3]))
        label = nearest_identifier(region.bbox, ocr_lines(page, band), reach)
        if label:
            return label
    return None
