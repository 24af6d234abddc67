"""Documents page by page (documents.pages): PDFs made here with fpdf2 and rendered with PDFium, with the
words of their text layer; multi-page TIFFs and single images; and what bad documents give."""

import io

import numpy as np
import pypdfium2
import pytest
from fpdf import FPDF
from PIL import Image

from chemvlm.chem import draw_molecule
from chemvlm.documents import pages as pages_module
from chemvlm.documents.pages import DocumentError, count_pages, is_document, iter_pages, load_page


def _pdf(path, pages=2, encrypt=False):
    """A4 pages, each with a line of text at (72, 72) pt, a drawing of aspirin at (100, 150) pt, 150 pt
    wide, and the label "12a" under it at (150, 290) pt."""
    pdf = FPDF(unit="pt", format="A4")
    pdf.set_font("Helvetica", size=12)
    for n in range(pages):
        pdf.add_page()
        pdf.text(72, 72, f"Compound 12a on page {n + 1}.")
        pdf.image(io.BytesIO(draw_molecule("CC(=O)Oc1ccccc1C(=O)O", size=(300, 240))), x=100, y=150, w=150)
        pdf.text(150, 290, "12a")
    if encrypt:
        pdf.set_encryption(owner_password="owner", user_password="user")
    pdf.output(str(path))
    return path


def test_a_born_digital_pdf_gives_its_pages_and_words_in_page_pixels(tmp_path):
    path = _pdf(tmp_path / "paper.pdf")
    assert count_pages(path) == 2 and is_document(path)
    found = list(iter_pages(path, dpi=144))  # 2 pixels per point
    assert [p.number for p in found] == [1, 2] and all(p.document == str(path) for p in found)
    page = found[1]
    assert page.size == (1191, 1684) and page.dpi == pytest.approx(144) and page.note is None
    words = [w.text for w in page.words]
    assert words == ["Compound", "12a", "on", "page", "2.", "12a"]
    label = page.words[-1].bbox  # "12a" with its baseline at (150, 290) pt: pixels are points times 2, y down
    assert 298 <= label[0] <= 306 and 555 <= label[1] < 580 and 576 <= label[3] <= 586 and label[2] > label[0] + 20
    ink = np.asarray(page.image.convert("L")) < 128
    assert ink[300:580, 200:500].sum() > 1000  # the embedded drawing rendered where it was put
    assert ink[800:, :].sum() == 0  # and nothing below it


def test_pages_are_rendered_one_at_a_time_and_skipped_pages_not_at_all(tmp_path, monkeypatch):
    path = _pdf(tmp_path / "long.pdf", pages=12)
    rendered = []
    render = pypdfium2.PdfPage.render
    monkeypatch.setattr(pypdfium2.PdfPage, "render", lambda self, **kw: rendered.append(1) or render(self, **kw))
    pages = iter_pages(path, dpi=30, skip={1, 2, 4})
    assert next(pages).number == 3 and len(rendered) == 1
    assert next(pages).number == 5 and len(rendered) == 2
    assert load_page(path, 12, dpi=30).number == 12 and len(rendered) == 3


def test_a_page_too_large_is_rendered_at_a_lower_dpi_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(pages_module, "MAX_PIXELS", 1_000_000)
    page = next(iter_pages(_pdf(tmp_path / "big.pdf", pages=1), dpi=200))
    assert page.size[0] * page.size[1] <= 1_000_000 and page.dpi < 200
    assert page.note == f"rendered at {page.dpi:.0f} dpi, too large at 200"
    assert page.words[-1].text == "12a" and page.words[-1].bbox[0] == pytest.approx(150 * page.dpi / 72, abs=3)
    image = tmp_path / "big.png"
    Image.new("RGB", (2000, 1000), "white").save(image)
    shrunk = next(iter_pages(image))
    assert shrunk.size[0] * shrunk.size[1] <= 1_000_000 and "shrunk from 2000x1000" in shrunk.note


def test_a_multi_page_tiff_is_a_document_and_an_image_is_one_page(tmp_path):
    frames = [Image.new("L", (300 + 10 * n, 200), 255) for n in range(3)]
    frames[0].save(tmp_path / "scan.tif", save_all=True, append_images=frames[1:], dpi=(300, 300))
    frames[0].save(tmp_path / "one.tif")
    frames[0].save(tmp_path / "one.png")
    assert is_document(tmp_path / "scan.tif") and not is_document(tmp_path / "one.tif")
    assert not is_document(tmp_path / "one.png") and count_pages(tmp_path / "scan.tif") == 3
    scan = list(iter_pages(tmp_path / "scan.tif"))
    assert [p.size for p in scan] == [(300, 200), (310, 200), (320, 200)]
    assert all(p.words is None and p.image.mode == "RGB" and p.dpi == 300 for p in scan)
    assert [p.number for p in iter_pages(tmp_path / "scan.tif", first=2)] == [2, 3]
    (single,) = iter_pages(tmp_path / "one.png")
    assert single.number == 1 and single.words is None and count_pages(tmp_path / "one.png") == 1


def _empty_pdf(path):
    pypdfium2.PdfDocument.new().save(path)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: _pdf(p, encrypt=True), "encrypted, it needs a password"),
    (lambda p: p.write_bytes(_pdf(p).read_bytes()[:1500]), "a damaged or truncated PDF"),
    (lambda p: p.write_text("hello, a text file named .pdf"), "not a PDF"),
    (_empty_pdf, "a PDF without pages"),
    (lambda p: p.write_bytes(b"%PDF-1.4\n"), "a PDF without pages"),
])
def test_a_bad_pdf_is_one_line_naming_it(tmp_path, make, message):
    path = tmp_path / "bad.pdf"
    make(path)
    with pytest.raises(DocumentError, match=message) as caught:
        list(iter_pages(path))
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)
    with pytest.raises(DocumentError, match=message):
        count_pages(path)


def test_a_file_that_is_no_document_is_named(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(DocumentError, match=r"notes\.png: not a document"):
        list(iter_pages(tmp_path / "notes.png"))
    with pytest.raises(DocumentError, match="no such file"):
        list(iter_pages(tmp_path / "missing.pdf"))
    with pytest.raises(DocumentError, match="has no page 3"):
        load_page(_pdf(tmp_path / "two.pdf"), 3, dpi=30)
