"""The chosen option in free answers, Chinese and English."""

import pytest

from chemvlm.bench.choice import extract_choice, options_in


@pytest.mark.parametrize("answer, expected", [
    ("答案：C", "C"),
    ("答案：\nC\n解析：因为……", "C"),
    ("【答案】D\n【解析】本题考查……", "D"),
    ("这一题的答案是B", "B"),
    ("故选B。", "B"),
    ("该分子属于甾体，选项 B 正确。", "B"),
    ("正确答案为（A）", "A"),
    ("The answer is (B).", "B"),
    ("B. The molecule is a benzofuran derivative.", "B"),
    ("(C) -0.2486", "C"),
    ("D", "D"),
    ("Ｃ", "C"),  # full-width letter
    ("A is wrong because of the ring. The correct answer is C.", "C"),
    ("A molecule like this is an acid. Answer: D", "D"),
    ("【答案】AB", "AB"),
    ("The answer is A, C", "AC"),
])
def test_extracts_the_chosen_option(answer, expected):
    assert extract_choice(answer) == expected


@pytest.mark.parametrize("answer", ["", "I am not sure.", "A and B are both plausible", "这个分子含有苯环。", "answer: e"])
def test_unclear_answers_are_unparseable(answer):
    assert extract_choice(answer) is None


def test_letters_outside_the_options_are_not_chosen():
    assert extract_choice("The answer is E.", "ABCD") is None
    assert extract_choice("The answer is E.", options_in("Q? A.1 B.2 C.3 D.4 E.5")) == "E"


def test_options_in_reads_the_question_layout():
    assert options_in("下列说法正确的是( )\n【A】甲; 【B】乙; 【C】丙; 【D】丁; 【E】戊;") == "ABCDE"
    assert options_in("What is the LUMO? A.0.0159.B.0.0095.C.-0.0004.D.-0.0838") == "ABCD"
