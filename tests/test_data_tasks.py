"""Templates, question generators, multiple choice and the exam importer."""

import json
import random
import re

import pytest
from rdkit import Chem

from chemvlm.chem.smiles import extract_smiles
from chemvlm.data.exam import ExamFormatError, import_exam
from chemvlm.data.tasks import (
    LANGUAGES,
    MOLECULE_TASKS,
    REACTION_TASKS,
    choice_question,
    distractor_molecules,
    format_prompt,
    molecule_qa,
    reaction_qa,
    templates,
)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_templates_have_enough_distinct_phrasings(lang):
    for task in MOLECULE_TASKS + REACTION_TASKS:
        t = templates(lang)[task]
        assert len(set(t["questions"])) >= 20, task
        assert len(t["answers"]) >= 10, task


def test_paper_answer_style_and_smiles_recoverable():
    zh = templates("zh")["ocr"]["answers"][0].format(smiles="CCO")
    en = templates("en")["ocr"]["answers"][0].format(smiles="CCO")
    assert zh == "依据我的观察，这个图片展示的分子式，按SMILES来说是 CCO。"
    assert en == "In my view, the molecular formula displayed in the image with a SMILES representation is CCO."
    rng = random.Random(0)
    for lang in LANGUAGES:
        for _ in range(30):  # the project's answer extractor finds the label in every OCR answer
            _, answer = molecule_qa("ocr", "CC(=O)Oc1ccccc1C(=O)O", lang, rng)
            assert Chem.CanonSmiles(extract_smiles(answer)) == "CC(=O)Oc1ccccc1C(=O)O"


def test_property_answers_carry_rdkit_facts():
    rng = random.Random(1)
    for lang in LANGUAGES:
        assert "C9H8O4" in molecule_qa("formula", "CC(=O)Oc1ccccc1C(=O)O", lang, rng)[1]
        assert "180.16" in molecule_qa("weight", "CC(=O)Oc1ccccc1C(=O)O", lang, rng)[1]
    _, answer = molecule_qa("lipinski", "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC(=O)O", "en", rng)
    assert "does not satisfy" in answer


def test_choice_question_api():
    text, letter = choice_question("Which is ethanol?", "CCO", ["CCN", "CCC", "CCO", "CCS"], random.Random(2))
    options = re.findall(r"^([ABCD])\. (.+)$", text, re.M)
    assert [o[0] for o in options] == list("ABCD") and dict(options)[letter] == "CCO"
    assert text.endswith(format_prompt("choice", "en"))
    with pytest.raises(ValueError, match="3 distractors"):
        choice_question("?", "CCO", ["CCO", "CCN"], random.Random(0))


def test_distractors_are_valid_near_neighbours():
    smiles = "CC(=O)Nc1ccc(O)cc1"
    wrong = distractor_molecules(smiles, random.Random(3), count=3)
    assert len(set(wrong)) == 3 and Chem.CanonSmiles(smiles) not in wrong
    heavy = Chem.MolFromSmiles(smiles).GetNumHeavyAtoms()
    for w in wrong:
        mol = Chem.MolFromSmiles(w)
        assert mol is not None and abs(mol.GetNumHeavyAtoms() - heavy) <= 1


def test_generated_choice_items_have_one_right_letter():
    rng = random.Random(4)
    for lang in LANGUAGES:
        for smiles in ("CC(=O)Nc1ccc(O)cc1", "C[C@H](N)C(=O)O", "c1ccc2ccccc2c1"):
            question, answer = molecule_qa("choice", smiles, lang, rng)
            assert answer in "ABCD" and len(re.findall(r"^[ABCD]\. ", question, re.M)) == 4


def test_reaction_answers():
    _, answer = reaction_qa("products", "CC(=O)O.CCO>>CCOC(C)=O", "en", random.Random(0))
    assert "CCOC(C)=O" in answer and "CCO." not in answer


def test_exam_import(tmp_path):
    (tmp_path / "q1.png").write_bytes(b"png")
    good = [
        {"id": "q1", "question": "下列说法正确的是", "options": ["甲", "乙", "丙", "丁"], "answer": "B", "image": "q1.png"},
        {"question": "What is 2+2?", "answer": "4"},
    ]
    path = tmp_path / "exam.jsonl"
    path.write_text("\n".join(json.dumps(g, ensure_ascii=False) for g in good) + "\n")
    samples = import_exam(path)
    assert samples[0]["image"] == "q1.png" and samples[0]["conversations"][0]["value"].startswith("<image>\n下列")
    assert "B. 乙" in samples[0]["conversations"][0]["value"] and samples[0]["conversations"][1]["value"] == "B"
    assert "image" not in samples[1]
    path.write_text(json.dumps(good[1]) + "\n" + '{"question": "x", "answer": "E", "options": ["a","b","c","d"]}\n')
    with pytest.raises(ExamFormatError, match=r"exam.jsonl:2: answer 'E'"):
        import_exam(path)
    path.write_text("{broken\n")
    with pytest.raises(ExamFormatError, match=r"exam.jsonl:1: not valid JSON"):
        import_exam(path)
    path.write_text(json.dumps({"question": "q", "answer": "a", "image": "missing.png"}) + "\n")
    with pytest.raises(ExamFormatError, match=r"exam.jsonl:1: image missing.png not found"):
        import_exam(path)
