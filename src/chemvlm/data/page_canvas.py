"""A synthetic page drawn twice at once: into PIL pixels (the page image) and as a list of operations that
`write_pdf` replays into a PDF with a real text layer (every word a text object at its place, structures
embedded as images, rules and arrows as vector lines). Positions are pixels at 200 dpi; the PDF is in points
(1 pt = 200/72 px), so the PDF rendered at 200 dpi puts every word and structure where the ground truth says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from chemvlm.documents.layout import Box, Word

DPI = 200
PAGE = (1700, 2200)  # US Letter at 200 dpi
PX_PER_PT = DPI / 72
FONT_FILES = {"serif": "DejaVuSerif.ttf", "bold": "DejaVuSerif-Bold.ttf", "sans": "DejaVuSans.ttf"}


@dataclass
class TextLine:
    kind: str  # header, footer, prose, caption, table, conditions, label
    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def bbox(self) -> Box:
        return enclose([w.bbox for w in self.words])


def enclose(boxes) -> Box:
    boxes = list(boxes)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


@lru_cache(maxsize=None)
def font_path(name: str) -> str:
    import matplotlib  # a dependency; its DejaVu fonts are on every install

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / FONT_FILES[name])


@lru_cache(maxsize=None)
def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(name), size)


class Canvas:
    """A page being drawn: PIL pixels now, and the same operations kept for the PDF."""

    def __init__(self, size=PAGE):
        self.image = Image.new("RGB", size, "white")
        self.draw = ImageDraw.Draw(self.image)
        self.ops: list = []
        self.lines: list[TextLine] = []

    def words(self, placed: list[tuple[int, str]], top: int, face: str, size: int, kind: str) -> TextLine:
        """Words at (x, word) on the line whose ascender is at `top`; each is one text object in the PDF."""
        f = font(face, size)
        baseline = top + f.getmetrics()[0]
        words = []
        for x, text in placed:
            self.draw.text((x, baseline), text, font=f, fill=(0, 0, 0), anchor="ls")
            words.append(Word(text, tuple(self.draw.textbbox((x, baseline), text, font=f, anchor="ls"))))
            self.ops.append(("text", x, baseline, text, face, size))
        line = TextLine(kind, words)
        self.lines.append(line)
        return line

    def line(self, words: list[str], x: int, top: int, face: str, size: int, kind: str,
             width: int | None = None) -> TextLine:
        """One line from `x`; stretched to `width` (justified) when given."""
        f = font(face, size)
        lengths = [f.getlength(w) for w in words]
        gap = f.getlength(" ")
        if width and len(words) > 1:
            gap = (width - sum(lengths)) / (len(words) - 1)
        placed, cx = [], float(x)
        for word, length in zip(words, lengths):
            placed.append((round(cx), word))
            cx += length + gap
        return self.words(placed, top, face, size, kind)

    def centred(self, text: str, cx: float, top: int, face: str, size: int, kind: str) -> TextLine:
        words = text.split()
        return self.line(words, round(cx - text_width(text, face, size) / 2), top, face, size, kind)

    def rule(self, x0, y0, x1, y1, width: int = 2) -> None:
        self.draw.line([(x0, y0), (x1, y1)], fill=(0, 0, 0), width=width)
        self.ops.append(("line", x0, y0, x1, y1, width))

    def arrow(self, x0: int, x1: int, y: int) -> None:
        self.rule(x0, y, x1 - 14, y, 3)
        head = [(x1, y), (x1 - 18, y - 8), (x1 - 18, y + 8)]
        self.draw.polygon(head, fill=(0, 0, 0))
        self.ops.append(("polygon", head))

    def paste(self, picture: Image.Image, x: int, y: int) -> Box:
        """A structure's picture at (x, y), darkening (never whitening) what is there; its box."""
        region = (x, y, x + picture.width, y + picture.height)
        under = np.asarray(self.image.crop(region))
        self.image.paste(Image.fromarray(np.minimum(under, np.asarray(picture))), region[:2])
        self.ops.append(("image", picture, x, y))
        return region


def text_width(text: str, face: str, size: int) -> float:
    return font(face, size).getlength(text)


def wrap(words: list[str], width: int, face: str, size: int) -> list[list[str]]:
    lines, current = [], []
    for word in words:
        if current and text_width(" ".join(current + [word]), face, size) > width:
            lines.append(current)
            current = []
        current.append(word)
    return lines + ([current] if current else [])


def write_pdf(size: tuple[int, int], ops: list, path: str | Path) -> None:
    """One PDF page of `size` pixels at 200 dpi with the canvas operations `ops`: text as real, selectable
    PDF text (DejaVu embedded), structures as images at their exact places, rules and arrows as lines."""
    from fpdf import FPDF

    k = PX_PER_PT
    pdf = FPDF(unit="pt", format=(size[0] / k, size[1] / k))
    pdf.set_auto_page_break(False)
    pdf.set_margin(0)
    pdf.add_page()
    pdf.set_creation_date(datetime(2000, 1, 1, tzinfo=timezone.utc))  # fixed: the same page gives the same bytes
    for face in FONT_FILES:
        pdf.add_font(face, fname=font_path(face))
    for op in ops:
        if op[0] == "text":
            _, x, baseline, text, face, px = op
            pdf.set_font(face, size=px / k)
            pdf.text(x / k, baseline / k, text)
        elif op[0] == "line":
            _, x0, y0, x1, y1, width = op
            pdf.set_line_width(width / k)
            pdf.line(x0 / k, y0 / k, x1 / k, y1 / k)
        elif op[0] == "polygon":
            pdf.set_fill_color(0, 0, 0)
            pdf.polygon([(x / k, y / k) for x, y in op[1]], style="F")
        elif op[0] == "image":
            _, picture, x, y = op
            pdf.image(picture, x / k, y / k, picture.width / k, picture.height / k)
    pdf.output(str(path))
