"""Rows drawn while training: molecules -> traced drawings with patch labels, an OCR question and its SMILES.

The small-model recipe (configs/train/mini.yaml) trains on these instead of a built data set. Molecules are
filtered, deduplicated and decontaminated by the data engine and split by InChIKey skeleton (cached in the run
folder as molecules.json). Row i is the (i mod B)-th picture of optimizer step i // B: the step's seed picks
its molecules, then their drawing seeds, then their questions, so a run draws the same pictures whatever its
data-loader workers, and a resumed run draws exactly those it would have drawn.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from chemvlm.data.decontam import Decontaminator, read_keys
from chemvlm.data.filters import Deduplicator, MoleculeFilter
from chemvlm.data.patches import draw_traced
from chemvlm.data.sources import SourceReport, read_file
from chemvlm.data.split import skeleton_key, split_of
from chemvlm.data.tasks import templates
from chemvlm.model.tokenizer import build_tokenizer
from chemvlm.train.config import ConfigError, DrawnData


def questions() -> list[str]:
    """The OCR questions of both languages, in a fixed order."""
    return [q for lang in ("en", "zh") for q in templates(lang)["ocr"]["questions"]]


def split_molecules(data: DrawnData, cache: Path | None = None) -> dict:
    """{"train": [...], "holdout": [...], "report": {...}}: canonical SMILES with <= max_heavy heavy atoms."""
    settings = {"sources": [Path(s).name for s in data.molecules], "max_heavy": data.max_heavy, "holdout": data.holdout}
    if cache is not None and cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("settings", settings) == settings:  # lists made by other settings are made again
            return cached
    for source in data.molecules:
        if not Path(source).is_file():
            raise ConfigError(f"{source}: no such molecule file")
    keep = MoleculeFilter(min_heavy=2, max_heavy=data.max_heavy, max_fragments=1)
    clean, seen = Decontaminator(read_keys()), Deduplicator()
    sides: dict[str, list[str]] = {"train": [], "holdout": []}
    report, rejected = SourceReport(), 0
    for source in data.molecules:
        for entry in read_file(source, report):
            if entry.smiles.count(">") == 2:
                continue  # reactions are not molecules
            smiles, _ = keep.apply(entry.smiles)
            if smiles is None:
                rejected += 1
            elif seen.first(smiles) and clean.is_clean(smiles):
                sides[split_of(skeleton_key(smiles), data.holdout)].append(smiles)
    result = {**sides, "settings": settings,
              "report": {"read": report.read, "bad_rows": report.bad_count, "filtered_out": rejected,
                         "decontaminated": clean.removed, "train": len(sides["train"]), "holdout": len(sides["holdout"])}}
    if not sides["train"] or not sides["holdout"]:
        raise ConfigError(f"{', '.join(data.molecules)}: too few molecules with <= {data.max_heavy} heavy atoms ({result['report']})")
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(result))
    return result


def smiles_tokenizer(smiles: list[str], system_message: str, vocab_size: int):
    """SMILES-aware BPE trained on the question and answer templates of both languages and on SMILES."""
    corpus = []
    for lang in ("en", "zh"):
        for task in templates(lang).values():
            if isinstance(task, dict):
                corpus += [str(t) for key in ("questions", "answers") for t in task.get(key, [])]
    corpus += [system_message] + smiles
    return build_tokenizer(corpus, system_message, vocab_size=vocab_size, smiles_aware=True)


class TracedPictures:
    """`render(i) -> (image, sample)` for train.data.LazyRows: row i of a run drawing `per_step` pictures a step."""

    def __init__(self, molecules: list[str], data: DrawnData, seed: int, per_step: int, tile: int, patch: int):
        self.molecules, self.data, self.seed, self.per_step = molecules, data, seed, per_step
        self.tile, self.patch = tile, patch
        self.questions = questions()

    def plan(self, index: int) -> tuple[str, int, str]:
        """(SMILES, drawing seed, question) of row `index`."""
        step, k = divmod(index, self.per_step)
        rng = random.Random(f"{self.seed}:{step}")
        picks = [rng.randrange(len(self.molecules)) for _ in range(self.per_step)]
        seeds = [rng.getrandbits(64) for _ in range(self.per_step)]
        asked = [rng.randrange(len(self.questions)) for _ in range(self.per_step)]
        return self.molecules[picks[k]], seeds[k], self.questions[asked[k]]

    def __call__(self, index: int):
        smiles, seed, question = self.plan(index)
        drawing = draw_traced(smiles, random.Random(seed), self.tile, self.patch, hand=self.data.hand,
                              degrade_strength=self.data.degrade)
        return drawing.image, traced_sample(f"drawn-{index}", question, drawing)


def traced_sample(sample_id: str, question: str, drawing) -> dict:
    return {"id": sample_id, "patch_classes": drawing.patches,
            "conversations": [{"from": "human", "value": "<image>\n" + question},
                              {"from": "gpt", "value": drawing.target}]}


def encode_traced(encoder, sample_id: str, question: str, drawing):
    """A drawing's training sample (train.encode.Sample): picture, question, traced SMILES, patch classes."""
    import torch

    sample = encoder.encode(sample_id, traced_sample(sample_id, question, drawing)["conversations"], [drawing.image], 1)
    sample.patch_classes = torch.as_tensor(drawing.patches)
    return sample


def holdout_drawings(holdout: list[str], seed: int, tile: int, patch: int) -> list:
    """Clean drawings of the hold-out molecules, the same for every evaluation of a run."""
    rng = random.Random(f"holdout:{seed}")
    return [draw_traced(s, random.Random(rng.getrandbits(64)), tile, patch, plain=True) for s in holdout]


def real_rows(folders: list[str], holdout: float, cache: Path | None = None) -> dict:
    """{"train": [...], "holdout": [...], "report": {...}} of real drawings whose MOL file fits the picture and
    gives its reference SMILES (data.graphs.molfile_graph), decontaminated and split by skeleton like the
    molecules. Drawings with a superatom label chem.graph cannot expand are kept unverified (their atoms
    and bonds still train the head; the label's class is "other"). Each row: image path, MOL file, reference
    SMILES, atom positions. Fitting takes ~0.15 s a drawing: cached."""
    import csv

    import numpy as np
    from PIL import Image

    from chemvlm.chem.graph import GraphError
    from chemvlm.data.graphs import molfile_graph

    settings = {"real": [Path(f).name for f in folders], "holdout": holdout}
    if cache is not None and cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("settings") == settings:
            return cached
    clean = Decontaminator(read_keys())
    sides: dict[str, list] = {"train": [], "holdout": []}
    report = {"read": 0, "not_fitted": 0, "not_verified": 0, "unexpandable_labels": 0, "decontaminated": 0,
              "unreadable": 0}
    for folder in folders:
        labels = Path(folder) / "labels.csv"
        if not labels.is_file():
            raise ConfigError(f"{labels}: no such file (a real drawing folder holds labels.csv)")
        with labels.open(newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                if not row.get("ref_molfile"):
                    continue
                report["read"] += 1
                try:
                    with Image.open(Path(folder) / row["file"]) as image:
                        graph, smiles = molfile_graph(image, Path(folder) / row["ref_molfile"])
                except GraphError:
                    report["not_fitted"] += 1
                    continue
                except (OSError, ValueError) as err:  # one unreadable drawing or file costs only its row
                    report["unreadable"] += 1
                    examples = report.setdefault("unreadable_examples", [])
                    if len(examples) < 5:
                        examples.append(f"{labels}:{line}: {err}"[:200])
                    continue
                if smiles is None:
                    report["unexpandable_labels"] += 1
                elif smiles != row["smiles"]:
                    report["not_verified"] += 1
                    continue
                if not clean.is_clean(row["smiles"]):
                    report["decontaminated"] += 1
                    continue
                entry = {"image": str(Path(folder) / row["file"]), "smiles": row["smiles"],
                         "points": np.round(graph.points, 1).tolist(), "molfile": str(Path(folder) / row["ref_molfile"])}
                sides[split_of(skeleton_key(row["smiles"]), holdout)].append(entry)
    result = {**sides, "settings": settings, "report": {**report, "train": len(sides["train"]), "holdout": len(sides["holdout"])}}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(result))
    return result


class GraphPictures:
    """`render(i) -> (image, sample)` for the graph loss: a share `real_share` of each step's pictures are real
    drawings (rescaled, lightly degraded), the rest drawn by data.graphs.draw_graph; each row carries the graph
    head's targets and its tile (the ink view at `graph_size`). The answer is the drawing's SMILES."""

    def __init__(self, molecules: list[str], real: list[dict], data: DrawnData, seed: int, per_step: int, processor,
                 patch: int):
        self.molecules, self.real, self.data, self.seed, self.per_step = molecules, real, data, seed, per_step
        self.patch = patch
        self.processor = processor.single_ink_tile(data.graph_size)
        self.questions = questions()

    def plan(self, index: int) -> tuple[dict | str, int, str]:
        step, k = divmod(index, self.per_step)
        rng = random.Random(f"graph:{self.seed}:{step}")
        real = [self.real and rng.random() < self.data.real_share for _ in range(self.per_step)]
        picks = [rng.randrange(len(self.real) if r else len(self.molecules)) for r in real]
        seeds = [rng.getrandbits(64) for _ in range(self.per_step)]
        asked = [rng.randrange(len(self.questions)) for _ in range(self.per_step)]
        item = self.real[picks[k]] if real[k] else self.molecules[picks[k]]
        return item, seeds[k], self.questions[asked[k]]

    def __call__(self, index: int):
        item, seed, question = self.plan(index)
        image, graph, smiles = graph_picture(item, random.Random(seed), self.data)
        return image, graph_sample(f"graph-{index}", question, image, graph, smiles, self.processor, self.patch)


def graph_picture(item, rng: random.Random, data: DrawnData):
    """(image, graph in image pixels, SMILES) of a molecule (drawn) or a real drawing (read, augmented)."""
    from PIL import Image

    from chemvlm.data.degrade import degrade
    from chemvlm.data.graphs import draw_graph, fitted_graph

    if isinstance(item, str):
        return draw_graph(item, rng, data.graph_size, data.degrade)
    with Image.open(item["image"]) as opened:
        image = opened.convert("L")
    graph, smiles = fitted_graph(item["molfile"], item["points"]), item["smiles"]
    scale = rng.uniform(0.6, 1.2)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS)
    graph.points = graph.points * scale
    if data.degrade:
        image, _ = degrade(image, rng, data.degrade * 0.5, steps=None)
    return image, graph, smiles


def graph_sample(sample_id: str, question: str, image, graph, smiles: str, processor, patch: int) -> dict:
    from chemvlm.data.graphs import placed
    from chemvlm.model.graph_head import targets

    size = processor.tile_size
    tile_graph = placed(graph, image.width, image.height, size)
    found = targets(tile_graph, size, patch)
    found["pixels"] = processor.preprocess([image])[0]
    return {"id": sample_id, "graph": found,
            "conversations": [{"from": "human", "value": "<image>\n" + question}, {"from": "gpt", "value": smiles}]}


def graph_holdout(molecules: list[str], real: list[dict], data: DrawnData, seed: int) -> dict[str, list]:
    """The graph head's fixed checks: {"drawn": [(image, SMILES, graph)], "real": [...]}, drawn ones in the
    training looks but clean, real ones as they are; each graph in its image's pixels."""
    from dataclasses import replace as with_

    from PIL import Image

    from chemvlm.data.graphs import draw_graph, fitted_graph

    rng = random.Random(f"graph-holdout:{seed}")
    clean = with_(data, degrade=0.0)
    drawn = [draw_graph(s, random.Random(rng.getrandbits(64)), clean.graph_size, 0.0) for s in molecules]
    real_items = []
    for item in real:
        with Image.open(item["image"]) as image:
            image = image.convert("L")
        real_items.append((image, item["smiles"], fitted_graph(item["molfile"], item["points"])))
    return {"drawn": [(image, smiles, graph) for image, graph, smiles in drawn], "real": real_items}
