"""Import exam questions (JSONL with images) into InternVL conversation samples.

Each input line is one question: {"id"?, "question", "options"? (list or {letter: text}), "answer",
"analysis"?, "image" | "images"} — image paths relative to the JSONL file. Lines already in InternVL form
({"conversations": …}) pass through after validation. Every problem names the file and line.
"""

from __future__ import annotations

from pathlib import Path

from chemvlm.chem.explain import language_of
from chemvlm.data.tasks import LETTERS, format_prompt
from chemvlm.errors import InputError
from chemvlm.jsonl import iter_jsonl


class ExamFormatError(InputError, ValueError):
    pass


def import_exam(path: str | Path, check_images: bool = True) -> list[dict]:
    """InternVL samples for every question in `path`; raises ExamFormatError("file:line: why") on a bad line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such exam file")
    return [
        _sample(item, where, path.parent, check_images)
        for where, item in iter_jsonl(path, error=ExamFormatError)
    ]


def _sample(item: dict, where: str, base: Path, check_images: bool) -> dict:
    images = item.get("images") or ([item["image"]] if item.get("image") else [])
    if isinstance(images, str):
        images = [images]
    for image in images:
        if check_images and not (base / image).is_file():
            raise ExamFormatError(f"{where}: image {image} not found next to the file")
    if "conversations" in item:
        turns = item["conversations"]
        if not (isinstance(turns, list) and len(turns) >= 2 and turns[0].get("from") == "human"):
            raise ExamFormatError(f"{where}: conversations must start with a human turn and have an answer")
        conversations = turns
    else:
        question, answer = item.get("question"), item.get("answer")
        if not question or answer in (None, ""):
            raise ExamFormatError(f"{where}: needs 'question' and 'answer'")
        lang = language_of(question)
        options = item.get("options")
        if options:
            pairs = list(options.items()) if isinstance(options, dict) else list(zip(LETTERS, options))
            question = "\n".join([question] + [f"{letter}. {text}" for letter, text in pairs])
            question += "\n" + format_prompt("choice", lang)
            if str(answer).strip() not in {letter for letter, _ in pairs}:
                raise ExamFormatError(f"{where}: answer {answer!r} is not one of the option letters")
        reply = str(answer) if not item.get("analysis") else f"{item['analysis']}\n{answer}"
        prefix = "".join("<image>\n" for _ in images)
        conversations = [{"from": "human", "value": prefix + question}, {"from": "gpt", "value": reply}]
    sample = {"id": item.get("id", f"exam-{where.rsplit(':', 1)[1]}"), "conversations": conversations}  # line number
    if images:
        sample["image"] = images[0] if len(images) == 1 else images
    return sample
