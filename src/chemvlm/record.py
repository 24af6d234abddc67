"""The prediction record: one JSON line per answered item, shared by `ocr`, `eval` and `serve`.

CSV and SDF files are views of the same record. Writers append and flush item by item, and know
which ids are already done, so that a killed run resumes without redoing or losing anything.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from chemvlm.chem import canonical_smiles, extract_smiles, parse_smiles
from chemvlm.errors import InputError
from chemvlm.jsonl import iter_jsonl


@dataclass
class Prediction:
    id: str
    image: str  # path or a short description of the input image(s)
    question: str
    answer: str  # the engine's full answer text
    smiles: str | None  # SMILES found in the answer, as written
    canonical: str | None  # RDKit canonical SMILES, None when invalid or absent
    valid: bool
    engine: str  # which engine answered: "chemvlm", "osra", "openai", "ensemble"
    model: str  # the model spec string
    seconds: float
    error: str | None = None  # set when the item failed; the run goes on
    # Where a structure of a document was found (None for a single image): the file as given, the 1-based
    # page, the box [x0, y0, x1, y1] and the page's [width, height], in pixels of the rendered page.
    document: str | None = None
    page: int | None = None
    bbox: list[float] | None = None
    page_size: list[int] | None = None
    label: str | None = None  # the compound identifier printed with the structure ("12a")
    confidence: float | None = None  # in [0, 1]: how sure the engine (and the segmenter) are; None: not said
    answered_by: str | None = None  # which reader gave the SMILES: "graph" or "generation", ensemble members

    @classmethod
    def from_answer(cls, *, id, image, question, answer, engine, model, seconds, smiles=None, error=None):
        """Fill the chemistry fields from the answer (or from `smiles` when the engine gives it directly)."""
        smiles = smiles if smiles is not None else extract_smiles(answer or "")
        canonical = canonical_smiles(smiles) if smiles else None
        return cls(
            id=str(id), image=str(image), question=question, answer=answer or "", smiles=smiles,
            canonical=canonical, valid=canonical is not None, engine=engine, model=str(model),
            seconds=round(float(seconds), 4), error=error,
        )

    def to_dict(self) -> dict:
        return asdict(self)


FIELDS = [f.name for f in fields(Prediction)]


def hold_for_review(prediction: Prediction, threshold: float) -> Prediction:
    """The record without its structure when the engine is less sure of it than `threshold` (or does not say
    how sure it is): no SMILES is given, and the answer names what was read, for a person to check."""
    if not prediction.smiles or (prediction.confidence is not None and prediction.confidence >= threshold):
        return prediction
    sure = "no confidence given" if prediction.confidence is None else f"confidence {prediction.confidence:.2f}"
    answer = f"Held for review ({sure}, below {threshold:.2f}); the engine read {prediction.smiles}."
    return replace(prediction, smiles=None, canonical=None, valid=False, answer=answer)
_NUMBERS = {"seconds": float, "confidence": float, "page": int}
_LISTS = ("bbox", "page_size")


class RecordFileError(InputError, ValueError):
    """A predictions file that cannot be read back or written; names the file (and line)."""


def read_predictions(path: str | Path) -> list[Prediction]:
    """Records from a JSONL file; a malformed line raises an error naming the file and line number."""
    records = []
    for where, row in iter_jsonl(path, error=RecordFileError):
        try:
            records.append(Prediction(**{k: row.get(k) for k in FIELDS}))
        except TypeError as err:
            raise RecordFileError(f"{where}: not a prediction record ({err})") from None
    return records


class PredictionWriter:
    """Appends records to .jsonl, .csv or .sdf; `done` holds the ids already in the file and `done_images`
    their `image` fields. A file that cannot be written is refused here, before any item is worked on."""

    def __init__(self, path: str | Path, min_confidence: float | None = None):
        self.path = Path(path)
        self.min_confidence = min_confidence  # answers below it are held for review (hold_for_review)
        self.format = self.path.suffix.lower().lstrip(".")
        if self.format not in ("jsonl", "csv", "sdf"):
            raise RecordFileError(f"{self.path}: output must end in .jsonl, .csv or .sdf")
        folder = next(p for p in self.path.parents if p.exists())  # the first part of the path that exists
        if not folder.is_dir():
            raise RecordFileError(f"{self.path}: {folder} is not a folder")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.open("a", encoding="utf-8").close()  # fails now (permissions, a folder of that name) rather than mid-run
            self._truncate_partial()
            done = self._read_done()
        except OSError as err:
            raise RecordFileError(f"{self.path}: cannot be written ({err.strerror})") from None
        except UnicodeDecodeError:
            raise RecordFileError(f"{self.path}: not a UTF-8 text file, so not a predictions file") from None
        self.done: set[str] = {id for id, _ in done}
        self.done_images: set[str] = {image for _, image in done}

    def _read_done(self) -> list[tuple[str, str]]:
        """(id, image) of every complete record in the file."""
        if self.format == "jsonl":
            done = []
            with self.path.open(encoding="utf-8") as handle:
                for line in handle:
                    try:
                        row = json.loads(line)
                        done.append((str(row["id"]), str(row.get("image") or "")))
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue  # not a record: the item it meant is redone
            return done
        if self.format == "csv":
            with self.path.open(encoding="utf-8", newline="") as handle:
                return [(row["id"], row.get("image") or "") for row in csv.DictReader(handle) if row.get("id")]
        text = self.path.read_text(encoding="utf-8")
        done = []
        for record in text.split("$$$$")[:-1]:  # a record without its terminator was cut by a kill
            lines = record.splitlines()
            values = {key.strip()[3:-1]: value.strip() for key, value in zip(lines, lines[1:]) if key.startswith("> <")}
            if values.get("id"):
                done.append((values["id"], values.get("image", "")))
        return done

    def _truncate_partial(self) -> None:
        """Drop a half-written last record (the run was killed mid-write)."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = b"$$$$\n" if self.format == "sdf" else b"\n"
        if data and not data.endswith(end):
            cut = data.rfind(end)
            self.path.write_bytes(data[: cut + len(end)] if cut >= 0 else b"")

    def write(self, prediction: Prediction) -> None:
        if self.min_confidence is not None:
            prediction = hold_for_review(prediction, self.min_confidence)
        if self.format == "jsonl":
            line = json.dumps(prediction.to_dict(), ensure_ascii=False) + "\n"
        elif self.format == "csv":
            new = not self.path.exists() or self.path.stat().st_size == 0
            from io import StringIO

            buffer = StringIO()
            # a file begun by an earlier version keeps its columns, so that its rows stay aligned
            columns = FIELDS if new else self._csv_columns()
            writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(_flat(prediction))
            line = buffer.getvalue()
        else:
            line = _sdf_record(prediction)
        with self.path.open("a", encoding="utf-8", newline="") as handle:
            handle.write(line)
            handle.flush()
        self.done.add(prediction.id)
        self.done_images.add(prediction.image)

    def _csv_columns(self) -> list[str]:
        with self.path.open(encoding="utf-8", newline="") as handle:
            return next(csv.reader(handle), None) or FIELDS


def _flat(prediction: Prediction) -> dict:
    """The record's values as text fields take them: boxes and sizes as JSON lists."""
    values = prediction.to_dict()
    return {k: json.dumps(v) if k in _LISTS and v is not None else v for k, v in values.items()}


def read_records(path: str | Path) -> list[Prediction]:
    """Records from a .jsonl, .csv or .sdf predictions file (a text field left empty reads as None)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_predictions(path)
    if suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    elif suffix == ".sdf":
        rows = []
        for block in path.read_text(encoding="utf-8").split("$$$$")[:-1]:
            lines = block.splitlines()
            rows.append({key.strip()[3:-1]: value for key, value in zip(lines, lines[1:]) if key.startswith("> <")})
    else:
        raise RecordFileError(f"{path}: predictions must end in .jsonl, .csv or .sdf")
    return [_typed(row, f"{path}: record {number}") for number, row in enumerate(rows, start=1)]


def _typed(row: dict, where: str) -> Prediction:
    values = {}
    try:
        for key in FIELDS:
            text = row.get(key)
            text = None if text in (None, "") and key not in ("answer", "smiles") else text
            if text is None or key not in (*_NUMBERS, *_LISTS, "valid"):
                values[key] = text
            elif key == "valid":
                values[key] = text == "True"
            else:
                values[key] = json.loads(text) if key in _LISTS else _NUMBERS[key](text)
        values["answer"] = values["answer"] or ""
        return Prediction(**values)
    except (ValueError, TypeError) as err:
        raise RecordFileError(f"{where}: not a prediction record ({err})") from None


def _sdf_record(prediction: Prediction) -> str:
    from rdkit import Chem

    mol = parse_smiles(prediction.canonical or "") if prediction.valid else None
    block = Chem.MolToMolBlock(mol) if mol is not None else Chem.MolToMolBlock(Chem.Mol())
    lines = block.splitlines()
    lines[0] = prediction.id  # the molecule's name line
    properties = "".join(
        f"> <{key}>\n{'' if value is None else str(value).replace(chr(10), ' ')}\n\n"
        for key, value in _flat(prediction).items()
    )
    return "\n".join(lines) + "\n" + properties + "$$$$\n"
