"""Importers: published benchmark formats into BenchItems.

- InternVL conversation JSONL, the format of ChemVLM's own benchmark files (ChemOCR, MMChemBench,
  MMCR-Bench): `{"id", "image"|"images", "conversations": [human, gpt]}`; the gpt turn is the truth.
- ScienceQA `problems.json` (chemistry topic) and CMMU JSONL (chemistry subject).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from chemvlm.bench.items import BenchFileError, BenchItem, read_jsonl
from chemvlm.chem.explain import language_of
from chemvlm.chem.smiles import extract_smiles

LETTERS = "ABCDEFGH"
_ONLY_LETTERS = re.compile(r"^\s*[\(（【\[]?([A-H](?:[、,，\s]*[A-H])*)[\)）】\]]?[.。]?\s*$")
# MMCR-Bench answers: "答案：\nC\n解析：…", "【答案】C\n【解析】…", "这一题的答案是C\n这题的解析是…"
_EXAM = re.compile(r"^\s*(?:答案\s*[：:]|【答案】|这一题的答案是)(.*?)(?:(?:解析\s*[：:]|【解析】|这题的解析是)(.*))?$", re.S)


def option_letters(text: str) -> str | None:
    match = _ONLY_LETTERS.match(text)
    return "".join(sorted(set(re.findall(r"[A-H]", match.group(1))))) if match else None


def split_exam_answer(text: str) -> tuple[str, str]:
    """(answer, analysis) of an exam reference answer; the whole text as answer when unmarked."""
    match = _EXAM.match(text)
    if not match:
        return text.strip(), ""
    return match.group(1).strip(), (match.group(2) or "").strip()


def _resolve(path: str, root: Path | None) -> str:
    return str(root / path) if root is not None and not Path(path).is_absolute() else path


def from_conversation(row: dict, root: Path | None = None, subset: str | None = None) -> BenchItem:
    """One InternVL conversation row. The kind follows the truth: option letters are multiple choice,
    a reference answer naming a SMILES is ChemOCR, anything else is free-form (for the judge)."""
    turns = row.get("conversations")
    if not isinstance(turns, list) or len(turns) < 2:
        raise ValueError("expected 'conversations' with a human and a gpt turn")
    question = re.sub(r"\s*<image>\s*", "\n", str(turns[0]["value"])).strip()
    truth = str(turns[1]["value"])
    images = row.get("images", row.get("image", []))
    images = [images] if isinstance(images, str) else list(images or [])
    answer, analysis = split_exam_answer(truth)
    letters = option_letters(answer)
    if letters:
        kind, answer = "choice", letters
    elif re.search("smiles", truth, re.I) and not analysis:
        # an empty or invalid SMILES stays: it is an invalid truth, skipped and counted by the scorer
        kind, answer = "smiles", extract_smiles(truth) or ""
    else:
        kind = "free"
    if subset is None:  # ChemOCR images sit in a folder per source: …/real/staker/41635.png
        subset = Path(images[0]).parent.name if images else ""
    return BenchItem(
        id=str(row.get("id", "")), question=question, answer=answer, kind=kind,
        images=[_resolve(i, root) for i in images], subset=subset, language=language_of(question),
        analysis=analysis,
    )


def import_conversations(path: str | Path, root: str | Path | None = None, subset: str | None = None) -> list[BenchItem]:
    """Items from an InternVL-format JSONL; image paths resolve against `root` when given."""
    root = Path(root) if root is not None else None
    items = []
    for number, row in enumerate(read_jsonl(path), 1):
        try:
            item = from_conversation(row, root, subset)
        except (KeyError, TypeError, ValueError) as err:
            raise BenchFileError(f"{path}: record {number}: {err}") from None
        item.id = item.id or f"{Path(path).stem}-{number}"
        items.append(item)
    return items


def _options(options: list[str]) -> str:
    return "\n".join(f"{LETTERS[i]}. {option}" for i, option in enumerate(options))


def import_scienceqa(problems: str | Path, root: str | Path | None = None, split: str | None = "test",
                     topic: str = "chemistry", with_images: bool = True) -> list[BenchItem]:
    """ScienceQA `problems.json` ({pid: {question, choices, answer index, hint, image, topic, split}});
    images at ROOT/images/SPLIT/PID/image.png as the dataset ships them."""
    problems = Path(problems)
    try:
        data = json.loads(problems.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchFileError(f"{problems}: no such file") from None
    except json.JSONDecodeError as err:
        raise BenchFileError(f"{problems}: not valid JSON (line {err.lineno}: {err.msg})") from None
    root = Path(root) if root is not None else problems.parent
    items = []
    for pid, p in data.items():
        if p.get("topic") != topic or (split and p.get("split") != split) or (with_images and not p.get("image")):
            continue
        context = f"Context: {p['hint']}\n" if p.get("hint") else ""
        question = f"{context}{p['question']}\n{_options(p['choices'])}\nAnswer with the option's letter."
        images = [str(root / "images" / p["split"] / pid / p["image"])] if p.get("image") else []
        items.append(BenchItem(
            id=f"scienceqa-{pid}", question=question, answer=LETTERS[int(p["answer"])], kind="choice",
            images=images, subset=p.get("category", topic), language="en", analysis=p.get("solution", ""),
        ))
    return items


def import_cmmu(path: str | Path, root: str | Path | None = None, subject: str = "chemistry") -> list[BenchItem]:
    """CMMU JSONL ({id, type, question_info, options, answer: [..], sub_questions, image, subject,
    solution_info}): multiple-choice and multiple-response are scored by letters, fill-in-the-blank by the judge."""
    root = Path(root) if root is not None else Path(path).parent
    items = []
    for number, row in enumerate(read_jsonl(path), 1):
        if row.get("subject") != subject:
            continue
        try:
            question = str(row["question_info"]).strip()
            if row.get("sub_questions"):
                question += "\n" + "\n".join(str(q) for q in row["sub_questions"])
            answer = row["answer"] if isinstance(row["answer"], list) else [row["answer"]]
            if row.get("type") in ("multiple-choice", "multiple-response"):
                question += "\n" + _options(row.get("options") or [])
                kind, truth = "choice", "".join(sorted(str(a).strip() for a in answer))
            else:
                kind, truth = "free", "; ".join(str(a) for a in answer)
        except (KeyError, TypeError) as err:
            raise BenchFileError(f"{path}:{number}: not a CMMU record (missing {err})") from None
        image = row.get("image")
        items.append(BenchItem(
            id=f"cmmu-{row.get('id', number)}", question=question, answer=truth, kind=kind,
            images=[_resolve(image, root)] if image else [], subset=row.get("type", ""),
            language=language_of(question), analysis=str(row.get("solution_info") or ""),
        ))
    return items
