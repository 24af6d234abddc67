"""Build ChemOCR- and MMChemBench-style sets from molecules: rendered images plus items.jsonl.

The molecules must be held out of training (the data engine decontaminates by InChIKey); `draw` may be a
styled renderer from the data engine, default RDKit's plain drawing.
"""

from __future__ import annotations

import csv
import gzip
import random
from pathlib import Path
from typing import Callable

from chemvlm.bench.benchmarks import chemocr_prompt
from chemvlm.bench.items import BenchFileError, BenchItem, write_items
from chemvlm.chem import draw_molecule, parse_smiles
from chemvlm.chem.properties import properties

Draw = Callable[[str], bytes]  # SMILES -> PNG bytes
LETTERS = "ABCD"

# RDKit computes the truth of each property question; (English, Chinese) wording.
PROPERTY_QUESTIONS = {
    "formula": ("What is the molecular formula of the molecule in the image?", "图中分子的分子式是什么？"),
    "weight": ("What is the molecular weight of the molecule in the image, in g/mol?", "图中分子的分子量是多少（g/mol）？"),
    "rings": ("How many rings does the molecule in the image have?", "图中分子含有几个环？"),
    "hbd": ("How many hydrogen-bond donors does the molecule in the image have?", "图中分子有几个氢键供体？"),
}


def _draw(smiles: str) -> bytes:
    return draw_molecule(smiles, size=(448, 448))


def _image(out: Path, name: str, smiles: str, draw: Draw | None) -> str:
    path = out / "images" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((draw or _draw)(smiles))
    return str(path)


def _question(stem: str, options: list[str], language: str) -> str:
    tail = "请回答选项字母。" if language == "zh" else "Answer with the option's letter."
    return stem + "\n" + "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options)) + "\n" + tail


def _choice(truth: str, distractors: list[str], rng: random.Random) -> tuple[list[str], str]:
    options = [truth] + distractors[:3]
    rng.shuffle(options)
    return options, LETTERS[options.index(truth)]


def chemocr_set(smiles: list[str], out: str | Path, draw: Draw | None = None) -> list[BenchItem]:
    """One image per valid SMILES, the paper's prompts alternating zh/en; writes OUT/items.jsonl."""
    out = Path(out)
    items = []
    for smi in (s for s in smiles if parse_smiles(s) is not None):
        name = f"ocr-{len(items):05d}"
        prompt, language = chemocr_prompt(len(items))
        items.append(BenchItem(id=name, question=prompt, answer=smi, kind="smiles",
                               images=[_image(out, name, smi, draw)], subset="synthetic", language=language))
    write_items(out / "items.jsonl", items)
    return items


def styled_chemocr_set(rows_file: str | Path, out: str | Path, limit: int | None = None,
                       augment: float | None = None) -> list[BenchItem]:
    """ChemOCR-style items from a data build's hold-out rows (`holdout_rows.jsonl`): each molecule drawn in
    its row's style family and seed (degraded unless `augment=0`), the truth being the label of what is drawn
    (abbreviations expanded, stereo only when drawn). The molecules never reach training (InChIKey split)."""
    from dataclasses import replace

    from chemvlm.data.rows import Row, render_row
    from chemvlm.jsonl import iter_jsonl

    out = Path(out)
    if not Path(rows_file).is_file():
        raise BenchFileError(f"{rows_file}: no such file")
    items = []
    for _, data in iter_jsonl(rows_file, error=BenchFileError):
        row = Row.from_dict(data)
        if ">" in row.smiles:  # a reaction row: ChemOCR reads single molecules
            continue
        row = replace(row, task="ocr", augment=row.augment if augment is None else augment)
        image, sample = render_row(row)
        name = f"ocr-{len(items):05d}"
        path = out / "images" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
        prompt, language = chemocr_prompt(len(items))
        items.append(BenchItem(id=name, question=prompt, answer=sample["meta"]["label"], kind="smiles",
                               images=[str(path)], subset=row.family, language=language))
        if limit and len(items) >= limit:
            break
    write_items(out / "items.jsonl", items)
    return items


def _numeric_distractors(value: float, rng: random.Random, integer: bool) -> list[str]:
    if integer:
        pool = [int(value) + d for d in (-3, -2, -1, 1, 2, 3) if int(value) + d >= 0]
        return [str(v) for v in rng.sample(pool, 3)]
    factors = rng.sample([0.7, 0.8, 0.9, 1.1, 1.2, 1.3], 3)
    return [f"{value * f:.2f}" for f in factors]


def property_set(smiles: list[str], out: str | Path, seed: int = 0, draw: Draw | None = None) -> list[BenchItem]:
    """Four-option questions on properties RDKit computes (formula, weight, rings, H-bond donors)."""
    out, rng = Path(out), random.Random(seed)
    mols = [(s, parse_smiles(s)) for s in smiles]
    facts = [(s, properties(m)) for s, m in mols if m is not None]
    formulas = sorted({p.formula for _, p in facts})
    items = []
    for n, (smi, props) in enumerate(facts):
        kind = list(PROPERTY_QUESTIONS)[n % len(PROPERTY_QUESTIONS)]
        if kind == "formula":
            others = [f for f in formulas if f != props.formula]
            if len(others) < 3:
                continue
            truth, distractors = props.formula, rng.sample(others, 3)
        elif kind == "weight":
            truth, distractors = f"{props.weight:.2f}", _numeric_distractors(props.weight, rng, integer=False)
        else:
            value = getattr(props, kind)
            truth, distractors = str(value), _numeric_distractors(value, rng, integer=True)
        options, letter = _choice(truth, distractors, rng)
        language = "zh" if len(items) % 2 == 0 else "en"
        stem = PROPERTY_QUESTIONS[kind][1 if language == "zh" else 0]
        name = f"prop-{len(items):05d}"
        items.append(BenchItem(id=name, question=_question(stem, options, language), answer=letter, kind="choice",
                               images=[_image(out, name, smi, draw)], subset=kind, language=language))
    write_items(out / "items.jsonl", items)
    return items


def caption_set(descriptions: str | Path, out: str | Path, limit: int = 100, seed: int = 0,
                draw: Draw | None = None) -> list[BenchItem]:
    """Four-option caption questions from ChEBI-20 descriptions (`smiles,…,description` CSV, gzip or not):
    the molecule's first sentence against three other molecules' first sentences."""
    path, out, rng = Path(descriptions), Path(out), random.Random(seed)
    if not path.is_file():
        raise BenchFileError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        rows = [(r["smiles"], r["description"].split(". ")[0].rstrip(".") + ".") for r in csv.DictReader(handle)]
    rows = [(s, d) for s, d in rows if parse_smiles(s) is not None]
    sentences = sorted({d for _, d in rows})
    items = []
    for smi, truth in rng.sample(rows, min(limit, len(rows))):
        options, letter = _choice(truth, rng.sample([d for d in sentences if d != truth], 3), rng)
        name = f"caption-{len(items):05d}"
        items.append(BenchItem(id=name, question=_question("Which description fits the molecule in the image?",
                                                             options, "en"),
                               answer=letter, kind="choice", images=[_image(out, name, smi, draw)],
                               subset="caption", language="en"))
    write_items(out / "items.jsonl", items)
    return items
