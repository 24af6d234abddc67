"""What a page is made of, in the rendered page's pixels: words (from the PDF's text layer or OCR) and the
regions that hold one chemical structure each."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the rendered page, y down


@dataclass(frozen=True)
class Word:
    text: str
    bbox: Box


@dataclass
class Page:
    document: str  # the file as given
    number: int  # 1-based
    image: Image.Image  # the rendered page, RGB
    words: list[Word] | None = None  # the text layer of a born-digital PDF; None for scans and images
    dpi: float = 200.0
    note: str | None = None  # what was done to the page to read it (rendered at a lower dpi: too large)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


@dataclass(frozen=True)
class Region:
    bbox: Box  # the whole structure, atom labels included, nothing of the text around it
    score: float  # how sure the segmenter is that a structure is there, in [0, 1]
