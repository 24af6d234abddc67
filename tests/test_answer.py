"""Answers of recognition-only engines: RDKit facts, and the option those facts single out."""

import random

import pytest

from chemvlm.chem.answer import answer_question, chosen_option
from chemvlm.data.tasks import molecule_qa

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("seed", range(12))
def test_generated_choice_questions_are_answered_right(lang, seed):
    question, letter = molecule_qa("choice", ASPIRIN, lang, random.Random(seed))
    assert chosen_option(ASPIRIN, question) == letter


def test_weight_smiles_and_hbond_options():
    assert chosen_option(ASPIRIN, "What is its weight?\nA. 150.10\nB. 180.16 g/mol\nC. 194.19") == "B"
    assert chosen_option(ASPIRIN, "Which molecule is shown?\nA. CCO\nB. OC(=O)c1ccccc1OC(C)=O\nC. c1ccccc1") == "B"
    assert chosen_option(ASPIRIN, "氢键供体有几个？\nA. 0\nB. 1\nC. 2\nD. 3") == "B"
    assert chosen_option(ASPIRIN, "How many rings?\nA. 1\nB. 1\nC. 2") is None  # two options agree: no pick
    assert chosen_option(ASPIRIN, "What is this?") is None
    assert chosen_option("not a smiles", "Rings?\nA. 1\nB. 2") is None
    # "ring" inside another word is not a ring question; aromatic rings are counted as such
    assert chosen_option(ASPIRIN, "Considering its structure, what is its weight?\nA. 1\nB. 180.16") == "B"
    assert chosen_option("c1ccc2c(c1)CCCC2", "How many aromatic rings?\nA. 1\nB. 2") == "A"
    assert chosen_option(ASPIRIN, "Which?\nA. \nB.  \nC. ３") is None  # odd option text never raises


def test_answer_leads_with_the_option_and_carries_ring_and_hbond_facts():
    text = answer_question(ASPIRIN, "分子中有几个环？\nA. 0\nB. 1\nC. 2\nD. 3\n请直接回答选项的字母。")
    assert text.startswith("答案：B。") and "C9H8O4" in text and "氢键供体 1 个" in text
    english = answer_question(ASPIRIN, "Describe it.")
    assert "Rings: 1 (1 aromatic)" in english and "acceptors 3" in english
    assert "No chemical structure" in answer_question("", "Describe it.")
