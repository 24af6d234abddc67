"""Lazy rows: (molecule or reaction, task, language, style family, seed) → an InternVL sample on demand.

A row is a few hundred bytes of JSON; `render_row` turns it into an image and a conversation, always the
same for the same row. A training dataset can keep only rows and a corpus and render in its workers
(skip PNG encoding there: `render_row` returns a PIL image).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from PIL import Image

from chemvlm.data.degrade import degrade
from chemvlm.data.reaction import render_reaction
from chemvlm.data.render import render, sample_style
from chemvlm.data.tasks import REACTION_TASKS, molecule_qa, reaction_qa


@dataclass(frozen=True)
class Row:
    """One line of rows.jsonl: what to render, not yet an image (rendered, it is an InternVL sample)."""

    id: str
    smiles: str  # molecule SMILES or reaction SMILES
    task: str
    lang: str
    family: str
    seed: int
    augment: float = 1.0  # degradation strength, 0 = clean render
    size: int = 448
    name: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Row":
        return cls(**data)


def render_row(row: Row) -> tuple[Image.Image, dict]:
    """(image, InternVL sample without the image path). `sample["meta"]` records the label, style and
    degradation steps, for dataset cards and for checking labels."""
    rng = random.Random(row.seed)
    style = sample_style(rng, row.family, row.size)
    if row.task in REACTION_TASKS:
        image, label = render_reaction(row.smiles, style)
        question, answer = reaction_qa(row.task, label, row.lang, rng)
        abbreviations = ()
    else:
        drawn = render(row.smiles, style)
        image, label, abbreviations = drawn.image, drawn.label, drawn.abbreviations
        question, answer = molecule_qa(row.task, label, row.lang, rng, name=row.name)
    image, steps = degrade(image, rng, row.augment) if row.augment > 0 else (image, [])
    sample = {
        "id": row.id,
        "conversations": [
            {"from": "human", "value": "<image>\n" + question},
            {"from": "gpt", "value": answer},
        ],
        "meta": {"task": row.task, "lang": row.lang, "family": row.family, "label": label,
                 "abbreviations": list(abbreviations), "degradations": steps},
    }
    return image, sample
