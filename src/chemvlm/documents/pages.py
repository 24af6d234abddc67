"""The pages of a document, one at a time: PDF pages rendered with pypdfium2 (with the words of their text
layer), the frames of a multi-page TIFF, or a single image as a one-page document.

Pages are rendered as they are asked for, so a 500-page PDF holds one page image in memory at a time. Bad
input raises a one-line DocumentError naming the file (and the page).
"""

from __future__ import annotations

import ctypes
import re
from pathlib import Path
from typing import Iterator

from PIL import Image, ImageSequence, UnidentifiedImageError

from chemvlm.documents.layout import Page, Word
from chemvlm.errors import InputError

# Above this many pixels a page is rendered at a lower resolution (an A0 poster at 200 dpi is 72 MP; RGB
# at 60 MP is 180 MB, as much as one page should take).
MAX_PIXELS = 60_000_000
PDF_SUFFIXES = frozenset({".pdf"})
TIFF_SUFFIXES = frozenset({".tif", ".tiff"})


class DocumentError(InputError, ValueError):
    """A document (or one of its pages) that cannot be read; names the file and the page."""


def is_pdf(path: str | Path) -> bool:
    return Path(path).suffix.lower() in PDF_SUFFIXES


def is_document(path: str | Path) -> bool:
    """A PDF, or a TIFF of more than one page: files of pages rather than pictures of one structure."""
    path = Path(path)
    if is_pdf(path):
        return True
    if path.suffix.lower() in TIFF_SUFFIXES:
        try:
            with Image.open(path) as image:
                return getattr(image, "n_frames", 1) > 1
        except (OSError, UnidentifiedImageError):
            return False  # read as an image, which names the problem
    return False


def count_pages(path: str | Path) -> int:
    path = Path(path)
    if is_pdf(path):
        with _open_pdf(path) as pdf:
            return len(pdf)
    with _open_image(path) as image:
        return getattr(image, "n_frames", 1)


def iter_pages(path: str | Path, dpi: float = 200, first: int = 1, skip=frozenset()) -> Iterator[Page]:
    """The pages of `path` from page `first` (1-based) on, each rendered when it is reached; the page
    numbers in `skip` are passed over without being rendered (pages a resumed run has done)."""
    path = Path(path)
    if is_pdf(path):
        yield from _pdf_pages(path, dpi, first, skip)
        return
    with _open_image(path) as image:
        for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
            if number >= first and number not in skip:
                yield _image_page(path, number, frame, dpi)


def load_page(path: str | Path, number: int, dpi: float = 200) -> Page:
    """One page of a document (for the report: pages are drawn again rather than kept)."""
    for page in iter_pages(path, dpi, first=number):
        return page
    raise DocumentError(f"{path}: has no page {number}")


def _open_pdf(path: Path):
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(path)
    except FileNotFoundError:
        raise DocumentError(f"{path}: no such file") from None
    except pdfium.PdfiumError as err:
        raise DocumentError(f"{path}: {_why_not_loaded(path, err.err_code)}") from None
    if len(pdf) == 0:
        pdf.close()
        raise DocumentError(f"{path}: a PDF without pages")
    return pdf


def _why_not_loaded(path: Path, code: int | None) -> str:
    """Why PDFium refused a file. Its error code is kept from an earlier failure when a load fails without
    one (a PDF without pages does), so the file itself is looked at first."""
    import pypdfium2.raw as raw

    data = path.read_bytes()
    if b"%PDF-" not in data[:1024]:
        return "not a PDF"
    if re.search(rb"/Type\s*/Page(?!s)", data) is None and b"/Encrypt" not in data:
        return "a PDF without pages"
    if code == raw.FPDF_ERR_PASSWORD:
        return "encrypted, it needs a password"
    if code == raw.FPDF_ERR_SECURITY:
        return "encrypted in a way that is not supported"
    return "a damaged or truncated PDF"


def _pdf_pages(path: Path, dpi: float, first: int, skip) -> Iterator[Page]:
    import pypdfium2 as pdfium

    with _open_pdf(path) as pdf:
        for index in range(first - 1, len(pdf)):
            if index + 1 in skip:
                continue
            where = f"{path}: page {index + 1} of {len(pdf)}"
            try:
                page = pdf[index]
                width, height = page.get_size()  # PDF points, 1/72 inch
                scale = _capped(dpi / 72, width, height)
                image = page.render(scale=scale).to_pil().convert("RGB")
                words = _words(page, image.size)
                page.close()
            except pdfium.PdfiumError as err:
                raise DocumentError(f"{where}: cannot be rendered ({err})") from None
            note = f"rendered at {scale * 72:.0f} dpi, too large at {dpi:g}" if scale < dpi / 72 else None
            yield Page(document=str(path), number=index + 1, image=image, words=words, dpi=scale * 72, note=note)


def _capped(scale: float, width: float, height: float) -> float:
    """The scale, lowered so that the page has at most MAX_PIXELS pixels."""
    pixels = width * height * scale * scale
    # PDFium rounds the bitmap's sides up: one percent less keeps the page under the cap
    return scale if pixels <= MAX_PIXELS else scale * (MAX_PIXELS / pixels) ** 0.5 * 0.99


def _words(page, size: tuple[int, int]) -> list[Word]:
    """Runs of non-space characters of the text layer, each boxed by the union of its characters' boxes."""
    import pypdfium2.raw as raw

    textpage = page.get_textpage()
    to_pixels = _page_to_pixels(page, size)
    words, text, box = [], "", None
    for index in range(textpage.count_chars()):
        char = chr(raw.FPDFText_GetUnicode(textpage.raw, index) or 32)
        if char.isspace() or not char.isprintable():
            if text:
                words.append(Word(text, box))
            text, box = "", None
            continue
        left, bottom, right, top = textpage.get_charbox(index)
        (x0, y0), (x1, y1) = to_pixels(left, top), to_pixels(right, bottom)
        char_box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))  # a rotated page swaps corners
        box = char_box if box is None else (min(box[0], char_box[0]), min(box[1], char_box[1]),
                                            max(box[2], char_box[2]), max(box[3], char_box[3]))
        text += char
    if text:
        words.append(Word(text, box))
    textpage.close()
    return words


def _page_to_pixels(page, size: tuple[int, int]):
    """PDF points (y up, from the page's origin) to pixels of the rendered page (y down), the page's crop
    box and rotation included: PDFium's own mapping, the one its renderer uses."""
    import pypdfium2.raw as raw

    width, height = size
    x, y = ctypes.c_int(), ctypes.c_int()

    def convert(px: float, py: float) -> tuple[float, float]:
        raw.FPDF_PageToDevice(page.raw, 0, 0, width, height, 0, px, py, ctypes.byref(x), ctypes.byref(y))
        return float(x.value), float(y.value)

    return convert


def _open_image(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise DocumentError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError):
        raise DocumentError(f"{path}: not a document (neither a PDF nor an image)") from None
    except Image.DecompressionBombError:
        raise DocumentError(f"{path}: an image too large to read as a page") from None


def _image_page(path: Path, number: int, frame: Image.Image, dpi: float) -> Page:
    """A frame as a page, shrunk when it has more than MAX_PIXELS pixels (its dpi says by how much)."""
    try:
        image = frame.convert("RGB")
    except OSError as err:
        raise DocumentError(f"{path}: page {number}: damaged image ({err})") from None
    resolution, note = float((frame.info.get("dpi") or (dpi,))[0]) or dpi, None
    if image.width * image.height > MAX_PIXELS:
        factor = (MAX_PIXELS / (image.width * image.height)) ** 0.5
        note = f"shrunk from {image.width}x{image.height} pixels, too large"
        image = image.resize((int(image.width * factor), int(image.height * factor)), Image.Resampling.LANCZOS)
        resolution *= factor
    return Page(document=str(path), number=number, image=image, words=None, dpi=resolution, note=note)
