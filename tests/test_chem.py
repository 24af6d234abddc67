import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chemvlm.chem import canonical_smiles, describe, draw_molecule, extract_smiles
from chemvlm.chem.explain import explain, language_of
from chemvlm.chem.smiles import looks_like_smiles

# Real reference answers of ChemVLM's ChemOCR benchmark (mm_chem_ocr.jsonl.test.jsonl, lijunxian111/ChemVlm).
REAL_ANSWERS = [
    ("依据我的观察，这个图片展示的分子式，按SMILES来说是 CC1C=C(C=CN=1)C1C=CC2N=C(NC3C=C(C=CN=3)N3CCN(CC3)C(=O)COC)SC=2N=1。",
     "CC1C=C(C=CN=1)C1C=CC2N=C(NC3C=C(C=CN=3)N3CCN(CC3)C(=O)COC)SC=2N=1"),
    ("In my view, the molecular formula displayed in the image with a SMILES representation is CN1C2[Ir]C3CCCCC3N2C2C=CC=CC1=2.",
     "CN1C2[Ir]C3CCCCC3N2C2C=CC=CC1=2"),
    ("从科学的视角来看，这张图片中的分子式用SMILES标记，应是 CN1C2=CC=CC=C2C2N=C(NC3C=CC(=CC=3)C(O)=O)N=CC=2CC1=O。",
     "CN1C2=CC=CC=C2C2N=C(NC3C=CC(=CC=3)C(O)=O)N=CC=2CC1=O"),
    # invalid SMILES in the reference: still recovered as written, so that it is scored as invalid
    ("我感觉这张图中的分子式，以SMILES的方式表示出来，是 CC1=CC(=NN=C1Br)C1=CC(=CC=C1)N(O)=O。",
     "CC1=CC(=NN=C1Br)C1=CC(=CC=C1)N(O)=O"),
    ("ientific viewpoint, the molecular formula in this image, marked with SMILES, should be C[C@@H](C1=CC=C(F)C=N1O)C(C)(C)C.",
     "C[C@@H](C1=CC=C(F)C=N1O)C(C)(C)C"),
]


@pytest.mark.parametrize("answer, smiles", REAL_ANSWERS)
def test_extracts_smiles_from_real_reference_answers(answer, smiles):
    assert extract_smiles(answer) == smiles


def test_prefers_the_molecule_over_english_words_that_parse():
    assert extract_smiles("I think CO is not it; the SMILES is CCOC(=O)C.") == "CCOC(=O)C"
    assert extract_smiles("The answer (CCO).") == "CCO"
    assert extract_smiles("no chemistry here at all") is None
    assert extract_smiles("") is None


@pytest.mark.parametrize("text", ["CCO", "C1CC(", "c1ccccc1", "[Na+].[Cl-]", "CO"])
def test_bare_smiles_answers_valid_or_not_look_like_smiles(text):
    assert looks_like_smiles(text)


@pytest.mark.parametrize("text", ["", "B", "Yes", "Benzene", "the SMILES is CCO", "乙醇", "C C"])
def test_words_letters_and_sentences_do_not_look_like_smiles(text):
    assert not looks_like_smiles(text)


SMILES_POOL = [
    "C", "CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "C[C@H](N)C(=O)O", "F/C=C/F", "[Na+].[Cl-]",
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C", "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O", "N#N", "ClC(Cl)Cl",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "O=[N+]([O-])c1ccccc1", "C1CC2CCC1C2", "BrCCBr", "[2H]C([2H])([2H])O",
]
TEMPLATES = [
    "依据我的观察，这个图片展示的分子式，按SMILES来说是 {}。",
    "In my view, the molecular formula displayed in the image with a SMILES representation is {}.",
    "SMILES: {}",
    "图中分子的SMILES是{}",
    "The structure is `{}`, I think.",
    "Answer: {}\nFormula follows.",
]


# Surrounding prose: anything but the characters a SMILES is made of (prose made of those could
# itself be a longer valid SMILES, and then no extractor could know which one was meant).
PROSE = st.text(alphabet=st.characters(exclude_characters="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@+-[]()=#$/\\%.:*~"), max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SMILES_POOL), st.sampled_from(TEMPLATES), PROSE, PROSE)
def test_finds_every_valid_smiles_given_in_a_template(smiles, template, before, after):
    text = before + " " + template.format(smiles) + " " + after
    found = extract_smiles(text)
    assert found is not None and canonical_smiles(found) == canonical_smiles(smiles)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_extractor_never_crashes(text):
    result = extract_smiles(text)
    assert result is None or isinstance(result, str)


def test_describe_reports_rdkit_facts():
    aspirin = describe("OC(=O)c1ccccc1OC(C)=O")
    assert aspirin.valid and aspirin.canonical == "CC(=O)Oc1ccccc1C(=O)O"
    assert aspirin.formula == "C9H8O4" and abs(aspirin.weight - 180.159) < 1e-3
    assert aspirin.inchikey == "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"
    broken = describe("C1CC")
    assert not broken.valid and broken.canonical is None


def test_canonical_smiles_keeps_or_drops_stereo():
    assert canonical_smiles("N[C@@H](C)C(=O)O") == "C[C@H](N)C(=O)O"
    assert canonical_smiles("N[C@@H](C)C(=O)O", isomeric=False) == "CC(N)C(=O)O"
    assert canonical_smiles("not a smiles") is None


def test_explanation_is_in_the_question_language_and_names_the_smiles():
    info = describe("CCO")
    assert language_of("这是什么？") == "zh" and language_of("What is it?") == "en"
    zh, en = explain(info, "zh"), explain(info, "en")
    assert "按SMILES来说是 CCO" in zh and "C2H6O" in zh
    assert "SMILES representation CCO" in en and extract_smiles(en) == "CCO" and extract_smiles(zh) == "CCO"


def test_draw_molecule_png_and_svg():
    png = draw_molecule("c1ccccc1O", size=(200, 150))
    assert png.startswith(b"\x89PNG")
    svg = draw_molecule("c1ccccc1O", fmt="svg")
    assert b"<svg" in svg
    with pytest.raises(ValueError, match="invalid SMILES"):
        draw_molecule("C1CC")


def test_explanation_of_a_markush_structure_has_no_inchikey():
    info = describe("*c1ccccc1")
    assert info.valid and info.inchikey is None
    assert "None" not in explain(info, "en") and "None" not in explain(info, "zh")
