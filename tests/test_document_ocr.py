"""`chemvlm ocr` and `ask` on whole documents, as a user runs them: a born-digital PDF made here with fpdf2
(RDKit drawings with their labels under them), read by the real osra, resumed page by page, with bad PDFs in
the same folder, and the HTML report."""

import io
import json
import re
import shutil

import pytest
from fpdf import FPDF
from PIL import Image
from typer.testing import CliRunner

from chemvlm.chem import canonical_smiles, draw_molecule
from chemvlm.cli import app

# (SMILES, label, page, x, y) with x, y the drawing's top left corner in points; drawings are 180 pt wide
DRAWN = [("CC(=O)Oc1ccccc1C(=O)O", "12a", 1, 72, 120), ("c1ccc2ccccc2c1", "12b", 1, 322, 120),
         ("OC(=O)c1ccncc1", "13", 2, 150, 200)]


def _paper(path, structures=DRAWN, pages=2):
    pdf = FPDF(unit="pt", format="A4")
    pdf.set_font("Helvetica", size=11)
    for page in range(1, pages + 1):
        pdf.add_page()
        pdf.text(72, 60, f"Page {page}: the compounds prepared in this work are shown below.")
        for smiles, label, on, x, y in structures:
            if on == page:
                pdf.image(io.BytesIO(draw_molecule(smiles, size=(400, 320))), x=x, y=y, w=180)
                pdf.text(x + 80, y + 170, label)
    pdf.output(str(path))
    return path


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    return _paper(tmp_path_factory.mktemp("paper") / "paper.pdf")


@pytest.fixture
def calls(monkeypatch):
    """The ids of the queries osra is given, call by call."""
    from chemvlm.engines.osra import OsraEngine

    seen, predict = [], OsraEngine.predict

    def counted(self, queries):
        seen.append([q.id for q in queries])
        return predict(self, queries)

    monkeypatch.setattr(OsraEngine, "predict", counted)
    return seen


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ocr_reads_every_structure_of_a_pdf_with_its_place_and_label(tmp_path, paper, calls, monkeypatch):
    monkeypatch.chdir(paper.parent)
    out = tmp_path / "out.jsonl"
    done = cli("ocr", "paper.pdf", "-o", out, "--model", "osra", "--report", tmp_path / "report.html")
    assert done.exit_code == 0, done.output
    assert "paper.pdf: page 1/2, 2 structures" in done.stderr and "paper.pdf: page 2/2, 1 structures" in done.stderr
    assert "1 documents: 0 pages already done, 2 read now (3 structures" in done.stdout
    assert calls == [["paper.pdf#p1#1", "paper.pdf#p1#2"], ["paper.pdf#p2#1"]]  # one batch per page
    found = records(out)
    assert [r["id"] for r in found] == ["paper.pdf#p1#1", "paper.pdf#p1#2", "paper.pdf#p2#1"]
    for record, (smiles, label, page, x, y) in zip(found, DRAWN):
        assert record["document"] == "paper.pdf" and record["image"] == str(paper) and record["page"] == page
        assert record["page_size"] == [1654, 2339]  # A4 at 200 dpi
        x0, y0, x1, y1 = record["bbox"]
        assert 0 <= x0 < x1 <= 1654 and 0 <= y0 < y1 <= 2339
        # inside the drawing's picture (pixels are points times 200/72), and not much smaller than its ink
        assert x * 200 / 72 - 2 <= x0 and x1 <= (x + 180) * 200 / 72 + 2 and x1 - x0 > 200
        assert record["label"] == label and 0 < record["confidence"] <= 1 and record["engine"] == "osra"
    right = [r for r, (smiles, *_) in zip(found, DRAWN) if r["canonical"] == canonical_smiles(smiles)]
    assert len(right) >= 1, [r["canonical"] for r in found]
    html = (tmp_path / "report.html").read_text()
    drawings = re.findall(r"<svg[^>]*rdkit", html)  # RDKit's SVG of each structure read
    assert html.count("<rect class='box'") == 3 and len(drawings) == len([r for r in found if r["valid"]])
    assert "12a" in html and "paper.pdf, page 2" in html
    pictures = sorted((tmp_path / "report_pages").iterdir())
    assert [p.name for p in pictures] == ["0001.jpg", "0002.jpg"] and Image.open(pictures[0]).width == 900


def test_a_rerun_reads_no_page_again_and_a_lost_page_once(tmp_path, paper, calls):
    out = tmp_path / "out.csv"
    assert cli("ocr", paper, "-o", out, "--model", "osra").exit_code == 0
    assert len(calls) == 2
    again = cli("ocr", paper, "-o", out, "--model", "osra")
    assert again.exit_code == 0 and len(calls) == 2  # osra was not asked again
    assert "2 pages already done, 0 read now (0 structures" in again.stdout
    log = tmp_path / "out.csv.pages.jsonl"
    lines = log.read_text().splitlines()
    assert [json.loads(line)["page"] for line in lines] == [1, 2]
    log.write_text(lines[0] + "\n" + lines[1][:20])  # killed while marking page 2 done
    third = cli("ocr", paper, "-o", out, "--model", "osra")
    assert third.exit_code == 0 and calls[2:] == [[f"{paper}#p2#1"]]
    assert "1 pages already done, 1 read now (1 structures" in third.stdout
    assert out.read_text().count(f"{paper}#p2#1") == 1  # its record was there already: not written twice


def test_a_page_without_structures_is_remembered(tmp_path, calls):
    text_only = _paper(tmp_path / "prose.pdf", structures=[], pages=1)
    out = tmp_path / "out.jsonl"
    first = cli("ocr", text_only, "-o", out, "--model", "osra")
    assert first.exit_code == 0 and "page 1/1, 0 structures" in first.stderr and out.read_text() == ""
    again = cli("ocr", text_only, "-o", out, "--model", "osra")
    assert "1 pages already done, 0 read now" in again.stdout and calls == []


def test_bad_pdfs_in_a_folder_are_one_line_each_and_lose_nothing(tmp_path, paper, fixtures):
    folder = tmp_path / "papers"
    folder.mkdir()
    shutil.copy(paper, folder / "a-good.pdf")
    pdf = FPDF()
    pdf.add_page()
    pdf.set_encryption(owner_password="o", user_password="u")
    pdf.output(str(folder / "b-locked.pdf"))
    (folder / "c-cut.pdf").write_bytes(paper.read_bytes()[:2000])
    shutil.copy(fixtures / "ocsr" / "2008056680_159_chem.png", folder / "d-one-molecule.png")
    out = tmp_path / "out.jsonl"
    done = cli("ocr", folder, "-o", out, "--model", "osra")
    assert done.exit_code == 2, done.output
    failed = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert failed == [f"error: {folder / 'b-locked.pdf'}: encrypted, it needs a password",
                      f"error: {folder / 'c-cut.pdf'}: a damaged or truncated PDF"]
    assert "1 images: 0 already done, 1 recognised now (1 valid SMILES" in done.stdout
    assert "3 documents: 0 pages already done, 2 read now (3 structures" in done.stdout
    ids = [r["id"] for r in records(out)]
    good = [f"{folder / 'a-good.pdf'}#p{p}#{n}" for p, n in [(1, 1), (1, 2), (2, 1)]]
    assert ids == [str(folder / "d-one-molecule.png"), *good]
    assert records(out)[0]["page"] is None  # a single image is read as before
    alone = cli("ocr", folder / "b-locked.pdf", "-o", tmp_path / "alone.jsonl", "--model", "osra")
    assert alone.exit_code == 2
    assert [line for line in alone.stderr.splitlines() if line.startswith("error:")] == failed[:1]


def test_ask_answers_per_structure_of_a_document_or_a_page_image(tmp_path, paper):
    done = cli("ask", paper, "What is this molecule?", "--model", "osra")
    assert done.exit_code == 0, done.output
    lines = [line for line in done.stdout.splitlines() if line.startswith("page ")]
    assert [line.split(" at ")[0] for line in lines] == ["page 1, structure 1 (12a)", "page 1, structure 2 (12b)",
                                                          "page 2, structure 1 (13)"]
    assert "3 structures on 2 pages" in done.stdout
    # a page given as a PNG: read as one molecule unless --pages says it is a page
    from chemvlm.documents.pages import load_page

    load_page(paper, 1).image.save(tmp_path / "page.png")
    as_page = cli("ask", tmp_path / "page.png", "What is this molecule?", "--model", "osra", "--pages", "--json")
    assert as_page.exit_code == 0, as_page.output
    answers = json.loads(as_page.stdout)
    assert [(a["id"], a["page"]) for a in answers] == [(f"{tmp_path / 'page.png'}#p1#{n}", 1) for n in (1, 2)]
    read = [a["canonical"] for a in answers]
    assert read[0] == canonical_smiles(DRAWN[0][0]) or read[1] == canonical_smiles(DRAWN[1][0])


@pytest.mark.parametrize("args, message", [
    (["ocr", "{png}", "-o", "r.jsonl", "--dpi", "300"], "--dpi: applies to PDF documents only"),
    (["ocr", "{png}", "-o", "r.jsonl", "--report", "r.html"], "--report: applies to documents only"),
    (["ocr", "{pdf}", "-o", "r.jsonl", "--report", "r.txt"], "r.txt: the report must end in .html"),
    (["ask", "{pdf}", "{png}", "What is it?"], "a document is asked about alone, got 2 files"),
])
def test_options_that_do_not_apply_are_refused_in_one_line(tmp_path, monkeypatch, paper, fixtures, args, message):
    monkeypatch.chdir(tmp_path)
    png = fixtures / "ocsr" / "2008056680_159_chem.png"
    done = cli(*[a.format(png=png, pdf=paper) for a in args], "--model", "osra")
    assert done.exit_code == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and message in done.stderr
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_a_multi_page_tiff_is_read_page_by_page(tmp_path, paper):
    from chemvlm.documents.pages import load_page

    scan = load_page(paper, 2, dpi=150).image.convert("L")
    blank = Image.new("L", scan.size, 255)
    scan.save(tmp_path / "scan.tif", save_all=True, append_images=[blank], dpi=(150, 150))
    out = tmp_path / "out.jsonl"
    done = cli("ocr", tmp_path / "scan.tif", "-o", out, "--model", "osra")
    assert done.exit_code == 0, done.output
    assert "scan.tif: page 1/2, 1 structures" in done.stderr and "scan.tif: page 2/2, 0 structures" in done.stderr
    (record,) = records(out)
    assert record["page"] == 1 and record["page_size"] == list(scan.size) and record["id"].endswith("scan.tif#p1#1")
    assert record["canonical"] == canonical_smiles(DRAWN[2][0])
