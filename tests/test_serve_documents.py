"""Documents on the server, against the real uvicorn server with the real osra: a PDF made here (RDKit
drawings with labels under them, the paper of test_document_ocr) read page by page as NDJSON, bad PDFs in
one line, SMILES checked by RDKit, records exported as SDF and CSV; then the web page in headless Chromium:
pick the PDF, boxes appear, a box shows its structure, a correction is checked, the CSV holds it."""

import io
import json
import time
from pathlib import Path

import httpx
import pytest
from fpdf import FPDF
from browser import browser_page as open_page
from test_document_ocr import DRAWN, _paper

from chemvlm.chem import canonical_smiles
from chemvlm.engines import load_engine
from chemvlm.serve import ServeConfig, create_app
from chemvlm.serve.background import serving

PDF = {"Content-Type": "application/pdf"}
SCALE = 200 / 72  # pixels per point at the server's 200 dpi


@pytest.fixture(scope="module")
def paper(tmp_path_factory) -> Path:
    return _paper(tmp_path_factory.mktemp("paper") / "paper.pdf")


@pytest.fixture(scope="module")
def app():
    return create_app(load_engine("osra"), ServeConfig(model_name="osra", max_pages=5, max_documents=1))


@pytest.fixture(scope="module")
def url(app):
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def lines(url, paper) -> list[dict]:
    """The whole paper as the server streams it."""
    with httpx.stream("POST", url + "/v1/documents?name=paper.pdf", content=paper.read_bytes(), headers=PDF,
                      timeout=120) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "application/x-ndjson"
        return [json.loads(line) for line in response.iter_lines()]


def test_a_pdf_comes_back_page_by_page_with_boxes_on_the_drawn_structures(lines):
    head, *pages, done = lines
    assert head == {"object": "document", "name": "paper.pdf", "pages": 2, "first": 1, "last": 2}
    assert done == {"object": "document.done", "name": "paper.pdf", "pages_read": 2, "structures": 3,
                    "more_pages": False}
    assert [(p["object"], p["page"], p["size"], p["image_size"]) for p in pages] == [
        ("document.page", 1, [1654, 2339], [1000, 1414]), ("document.page", 2, [1654, 2339], [1000, 1414])]
    assert all(p["image"].startswith("data:image/jpeg;base64,") for p in pages)
    records = [r for p in pages for r in p["records"]]
    assert [r["id"] for r in records] == ["paper.pdf#p1#1", "paper.pdf#p1#2", "paper.pdf#p2#1"]
    for record, (smiles, label, page, x, y) in zip(records, DRAWN):
        assert record["page"] == page and record["document"] == record["image"] == "paper.pdf"
        assert record["label"] == label and record["engine"] == "osra" and 0 < record["confidence"] <= 1
        x0, y0, x1, y1 = record["bbox"]  # within the drawing's picture (180 x 144 pt) and most of it
        assert x * SCALE - 2 <= x0 < x1 <= (x + 180) * SCALE + 2 and x1 - x0 > 200
        assert y * SCALE - 2 <= y0 < y1 <= (y + 144) * SCALE + 2 and y1 - y0 > 150
    right = [r["canonical"] == canonical_smiles(smiles) for r, (smiles, *_) in zip(records, DRAWN)]
    assert sum(right) >= 2, [r["canonical"] for r in records]


def test_a_page_range_reads_only_those_pages(url, paper):
    response = httpx.post(url + "/v1/documents?name=paper.pdf&first=2&pages=1", content=paper.read_bytes(),
                          headers=PDF, timeout=120)
    head, page, done = [json.loads(line) for line in response.text.splitlines()]
    assert (head["first"], head["last"], page["page"], [r["label"] for r in page["records"]]) == (2, 2, 2, ["13"])
    assert done["pages_read"] == 1 and done["more_pages"] is False
    over = httpx.post(url + "/v1/documents?pages=6", content=paper.read_bytes(), headers=PDF)
    assert over.status_code == 400 and over.json()["error"]["message"] == "pages: 6 is outside 1..5"


def test_a_page_image_is_one_page(url, paper):
    from chemvlm.documents.pages import load_page

    buffer = io.BytesIO()
    scan = load_page(paper, 2, dpi=150).image
    scan.save(buffer, "PNG")
    response = httpx.post(url + "/v1/documents?name=scan.png", content=buffer.getvalue(),
                          headers={"Content-Type": "image/png"}, timeout=120)
    head, page, done = [json.loads(line) for line in response.text.splitlines()]
    assert head["pages"] == 1 and page["size"] == list(scan.size) and done["structures"] == 1
    (record,) = page["records"]
    assert record["id"] == "scan.png#p1#1" and record["canonical"] == canonical_smiles(DRAWN[2][0])


def test_a_client_that_leaves_frees_its_place_and_a_second_document_waits_for_none(app, url, paper):
    with httpx.stream("POST", url + "/v1/documents", content=paper.read_bytes(), headers=PDF, timeout=120) as first:
        lines = first.iter_lines()
        assert json.loads(next(lines))["object"] == "document"
        busy = httpx.post(url + "/v1/documents", content=paper.read_bytes(), headers=PDF)  # max_documents=1
        assert busy.status_code == 429 and busy.headers["retry-after"] == "10"
        assert busy.json()["error"]["message"].startswith("server busy: 1 documents are being read")
    for _ in range(200):  # left after page 1: its place is free once page 2's thread is done
        if app.state.documents.active == 0 and not app.state.batcher.pending:
            break
        time.sleep(0.05)
    assert app.state.documents.active == 0 and not app.state.batcher.pending


def _locked() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_encryption(owner_password="o", user_password="u")
    return bytes(pdf.output())


@pytest.mark.parametrize("body, headers, status, message", [
    ("locked", PDF, 400, "locked.pdf: encrypted, it needs a password"),
    ("cut", PDF, 400, "locked.pdf: a damaged or truncated PDF"),
    (b"%PDF-1.4\n%%EOF\n", PDF, 400, "locked.pdf: a PDF without pages"),
    (b"<html></html>", PDF, 400, "locked.pdf: not a PDF"),
    (b"", PDF, 400, "request body: empty; send the PDF or page image as the body"),
    (b"not a picture", {"Content-Type": "image/png"}, 400, "locked.pdf: not a readable image"),
    (b"%PDF-", {"Content-Type": "multipart/form-data; boundary=x"}, 415, "Content-Type: send the PDF or page image"),
])
def test_bad_documents_get_one_line_errors(url, paper, body, headers, status, message):
    body = {"locked": _locked, "cut": lambda: paper.read_bytes()[:2000]}.get(body, lambda: body)()
    response = httpx.post(url + "/v1/documents?name=/secret/locked.pdf", content=body, headers=headers)
    assert response.status_code == status and "\n" not in response.text.strip()
    assert response.json()["error"]["message"].startswith(message)
    assert "/secret" not in response.text and "/tmp" not in response.text  # no path of the client's or the server's


def test_smiles_are_checked_by_rdkit(url):
    good = httpx.post(url + "/v1/molecules", json={"smiles": "OCC"}).json()
    assert (good["canonical_smiles"], good["formula"]) == ("CCO", "C2H6O") and "<svg" in good["svg"]
    bad = httpx.post(url + "/v1/molecules", json={"smiles": "C(C)(C)(C)(C)C"})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == ("smiles: 'C(C)(C)(C)(C)C' is not a valid SMILES: Explicit valence "
                                              "for atom # 0 C, 5, is greater than permitted")
    unclosed = httpx.post(url + "/v1/molecules", json={"smiles": "c1ccccc1C("}).json()["error"]["message"]
    assert unclosed.endswith("a branch '(' is not closed")


def test_records_export_as_sdf_with_molblocks_and_as_csv_with_corrections(url, lines):
    from rdkit import Chem

    records = [r for line in lines[1:-1] for r in line["records"]]
    records[0] = {**records[0], "smiles": "OCC"}  # corrected on the page; canonical comes from the server
    sdf = httpx.post(url + "/v1/documents/export", json={"format": "sdf", "name": "paper.pdf", "records": records})
    assert sdf.status_code == 200 and sdf.headers["content-disposition"] == 'attachment; filename="paper.sdf"'
    molecules = list(Chem.ForwardSDMolSupplier(io.BytesIO(sdf.content)))
    assert Chem.MolToSmiles(molecules[0]) == "CCO" and molecules[0].GetProp("page") == "1"
    assert [m.GetProp("label") for m in molecules] == ["12a", "12b", "13"]
    assert json.loads(molecules[2].GetProp("bbox")) == records[2]["bbox"]
    csv = httpx.post(url + "/v1/documents/export", json={"format": "csv", "name": "paper.pdf", "records": records})
    rows = csv.text.splitlines()
    assert len(rows) == 4 and ",OCC,CCO,True," in rows[1] and csv.headers["content-type"].startswith("text/csv")
    wrong = httpx.post(url + "/v1/documents/export", json={"format": "sdf", "records": [{"id": "x", "page": "one"}]})
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "records[0].page"


# ---- the web page ---------------------------------------------------------------------------------------
@pytest.fixture
def browser_page(url):
    with open_page(url, width=1200, accept_downloads=True) as page:
        yield page


def test_the_page_shows_boxes_reads_corrections_and_exports_them(browser_page, paper, tmp_path):
    page = browser_page
    # a dropped file that is no document is refused on the page
    page.evaluate("""() => {
        const data = new DataTransfer();
        data.items.add(new File(['hello'], 'notes.txt', {type: 'text/plain'}));
        document.getElementById('doc-drop').dispatchEvent(new DragEvent('drop', {dataTransfer: data}));
    }""")
    page.wait_for_selector("#doc-error:has-text('Pick a PDF or a page image')")
    page.set_input_files("#doc-file", str(paper))
    page.wait_for_selector("#doc-status:has-text('3 structures on 2 pages')")
    assert page.locator(".doc-page").count() == 2 and page.locator(".doc-page .box").count() == 3
    assert page.is_hidden("#doc-error")
    # the overlay lies on the picture: same size as it is shown
    image, overlay = (page.locator(f".doc-page[data-page='1'] .sheet {tag}").bounding_box() for tag in ("img", "svg"))
    assert abs(image["width"] - overlay["width"]) < 1 and abs(image["height"] - overlay["height"]) < 1
    page.click(".doc-page[data-page='2'] .box[data-n='1']")
    page.wait_for_selector("#doc-drawing[src^='data:image/svg+xml']")
    read = page.inner_text("#doc-smiles")
    assert read == page.inner_text("tr[data-id='paper.pdf#p2#1'] td.smiles") and read
    assert page.inner_text("#doc-label") == "13" and page.text_content("#doc-which") == "1 on page 2"
    page.click("#doc-copy")
    assert page.evaluate("navigator.clipboard.readText()") == read
    page.fill("#doc-edit", "C1CC(")
    page.click("#doc-apply")
    page.wait_for_selector("#doc-edit-error:has-text(\"a branch '(' is not closed\")")
    assert page.inner_text("tr[data-id='paper.pdf#p2#1'] td.smiles") == read  # unchanged
    page.fill("#doc-edit", "OC(=O)c1ccncc1Cl")
    page.click("#doc-apply")
    fixed = canonical_smiles("OC(=O)c1ccncc1Cl")
    page.wait_for_selector(f"tr[data-id='paper.pdf#p2#1'] td.smiles:has-text('{fixed}')")
    assert page.inner_text("#doc-smiles") == fixed and page.is_hidden("#doc-edit-error")
    with page.expect_download() as download:
        page.click("#export-csv")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "paper.csv"
    rows = saved.read_text().splitlines()
    assert len(rows) == 4 and rows[3].startswith("paper.pdf#p2#1,") and f",{fixed},True," in rows[3]
