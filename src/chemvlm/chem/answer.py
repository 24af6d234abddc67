"""What a recognition-only engine (osra, chemvlm-mini, their ensemble) answers: RDKit's facts about the
recognised SMILES, and, when the question offers lettered options, the one option those facts single out.

A small model is asked only for the structure; everything else is computed, so formula, weight, ring and
hydrogen-bond answers are exactly as right as the recognised SMILES.
"""

from __future__ import annotations

import re

from chemvlm.chem.explain import explain, language_of
from chemvlm.chem.properties import properties
from chemvlm.chem.smiles import canonical_smiles, describe, parse_smiles

_OPTION = re.compile(r"(?m)^\s*[\(（]?([A-H])[\)）]?[.．、:：)）]\s*(.+?)\s*$")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def _asks(question: str, words: tuple[str, ...]) -> bool:
    """Whether the question names one of `words` (whole English words; Chinese words as they are)."""
    lower = question.lower()
    return any(re.search(rf"\b{w}s?\b", lower) if w.isascii() else w in lower for w in words)


def option_matches(option: str, smiles: str, question: str) -> bool:
    """Whether RDKit's facts about `smiles` agree with one option's text."""
    mol = parse_smiles(smiles)
    if mol is None:
        return False
    facts = properties(mol)
    text = option.strip().rstrip("。.")
    as_smiles = canonical_smiles(text) if text and " " not in text else None
    if as_smiles is not None:
        return as_smiles == canonical_smiles(smiles)
    if text.replace(" ", "") == facts.formula:
        return True
    if len(text.split()) > 3 or len(text) > 24:  # a description: it must name this formula and weight
        return (re.search(rf"(?<![A-Za-z0-9]){re.escape(facts.formula)}(?![a-z0-9])", text) is not None
                and f"{facts.weight:.2f}" in text)
    number = _NUMBER.fullmatch(text.split()[0]) if text.split() else None
    if number is None:
        return False
    value = float(number.group())
    if _asks(question, ("aromatic ring", "芳香环")):
        return value == facts.aromatic_rings
    if _asks(question, ("ring", "环")):
        return value == facts.rings
    if _asks(question, ("donor", "供体")):
        return value == facts.hbd
    if _asks(question, ("acceptor", "受体")):
        return value == facts.hba
    if _asks(question, ("weight", "mass", "分子量", "质量")):
        return abs(value - facts.weight) < 0.06
    return False


def chosen_option(smiles: str, question: str) -> str | None:
    """The letter of the only option that agrees with the molecule, or None (no options, or not one match)."""
    options = _OPTION.findall(question or "")
    if len(options) < 2 or parse_smiles(smiles) is None:
        return None
    matching = [letter for letter, text in options if option_matches(text, smiles, question)]
    return matching[0] if len(matching) == 1 else None


def answer_question(smiles: str, question: str) -> str:
    """The explanation in the question's language with ring and hydrogen-bond facts, led by the chosen
    option when the question offers options."""
    language = language_of(question)
    text = explain(describe(smiles), language)
    mol = parse_smiles(smiles) if smiles else None
    if mol is not None:
        f = properties(mol)
        text += (f"环 {f.rings} 个（芳香环 {f.aromatic_rings} 个），氢键供体 {f.hbd} 个，氢键受体 {f.hba} 个。"
                 if language == "zh" else
                 f" Rings: {f.rings} ({f.aromatic_rings} aromatic); hydrogen-bond donors {f.hbd}, acceptors {f.hba}.")
    letter = chosen_option(smiles, question)
    if letter:
        text = (f"答案：{letter}。" if language == "zh" else f"The answer is {letter}. ") + text
    return text
