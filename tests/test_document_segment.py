"""Finding structures on a page and the identifiers printed with them (documents.segment, documents.labels),
on pages composed here from RDKit drawings, prose set in a real font and a ruled table."""

import random

import pytest
from PIL import Image, ImageDraw, ImageFont

from chemvlm.chem import draw_molecule
from chemvlm.documents.labels import is_identifier, label_of, lines_of
from chemvlm.documents.layout import Page, Word
from chemvlm.documents.segment import find_structures

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
MOLECULES = ["CC(=O)Oc1ccccc1C(=O)O", "c1ccc2c(c1)[nH]c1ccccc12", "CN1CCC[C@H]1c1cccnc1",
             "O=C(O)c1ccc(Cl)cc1", "CCOC(=O)C1=C(C)NC(C)=C(C(=O)OC)C1c1cccc([N+](=O)[O-])c1", "Cc1ccc(S(N)(=O)=O)cc1"]
LABELS = ["1a", "(S)-15", "Compound 3", "7b", "IV", "Example 12"]


def _iou(a, b):
    ix, iy = max(0, min(a[2], b[2]) - max(a[0], b[0])), max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy)


def _page(seed: int = 0):
    """A 200-dpi letter page: two lines of prose, six labelled structures in a grid, a ruled table."""
    import io

    rng = random.Random(seed)
    page = Image.new("RGB", (1700, 2200), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, 26)
    words = []
    for k, line in enumerate(["Compound 3 was made from 1a in 87% yield (Scheme 2).",
                              "Treatment of (S)-15 with 7b gave IV after 2 h at 80 °C."]):
        draw.text((150, 120 + 45 * k), line, fill="black", font=font)
    truth = []
    for i, (smiles, label) in enumerate(zip(MOLECULES, LABELS)):
        picture = Image.open(io.BytesIO(draw_molecule(smiles, size=(rng.randint(330, 420), 320)))).convert("RGB")
        x, y = 150 + (i % 3) * 480, 320 + (i // 3) * 520
        page.paste(picture, (x, y))
        ink = Image.eval(picture.convert("L"), lambda v: 255 - v).point(lambda v: 255 if v > 60 else 0).getbbox()
        box = (x + ink[0], y + ink[1], x + ink[2], y + ink[3])
        width = draw.textlength(label, font=font)
        at = ((box[0] + box[2] - width) / 2, box[3] + 20)
        draw.text(at, label, fill="black", font=font)
        words.append(Word(label, (at[0], at[1], at[0] + width, at[1] + 30)))
        truth.append((box, label))
    draw.line((150, 1500, 1550, 1500), fill="black", width=2)
    for k in range(3):
        draw.text((160, 1515 + 40 * k), f"{k + 1}     4-ClC6H4     9{k}     >99:1", fill="black", font=font)
    draw.line((150, 1640, 1550, 1640), fill="black", width=2)
    return page, truth, words


def test_every_structure_is_found_whole_and_nothing_else():
    page, truth, _ = _page()
    found = find_structures(page)
    assert len(found) == len(truth)  # no prose line, table row or rule is taken for a structure
    for (box, label), region in zip(truth, found):  # reading order: the grid row by row
        assert _iou(box, region.bbox) > 0.85, (label, box, region.bbox)
        assert region.bbox[3] < box[3] + 15  # the identifier below is not inside the box
        assert 0.5 <= region.score <= 1.0


def test_identifiers_are_read_by_ocr_on_a_scan_and_from_the_text_layer():
    image, truth, words = _page(1)
    found = find_structures(image)
    scanned = Page("page.png", 1, image)
    assert [label_of(region, scanned) for region in found] == [label for _, label in truth]
    digital = Page("page.pdf", 1, image, words=words + [Word("yield", (400, 120, 480, 150))])
    assert [label_of(region, digital) for region in found] == [label for _, label in truth]


def test_a_page_of_prose_and_a_blank_page_have_no_structure():
    page = Image.new("RGB", (1700, 2200), "white")
    assert find_structures(page) == []
    draw, font = ImageDraw.Draw(page), ImageFont.truetype(FONT, 26)
    for k in range(30):
        draw.text((150, 120 + 45 * k), "The mixture was stirred for 2 h at 80 °C, then filtered and dried.", fill="black", font=font)
    assert find_structures(page) == []


@pytest.mark.parametrize("text, expected", [("12a", True), ("(S)-15", True), ("Compound 3", True), ("Example 7", True),
                                            ("IV", True), ("3b'", True), ("yield", False), ("87%", False),
                                            ("Scheme 2", False), ("was made from", False), ("C6H6", False)])
def test_identifier_pattern(text, expected):
    assert is_identifier(text) == expected


def test_words_join_into_lines_only_on_the_same_baseline():
    words = [Word("Compound", (100, 100, 220, 130)), Word("3", (232, 100, 245, 130)), Word("12a", (100, 200, 140, 230))]
    assert [w.text for w in lines_of(words)] == ["Compound 3", "12a"]


def _scheme_page():
    """Ethyl benzoate -> benzoic acid: two drawings, an arrow between them with conditions above it, and a
    table rule below (a long line without a head is no arrow)."""
    import io

    page = Image.new("RGB", (1700, 1000), "white")
    draw = ImageDraw.Draw(page)
    for smiles, x in (("CCOC(=O)c1ccccc1", 150), ("OC(=O)c1ccccc1", 1000)):
        page.paste(Image.open(io.BytesIO(draw_molecule(smiles, size=(380, 300)))).convert("RGB"), (x, 300))
    draw.line((600, 450, 900, 450), fill="black", width=3)
    draw.polygon([(900, 438), (925, 450), (900, 462)], fill="black")
    draw.text((640, 400), "NaOH, H2O", fill="black", font=ImageFont.truetype(FONT, 26))
    draw.line((150, 800, 1550, 800), fill="black", width=2)
    return page


def test_a_reaction_arrow_joins_the_structures_beside_it():
    from chemvlm.documents.segment import find_arrows, reactions

    page = _scheme_page()
    arrows = find_arrows(page)
    assert len(arrows) == 1 and 590 <= arrows[0][0] <= 610 and 915 <= arrows[0][2] <= 930  # not the rule
    regions = find_structures(page)
    assert len(regions) == 2 and reactions(regions, arrows) == [([0], [1], arrows[0])]


def test_a_page_with_a_scheme_gives_a_reaction_record_after_its_structures():
    from chemvlm.chem import canonical_smiles
    from chemvlm.documents.reader import read_page
    from chemvlm.engines import load_engine

    records = read_page(Page("scheme.png", 1, _scheme_page()), load_engine("osra"))
    assert [r.id.rsplit("#", 1)[1] for r in records] == ["1", "2", "r1"]
    reactants, products = records[2].smiles.split(">>")
    assert canonical_smiles(reactants) == canonical_smiles("CCOC(=O)c1ccccc1")
    assert canonical_smiles(products) == canonical_smiles("OC(=O)c1ccccc1")
    assert records[2].bbox[0] <= records[0].bbox[0] and records[2].bbox[2] >= records[1].bbox[2]


def test_a_faded_scan_still_gives_every_structure():
    """A light-toned scan (strokes grey 150 on grey-white paper, with speckle): the drawing check sees ink
    only below mid-grey, so the segmenter gives it the crop with its levels stretched to print's."""
    import numpy as np

    page, truth, _ = _page()
    grey = np.asarray(page.convert("L"), float)
    noise = np.random.default_rng(0).normal(0, 5, grey.shape)
    faded = Image.fromarray(np.clip(150 + grey * 102 / 255 + noise, 0, 255).astype(np.uint8)).convert("RGB")
    found = find_structures(faded)
    assert len(found) == len(truth)
    for (box, label), region in zip(truth, found):
        assert _iou(box, region.bbox) > 0.85, (label, box, region.bbox)


def test_a_flat_chain_of_bold_strokes_is_a_structure_and_bold_words_are_not():
    """A zigzag chain under a text line tall, drawn with 3 px strokes (too much ink for the sparse-chain rule),
    beside prose and a bold word whose letters touch."""
    page = Image.new("RGB", (1700, 1000), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, 26)
    for k in range(4):
        draw.text((150, 120 + 45 * k), "The mixture was stirred for 2 h at 80 °C, then filtered and dried.", fill="black", font=font)
    x = 150
    for ch in "Compound":  # letters squeezed until they touch
        draw.text((x, 500), ch, fill="black", font=font, stroke_width=1)
        x += draw.textlength(ch, font=font) - 3
    points = [(400 + 22 * k, 520 + (14 if k % 2 else 0)) for k in range(8)]  # 7 bonds of 26 px at 32 degrees
    draw.line(points, fill="black", width=3, joint="curve")
    found = find_structures(page)
    assert len(found) == 1
    assert _iou(found[0].bbox, (399, 519, 555, 536)) > 0.7, found[0].bbox
