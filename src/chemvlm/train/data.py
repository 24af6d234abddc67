"""InternVL-format training data: a meta JSON naming JSONL shards, read into rows; images come from a
pluggable source.

Meta JSON: {name: {"root": image dir, "annotation": JSONL file | directory of shards | glob,
"repeat_time": float, "length": rows, "max_dynamic_patch": optional tiles per image}}.
A row: {"id", "image": path | [paths] (absent: text only), "conversations": [{"from": "human"|"gpt"|"system",
"value": "<image>\\n…"}, …]}. A line that is not such a row is skipped with its file and line, never a crash.
"""

from __future__ import annotations

import glob
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from chemvlm.data.shards import in_shard, read_member
from chemvlm.jsonl import iter_jsonl
from chemvlm.train.config import ConfigError


@dataclass
class AnnotationRow:
    """One row of an InternVL annotation file (or one rendered lazily): the conversation and where it came from."""

    data: dict  # the JSONL object
    dataset: str  # its name in the meta JSON
    root: str = ""  # image root of its dataset
    origin: str = ""  # "file:line", for messages
    max_tiles: int | None = None  # the dataset's max_dynamic_patch (None: the run's)

    @property
    def id(self) -> str:
        return str(self.data.get("id", self.origin))

    @property
    def images(self) -> list:
        image = self.data.get("image")
        if image is None or image == []:
            return []
        return list(image) if isinstance(image, (list, tuple)) else [image]


# An image source turns a row into its images: paths, bytes or PIL images (whatever `load_image` accepts).
# The default reads files under the dataset's root; tar shards or images rendered on the fly plug in here.
ImageSource = Callable[[AnnotationRow], Sequence[Any]]


def file_images(row: AnnotationRow) -> list:
    """Paths are relative to the dataset's root; "X.tar/member" is read from inside the tar shard X.tar (the
    data engine's layout); bytes and PIL images (lazy rows) pass through."""
    out = []
    for image in row.images:
        if isinstance(image, str) and not image.startswith("data:"):
            path = Path(row.root) / image if row.root else Path(image)
            image = read_member(path) if in_shard(image) else path
        out.append(image)
    return out


class LazyRows(Sequence):
    """Rows made on access by `render(item) -> (images, sample)`: the data engine's lazy rows
    (e.g. `chemvlm.data.rows.render_row`, which returns one PIL image and an InternVL sample)."""

    def __init__(self, items: Sequence, render: Callable, dataset: str = "lazy", length_guess: int | None = None):
        self.items, self.render, self.dataset = items, render, dataset
        self.estimated_lengths = [length_guess] * len(items) if length_guess else None  # no rendering to guess

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> AnnotationRow:
        images, sample = self.render(self.items[index])
        images = images if isinstance(images, (list, tuple)) else [images]
        return AnnotationRow(dict(sample, image=list(images)), self.dataset, origin=f"{self.dataset}[{index}]")


@dataclass
class SkipLog:
    """Samples left out and why, counted by reason; the first `keep` are kept with their ids."""

    counts: Counter = field(default_factory=Counter)
    examples: list[tuple[str, str]] = field(default_factory=list)
    keep: int = 100

    def add(self, sample_id: str, reason: str) -> None:
        self.counts[reason.split(":")[0]] += 1
        if len(self.examples) < self.keep:
            self.examples.append((sample_id, reason))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _shards(annotation: str) -> list[Path]:
    path = Path(annotation)
    if path.is_dir():
        return sorted(path.glob("*.jsonl"))
    if any(c in annotation for c in "*?["):
        return [Path(p) for p in sorted(glob.glob(annotation))]
    return [path]


def _valid(obj) -> str | None:
    """Why a parsed line is not a usable row (None when it is)."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    turns = obj.get("conversations")
    if not isinstance(turns, list) or not turns:
        return "no conversations"
    for turn in turns:
        if not isinstance(turn, dict) or turn.get("from") not in ("human", "gpt", "system") or not isinstance(turn.get("value"), str):
            return "a turn is not {from: human|gpt|system, value: text}"
    if not any(turn["from"] == "gpt" for turn in turns):
        return "no gpt turn to learn from"
    return None


def read_jsonl(path: Path, dataset: str, root: str, max_tiles: int | None, skips: SkipLog) -> list[AnnotationRow]:
    rows = []
    for origin, obj in iter_jsonl(path, on_error=lambda where, why: skips.add(where, f"malformed JSON: {where}: {why}")):
        problem = _valid(obj)
        if problem:
            skips.add(str(obj.get("id", origin)), f"bad row: {origin}: {problem}")
            continue
        rows.append(AnnotationRow(obj, dataset, root, origin, max_tiles))
    return rows


def _repeat(rows: list[AnnotationRow], repeat_time: float, seed: int) -> list[AnnotationRow]:
    """InternVL's repeat_time: < 1 keeps a random share (seeded), > 1 repeats, fractions sampled."""
    whole, fraction = int(repeat_time), repeat_time - int(repeat_time)
    out = rows * whole
    if fraction > 0:
        keep = sorted(random.Random(seed).sample(range(len(rows)), int(round(len(rows) * fraction))))
        out += [rows[i] for i in keep]
    return out


def load_meta(meta_path: str | Path, seed: int = 0) -> tuple[list[AnnotationRow], SkipLog, dict[str, int]]:
    """All rows of all datasets (repeat_time applied), what was skipped while reading, and rows per dataset."""
    meta_path = Path(meta_path)
    if not meta_path.is_file():
        raise ConfigError(f"{meta_path}: no such meta JSON")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{meta_path}: line {err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(meta, dict) or not meta:
        raise ConfigError(f"{meta_path}: expected {{name: {{root, annotation, repeat_time, length}}}}")
    rows, skips, sizes = [], SkipLog(), {}
    for name, entry in meta.items():
        if not isinstance(entry, dict) or "annotation" not in entry:
            raise ConfigError(f"{meta_path}: dataset {name!r} has no 'annotation'")
        annotation = str(entry["annotation"])
        if not Path(annotation).is_absolute() and not Path(annotation).exists():
            annotation = str(meta_path.parent / annotation)  # relative to the meta file
        root = str(entry.get("root", "") or "")
        if root and not Path(root).is_absolute() and not Path(root).exists():
            root = str(meta_path.parent / root)
        shards = _shards(annotation)
        missing = [s for s in shards if not s.is_file()]
        if not shards or missing:
            raise ConfigError(f"{meta_path}: dataset {name!r}: annotation {missing[0] if missing else annotation} not found")
        dataset_rows = [r for shard in shards for r in read_jsonl(shard, name, root, entry.get("max_dynamic_patch"), skips)]
        dataset_rows = _repeat(dataset_rows, float(entry.get("repeat_time", 1)), seed)
        sizes[name] = len(dataset_rows)
        rows += dataset_rows
    return rows, skips, sizes


def write_meta(path: str | Path, datasets: dict[str, dict]) -> Path:
    """Write a meta JSON (a convenience for tests and small experiments)."""
    path = Path(path)
    path.write_text(json.dumps(datasets, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> Path:
    path = Path(path)
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
