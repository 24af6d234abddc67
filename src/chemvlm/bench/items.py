"""The benchmark item: one question with its images and its truth, the unit every importer produces."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from chemvlm.errors import InputError
from chemvlm.jsonl import iter_jsonl

KINDS = ("smiles", "choice", "free")  # how the answer is scored: chemistry OCR, option letter(s), LLM judge


class BenchFileError(InputError, ValueError):
    """A benchmark file that cannot be read; the message names the file (and line)."""


@dataclass
class BenchItem:
    id: str
    question: str
    answer: str  # the truth: a SMILES (smiles), letters such as "C" or "AB" (choice), reference text (free)
    kind: str = "smiles"
    images: list[str] = field(default_factory=list)  # absolute paths, or as written when the root is unknown
    subset: str = ""  # e.g. "clef2012", "staker", "caption": results are broken down by it
    language: str = ""  # "zh" or "en" (of the question)
    analysis: str = ""  # the reference explanation, shown to the judge of free-form answers

    def __post_init__(self):
        self.id = str(self.id)
        if self.kind not in KINDS:
            raise ValueError(f"item {self.id}: kind must be one of {KINDS}, got {self.kind!r}")

    def to_dict(self) -> dict:
        return asdict(self)


_NAMES = {f.name for f in fields(BenchItem)}


def read_jsonl(path: str | Path, where: bool = False) -> list:
    """JSON objects, one per line (with `where`: ("FILE:LINE", object) pairs); a missing file, a malformed
    line or bytes that are not UTF-8 raise BenchFileError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise BenchFileError(f"{path}: no such file")
    return [(at, row) if where else row for at, row in iter_jsonl(path, error=BenchFileError)]


def read_items(path: str | Path) -> list[BenchItem]:
    items = []
    for number, row in enumerate(read_jsonl(path), 1):
        try:
            items.append(BenchItem(**{k: v for k, v in row.items() if k in _NAMES}))
        except (TypeError, ValueError) as err:
            raise BenchFileError(f"{path}: item {number}: {err}") from None
    return items


def write_items(path: str | Path, items: list[BenchItem]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")
