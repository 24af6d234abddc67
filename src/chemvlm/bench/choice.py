"""Which option a free answer chose, in Chinese or English ("答案：C", "The answer is (B).", "B. …")."""

from __future__ import annotations

import re
import unicodedata

# Phrases that announce the answer; the letters right after the last one are the choice.
_MARKERS = (
    r"答案(?:应该|应)?(?:是|为|选)?",
    r"正确(?:答案|选项)(?:是|为)?",
    r"故选|应选|选择|选项|选",
    r"(?:correct|final|best)?\s*(?:answer|option|choice)\s*(?:is|would be|should be|:)?",
)
_MARKER = re.compile(r"(?:" + "|".join(_MARKERS) + r")\s*[】\]]?\s*[:：]?\s*", re.IGNORECASE)


def _letters_at(text: str, letters: str) -> str | None:
    """Option letters at the start of `text`: "C", "(B)", "【A】", "A、C", "AB"; None if none there."""
    group = rf"[\(（【\[]?([{letters}])[\)）】\]]?"
    match = re.match(rf"\s*{group}(?:\s*[、,，和与&]?\s*{group})*(?![A-Za-z])", text)
    if not match:
        return None
    return "".join(sorted(set(re.findall(rf"[{letters}]", match.group()))))


def extract_choice(answer: str, letters: str = "ABCD") -> str | None:
    """The chosen letter(s), sorted ("B", "AC"), or None when the answer names no option clearly."""
    if not answer:
        return None
    text = unicodedata.normalize("NFKC", answer).strip()  # full-width "Ｃ" and "：" become ASCII
    # 1. an announced answer: the last announcement wins ("…not A. The answer is B.")
    for match in reversed(list(_MARKER.finditer(text))):
        found = _letters_at(text[match.end():], letters)
        if found:
            return found
    # 2. the answer opens with the option: "B", "B. The molecule is…", "(C) 0.12"
    found = _letters_at(text, letters)
    if found and (len(text) <= 8 or re.match(rf"\s*[\(（【\[]?[{letters}][\)）】\].、:：]", text)):
        return found
    # 3. exactly one option letter written as an option label somewhere: "… so (B)", "选 B 项"
    labelled = set(re.findall(rf"(?<![A-Za-z])[\(（【\[]([{letters}])[\)）】\]]", text))
    labelled |= set(re.findall(rf"(?<![A-Za-z])([{letters}])(?=[.、:：)）]\s|[.、)）]$)", text))
    if len(labelled) == 1:
        return labelled.pop()
    return None


def options_in(question: str) -> str:
    """The option letters a question offers ("A.…B.…" or "【A】…"), at least ABCD."""
    found = set(re.findall(r"(?:^|[\s;；。.】\]])[\(（【\[]?([A-H])[\)）】\].．、:：]", question))
    letters = "".join(sorted(found | set("ABCD")))
    return letters
