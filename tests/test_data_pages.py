"""Synthetic document pages (data.pages): deterministic, boxes exact on the image, on the PDF's text layer
and on the scanned version."""

import numpy as np
import pytest

from chemvlm.chem.smiles import parse_smiles
from chemvlm.data.decontam import read_keys
from chemvlm.data.pages import compose_page, holdout_molecules
from chemvlm.data.split import skeleton_key, split_of

MOLECULES = ["CC(=O)Nc1ccc(O)cc1", "O=C(O)c1ccccc1OC(C)=O", "CN1CCC[C@H]1c1cccnc1", "Cc1ccc(S(N)(=O)=O)cc1",
             "CCOC(=O)c1ccc(N)cc1", "Clc1ccc2[nH]ccc2c1", "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O",
             "CC(C)Cc1ccc(C(C)C(=O)O)cc1"]
TEXT_KINDS = {"prose", "caption", "table", "conditions", "header", "footer"}


def ink(image, box, threshold=200):
    grey = np.asarray(image.convert("L"))
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return grey[max(0, y0) : y1, max(0, x0) : x1] < threshold


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def grown(box, by):
    return (box[0] - by, box[1] - by, box[2] + by, box[3] + by)


@pytest.fixture(scope="module", params=[3, 11, 20])
def page(request):
    return compose_page(request.param, MOLECULES[: 4 + request.param % 5], scanned=False)


def test_same_seed_same_page_other_seed_other_page():
    a, b = compose_page(7, MOLECULES[:5], scanned=True), compose_page(7, MOLECULES[:5], scanned=True)
    assert a.truth() == b.truth()
    assert a.image.tobytes() == b.image.tobytes()
    c = compose_page(8, MOLECULES[:5], scanned=True)
    assert c.truth() != a.truth()


def test_boxes_lie_inside_the_page_tight_around_the_ink(page):
    width, height = page.image.size
    assert (width, height) == (1700, 2200)
    assert len(page.structures) >= 3
    for s in page.structures:
        x0, y0, x1, y1 = s.bbox
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        dark = ink(page.image, s.bbox, threshold=250)
        assert dark.mean() > 0.01, f"{s.label}: no drawing inside its box"
        # tight: every edge of the box touches ink, and nothing dark sits just outside it
        assert dark[0].any() and dark[-1].any() and dark[:, 0].any() and dark[:, -1].any()
        assert ink(page.image, grown(s.bbox, 4), threshold=250).sum() == dark.sum()
        assert parse_smiles(s.smiles) is not None and s.label
        assert ink(page.image, s.label_bbox).any(), f"{s.label}: its identifier is not printed"


def test_no_structure_overlaps_text_or_another_structure(page):
    boxes = [s.bbox for s in page.structures]
    for line in page.lines:  # a text line's box: from its first word to its last
        if line.kind in TEXT_KINDS:
            assert not any(overlaps(line.bbox, box) for box in boxes), f"{line.text!r} ({line.kind}) on a structure"
    for i, a in enumerate(boxes):
        assert not any(overlaps(a, b) for b in boxes[i + 1 :])
    labels = [s.label for s in page.structures]
    assert len(set(labels)) == len(labels)


def test_pdf_text_layer_holds_the_identifiers_at_their_boxes(page, tmp_path):
    pdfium = pytest.importorskip("pypdfium2")
    paths = page.write(tmp_path, "page")
    document = pdfium.PdfDocument(paths["pdf"])
    sheet = document[0]
    assert sheet.get_size() == pytest.approx((612, 792))
    text, k = sheet.get_textpage(), 72 / 200
    for s in page.structures:
        x0, y0, x1, y1 = grown(s.label_bbox, 2)
        found = text.get_text_bounded(left=x0 * k, bottom=792 - y1 * k, right=x1 * k, top=792 - y0 * k)
        assert found.split() == s.label.split()
        assert text.get_text_bounded(left=s.bbox[0] * k, bottom=792 - s.bbox[3] * k, right=s.bbox[2] * k,
                                     top=792 - s.bbox[1] * k).strip() == ""  # no text on a drawing
    rendered = sheet.render(scale=200 / 72).to_pil()
    assert rendered.size == page.image.size
    for s in page.structures:  # the embedded drawings render where the boxes are (pdfium resamples: 1 px)
        inside = ink(rendered, grown(s.bbox, 1)).sum()
        assert inside > 0 and inside >= 0.99 * ink(rendered, grown(s.bbox, 6)).sum()
    document.close()


def test_scanned_page_boxes_still_sit_on_its_ink():
    clean = compose_page(5, MOLECULES, scanned=False)
    scanned = compose_page(5, MOLECULES, scanned=True)
    assert scanned.scanned and not clean.scanned
    assert [s.label for s in scanned.structures] == [s.label for s in clean.structures]
    assert scanned.image.tobytes() != clean.image.tobytes()
    for s in scanned.structures:  # dark pixels fill the box; the band of 6 px around it holds only noise
        inside = ink(scanned.image, s.bbox)
        band = ink(scanned.image, grown(s.bbox, 6)).sum() - inside.sum()
        band_area = (s.bbox[2] - s.bbox[0] + 12) * (s.bbox[3] - s.bbox[1] + 12) - inside.size
        assert inside.mean() > 0.02, f"{s.label}: no drawing inside its box"
        assert band / band_area < 0.1 * inside.mean(), f"{s.label}: ink outside its box"


def test_benchmark_molecules_are_held_out_and_clean():
    molecules = holdout_molecules()
    keys = read_keys()
    assert len(molecules) >= 50
    for smiles in molecules:
        assert split_of(skeleton_key(smiles), 0.02) == "holdout" and skeleton_key(smiles) not in keys
        assert 6 <= parse_smiles(smiles).GetNumHeavyAtoms() <= 40
