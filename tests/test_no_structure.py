"""No structure, no answer: pictures without a drawing get "none" with a reason from every recognition engine,
and the command line reads a file the way every other entry point does (EXIF rotation, first frame)."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from chemvlm.chem import canonical_smiles, describe, draw_molecule
from chemvlm.chem.explain import explain
from chemvlm.data.negatives import KINDS, non_structure_images
from chemvlm.engines import Query, load_engine
from chemvlm.spec import BUNDLED_MODEL, ModelSpec, default_model
from chemvlm.vision import load_image
from chemvlm.vision.content import missing_drawing

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "uspto-US07314934-C00124.png"
EXAMPLE_SMILES = "CSc1nc(-c2ccccc2F)c2ccc(=O)n(C)c2n1"
QUESTION = "What is the SMILES of the molecule in the image?"


@pytest.fixture(scope="module")
def default_engine():
    return load_engine(default_model())


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("size", [(1, 1), (12000, 8), (640, 480)], ids=["one-pixel", "strip", "blank-page"])
def test_the_default_engine_gives_no_structure_for_pictures_without_a_drawing(default_engine, size):
    query = Query(id="x", images=[_png(Image.new("RGB", size, "white"))], question=QUESTION)
    record = default_engine.predict([query])[0]
    assert record.error is None and not record.smiles and not record.valid
    assert record.answer.startswith("No chemical structure was recognised in the image: ")


def test_no_structure_is_said_in_the_questions_language(default_engine):
    record = default_engine.predict([Query(id="x", images=[_png(Image.new("L", (300, 300), 255))], question="这是什么分子？")])[0]
    assert not record.valid and record.answer.startswith("图中没有识别出化学结构")


def test_a_text_only_question_gets_no_invented_structure(default_engine):
    record = default_engine.predict([Query(id="x", images=[], question="What is the SMILES of ethanol?")])[0]
    assert record.error is None and not record.smiles and "no image" in record.answer.lower()


def test_a_real_drawing_is_still_read(default_engine):
    record = default_engine.predict([Query(id="x", images=[str(EXAMPLE)], question=QUESTION)])[0]
    assert record.canonical == EXAMPLE_SMILES


def test_the_bundled_model_alone_says_none_where_it_is_unsure():
    engine = load_engine("chemvlm-mini")
    # pictures that pass the drawing check (arrows with conditions, logos, captions): only the model decides
    pictures = [image for kind, image in non_structure_images(60, seed=0)
                if kind in ("arrow", "logo", "caption", "paragraph") and missing_drawing(image) is None]
    assert len(pictures) >= 8
    records = engine.predict([Query(id=str(i), images=[p], question=QUESTION) for i, p in enumerate(pictures)])
    assert not any(r.valid for r in records), [r.smiles for r in records if r.valid]
    assert all("unsure" in r.answer for r in records if "likelihood" in r.answer)


def test_two_images_are_refused_with_a_clear_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "chemvlm", "ask", str(EXAMPLE), str(EXAMPLE), "SMILES?"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 2
    assert "one structure picture per question, got 2 images" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_drawing_check_passes_real_drawings_and_catches_the_obvious():
    for path in [EXAMPLE, *sorted((ROOT / "tests" / "fixtures" / "ocsr").glob("*.png"))]:
        assert missing_drawing(load_image(path)) is None, path
    assert "too small" in missing_drawing(Image.new("RGB", (8, 8), "white"))
    assert "strip" in missing_drawing(Image.new("RGB", (2000, 20), "white"))
    assert "blank" in missing_drawing(Image.new("RGB", (400, 300), "white"))
    table = Image.new("L", (400, 300), 255)
    draw = ImageDraw.Draw(table)
    for y in (10, 100, 200, 290):
        draw.line([(10, y), (390, y)], fill=0)
    for x in (10, 200, 390):
        draw.line([(x, 10), (x, 290)], fill=0)
    assert "ruled lines" in missing_drawing(table)
    logo = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(logo).regular_polygon((150, 150, 60), 6, fill=0)  # a solid hexagon is no cyclohexane
    assert "solid filled shapes" in missing_drawing(logo)


def test_non_structure_pictures_are_the_same_for_a_seed_and_cover_every_kind():
    first = [(kind, _png(image)) for kind, image in non_structure_images(20, seed=3)]
    again = [(kind, _png(image)) for kind, image in non_structure_images(20, seed=3)]
    other = [(kind, _png(image)) for kind, image in non_structure_images(20, seed=4)]
    assert first == again and first != other
    assert {kind for kind, _ in first} == set(KINDS)


def _run_osra_cli(path: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "chemvlm", "ask", str(path), QUESTION, "--json", "--model", "osra"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_phone_jpeg_with_exif_rotation_is_read_upright_by_the_command_line(tmp_path):
    # stored sideways with "rotate 90° clockwise to view" (EXIF orientation 6), as phones write them
    upright = load_image(EXAMPLE)
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    sideways.save(path, format="JPEG", quality=95, exif=exif)
    assert load_image(path).size == upright.size
    assert _run_osra_cli(path)["canonical"] == EXAMPLE_SMILES


def test_an_animated_gif_is_read_by_its_first_frame(tmp_path):
    first = load_image(EXAMPLE)
    # a later frame with a longer SMILES: read frame by frame, it would win as "the main structure"
    later = Image.open(io.BytesIO(draw_molecule("CCCCCCCCCCCCCCCCCCCCCC(=O)OCCCCCCCCCCCCCCCC(=O)O", size=first.size)))
    path = tmp_path / "animated.gif"
    first.save(path, save_all=True, append_images=[later.convert("RGB")], duration=500)
    assert len(canonical_smiles("CCCCCCCCCCCCCCCCCCCCCC(=O)OCCCCCCCCCCCCCCCC(=O)O")) > len(EXAMPLE_SMILES)
    assert _run_osra_cli(path)["canonical"] == EXAMPLE_SMILES


def test_a_crashing_osra_is_reported_by_signal_name(tmp_path):
    crashing = tmp_path / "osra"
    crashing.write_text("#!/bin/sh\nkill -ABRT $$\n")
    crashing.chmod(0o755)
    engine = load_engine(ModelSpec.parse("osra"), executable=str(crashing))
    record = engine.predict([Query(id="x", images=[str(EXAMPLE)], question=QUESTION)])[0]
    assert record.error.endswith("crashed (SIGABRT)") and "-6" not in record.error


def test_placeholder_atoms_are_named_in_the_explanation():
    assert "Markush structure" in explain(describe("*c1ccccc1"))
    assert "马库什" in explain(describe("*c1ccccc1"), "zh")
    assert "Markush" not in explain(describe("c1ccccc1"))


def test_the_bundled_model_has_a_name():
    spec = ModelSpec.parse("chemvlm-mini")
    assert spec.kind == "local" and Path(spec.target) == BUNDLED_MODEL and str(spec) == "chemvlm-mini"


def test_atoms_osra_could_not_read_are_no_structure():
    from chemvlm.chem.smiles import unreadable_atoms

    assert unreadable_atoms("CC*C1*CC2CCC(C(C)CC)CC12") == 2  # `*` inside rings and chains: unread marks
    assert unreadable_atoms("*c1ccccc1") == 0 and unreadable_atoms("CCO") == 0  # an R group ends a chain
    # overlapping circles of a logo, which osra reads as a ring system with unread atoms
    logo = next(image for i, (kind, image) in enumerate(non_structure_images(57, seed=1)) if i == 56)
    record = load_engine("osra").predict([Query(id="logo", images=[logo], question=QUESTION)])[0]
    assert not record.smiles and "osra could not read 2 of the atoms it found" in record.answer
